package introspection

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
)

// StatusError is the error for an authorization server that answered with a
// status other than 200 (including a redirect, which is not followed). It
// wraps ErrIntrospection. Use errors.As to read the status:
//
//	var se *introspection.StatusError
//	if errors.As(err, &se) && se.StatusCode == http.StatusUnauthorized { ... }
type StatusError struct {
	Tenant     string
	StatusCode int
	// OAuthError is the response's RFC 6749 "error" code when the body was
	// a JSON object with a short, plain one; else "". Nothing else of the
	// body is kept: it could echo the token.
	OAuthError string
}

func (e *StatusError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %sauthorization server answered %d", ErrIntrospection, tenantPrefix(e.Tenant), e.StatusCode)
	if e.OAuthError != "" {
		fmt.Fprintf(&b, " (error %q)", e.OAuthError)
	}
	if e.StatusCode >= 300 && e.StatusCode < 400 {
		b.WriteString(" (redirects are not followed)")
	}
	return b.String()
}

// Unwrap makes errors.Is(err, ErrIntrospection) true.
func (e *StatusError) Unwrap() error { return ErrIntrospection }

// Is makes errors.Is(err, ErrServerUnavailable) true for 5xx and 429: the
// server says it is unwell or overloaded. Other statuses (a 4xx, a
// redirect) are answers about one request.
func (e *StatusError) Is(target error) bool {
	return target == ErrServerUnavailable && (e.StatusCode >= 500 || e.StatusCode == http.StatusTooManyRequests)
}

// ErrServerUnavailable marks the failures that are signs that the
// authorization server (or the way to it) is unwell, as opposed to an
// unusable answer about one token: the connection failed (refused, reset,
// closed before a complete response, DNS or TLS failure), no answer came in
// time, or the server answered 5xx or 429. These are the only failures a
// CircuitBreaker counts. Such errors also wrap ErrIntrospection; a timeout
// is recognized by context.DeadlineExceeded, which it wraps.
var ErrServerUnavailable = errors.New("authorization server unavailable")

// unavailableError marks its error with ErrServerUnavailable without
// changing its text.
type unavailableError struct{ error }

func (e unavailableError) Unwrap() []error { return []error{e.error, ErrServerUnavailable} }

// unavailable marks err (a transport failure) as ErrServerUnavailable.
func unavailable(err error) error { return unavailableError{err} }

// maxOAuthErrorLen bounds the quoted error code: real codes
// ("invalid_client") are short, anything longer is not a code.
const maxOAuthErrorLen = 64

// oauthErrorCode extracts the "error" member of a JSON error body, if it is
// safe to quote (see safeOAuthCode). token and the client's secret, plus any
// credential sent with the request (an access token or assertion), are never
// quoted, so a server echoing them cannot get them into our logs.
func (c *Client) oauthErrorCode(body []byte, token string, credentials ...string) string {
	var v struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(body, &v) != nil {
		return "" // not JSON, e.g. WSO2's {'error': 'Invalid input'}
	}
	return safeOAuthCode(v.Error, append([]string{token, c.secret}, credentials...)...)
}

// safeOAuthCode returns e if it looks like an RFC 6749 error code: a short
// string of [A-Za-z0-9_.-] that is not, and does not contain, any of
// secrets. Otherwise it returns "".
func safeOAuthCode(e string, secrets ...string) string {
	if e == "" || len(e) > maxOAuthErrorLen {
		return ""
	}
	for i := 0; i < len(e); i++ {
		if !isOAuthCodeChar(e[i]) {
			return ""
		}
	}
	for _, s := range secrets {
		// A code that contains a secret, or is a long piece of one, is not
		// quoted. Real codes are never 8+ character substrings of a token.
		if s != "" && (strings.Contains(e, s) || len(e) >= 8 && strings.Contains(s, e)) {
			return ""
		}
	}
	return e
}

// isOAuthCodeChar reports whether b is one of [A-Za-z0-9_.-].
func isOAuthCodeChar(b byte) bool {
	return 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' || b == '_' || b == '.' || b == '-'
}

// isConnectionFailure reports whether err is the connection breaking or
// being refused, as opposed to a timeout, a TLS verification failure or a
// malformed response, none of which a retry would fix.
func isConnectionFailure(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false
	}
	return errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.ECONNABORTED) ||
		errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF)
}

// describeTransportError turns a transport error into a short cause. It
// never returns the url.Error text (it quotes the URL) nor server-supplied
// bytes: net/http quotes pieces of a malformed response (status line,
// header line, Content-Length) in its errors, and those could echo the
// token. afterResponseByte says the server had started answering.
func describeTransportError(err error, afterResponseByte bool) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var certErr *tls.CertificateVerificationError
	var recordErr tls.RecordHeaderError
	var dnsErr *net.DNSError
	var opErr *net.OpError
	var ne net.Error
	switch {
	case errors.As(err, &certErr):
		return "TLS certificate verification failed: " + certErr.Err.Error()
	case errors.As(err, &recordErr):
		return "TLS handshake failed: server did not answer with TLS"
	case errors.As(err, &dnsErr):
		return "DNS lookup failed: " + dnsErr.Error()
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed before a complete response"
	case errors.As(err, &ne) && ne.Timeout():
		return "timed out"
	case afterResponseByte, strings.Contains(err.Error(), "malformed"):
		return "malformed HTTP response"
	case errors.As(err, &opErr):
		// e.g. "dial tcp 10.0.0.1:443: connect: no route to host"
		return opErr.Error()
	}
	msg := err.Error()
	if strings.ContainsAny(msg, "\"'`") {
		return "request failed" // a quoted value could come from the server
	}
	if len(msg) > 120 {
		msg = msg[:120] + "..."
	}
	return "request failed: " + msg
}
