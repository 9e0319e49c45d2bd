package testsupport

import "net/http"

// DiscardWriter is a reusable http.ResponseWriter that keeps the header map
// and the status and drops the body: what a handler allocates, without a
// recorder's allocations. Clear Header (and Code) between uses.
type DiscardWriter struct {
	H    http.Header
	Code int
}

// NewDiscardWriter is a DiscardWriter with an empty header map.
func NewDiscardWriter() *DiscardWriter { return &DiscardWriter{H: http.Header{}} }

// Header is the header map.
func (w *DiscardWriter) Header() http.Header { return w.H }

// Write drops p.
func (w *DiscardWriter) Write(p []byte) (int, error) { return len(p), nil }

// WriteHeader keeps code.
func (w *DiscardWriter) WriteHeader(code int) { w.Code = code }
