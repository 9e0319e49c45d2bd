// Package admin is tokengate's admin listener: POST /revoke, guarded by a
// bearer token. It only parses and answers: the revocation itself is the
// Revoker's (introspection/revocation).
//
// Concurrency: a Handler is safe for concurrent use if its Revoker is.
// Ownership: the Handler borrows the Revoker; it holds nothing to close.
package admin

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/tokengate/tokengate/introspection/revocation"
)

// Revoker evicts tokens (revocation.Revoker implements it).
type Revoker interface {
	Revoke(ctx context.Context, r revocation.Request) (int, error)
}

// Handler serves the admin API.
type Handler struct {
	tokenSum [32]byte
	revoker  Revoker
	log      *slog.Logger
	mux      *http.ServeMux
}

// maxBody bounds a request body.
const maxBody = 64 << 10

// MinTokenLength is the shortest admin token, in characters (the
// configuration refuses a shorter admin.token).
const MinTokenLength = 32

// New returns the admin handler. token is required in every call as
// Authorization: Bearer <token>; a token shorter than MinTokenLength
// (empty included) refuses every call.
func New(token string, revoker Revoker, logger *slog.Logger) *Handler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	h := &Handler{revoker: revoker, log: logger, mux: http.NewServeMux()}
	if utf8.RuneCountInString(token) >= MinTokenLength {
		h.tokenSum = sha256.Sum256([]byte(token))
	}
	h.mux.HandleFunc("POST /revoke", h.revoke)
	return h
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !h.authorized(r) {
		h.log.Warn("admin: unauthorized call", slog.String("path", r.URL.Path), slog.String("remote", r.RemoteAddr))
		w.Header().Set("WWW-Authenticate", `Bearer realm="tokengate-admin"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "unauthorized"})
		return
	}
	h.mux.ServeHTTP(w, r)
}

// authorized compares the presented token in constant time (over SHA-256
// digests, so the length does not leak either).
func (h *Handler) authorized(r *http.Request) bool {
	if h.tokenSum == ([32]byte{}) {
		return false
	}
	scheme, tok, ok := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	sum := sha256.Sum256([]byte(strings.TrimLeft(tok, " ")))
	return subtle.ConstantTimeCompare(sum[:], h.tokenSum[:]) == 1
}

func (h *Handler) revoke(w http.ResponseWriter, r *http.Request) {
	var req revocation.Request
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request", "error_description": "body must be a JSON object with token, token_id, or tenant and sub"})
		return
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request", "error_description": "one JSON object only"})
		return
	}
	n, err := h.revoker.Revoke(r.Context(), req)
	switch {
	case errors.Is(err, revocation.ErrInvalid):
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request", "error_description": err.Error()})
	case err != nil:
		// Evicted here, but other replicas may not know: the caller retries.
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"evicted": n, "error": "shared_cache_unavailable"})
	default:
		writeJSON(w, http.StatusOK, map[string]int{"evicted": n})
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
