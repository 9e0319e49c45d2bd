// Package jwkstest holds test fakes for JWT verification: Server, an
// authorization server's JWKS endpoint and metadata documents that counts
// every request by path; SignRaw, which signs a JWS over exactly the
// header and payload bytes it is given (duplicate keys, odd headers and
// all), which no JOSE library will produce; and the test binary's keys.
//
// Every method of Server, and every key function, is safe for concurrent
// use, including while requests are being answered. The keys are shared
// by every caller: never modify them.
package jwkstest

import (
	"crypto"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

// JWKSPath is where a Server serves its key set.
const JWKSPath = "/jwks"

type document struct {
	status int // 0: 200
	body   string
}

// Server serves a JWKS at JWKSPath and any document set with SetDocument;
// other paths are 404. Each request is counted under its path, whether
// served or not.
type Server struct {
	*httptest.Server

	mu   sync.Mutex
	docs map[string]document
	hits map[string]int
}

// NewServer starts a Server with keys (public halves are served) and
// closes it when the test ends.
func NewServer(t testing.TB, keys ...jose.JSONWebKey) *Server {
	t.Helper()
	s := &Server{docs: map[string]document{}, hits: map[string]int{}}
	s.SetKeys(t, keys...)
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.hits[r.URL.Path]++
	d, ok := s.docs[r.URL.Path]
	s.mu.Unlock()
	if !ok || r.Method != http.MethodGet {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if d.status != 0 {
		w.WriteHeader(d.status)
	}
	_, _ = fmt.Fprint(w, d.body)
}

// JWKSURL is the URL of the key set.
func (s *Server) JWKSURL() string { return s.URL + JWKSPath }

// SetKeys serves the public halves of keys as the key set.
func (s *Server) SetKeys(t testing.TB, keys ...jose.JSONWebKey) {
	t.Helper()
	set := jose.JSONWebKeySet{Keys: make([]jose.JSONWebKey, len(keys))}
	for i, k := range keys {
		set.Keys[i] = k.Public()
		if !k.Valid() || set.Keys[i].Key == nil {
			set.Keys[i] = k // symmetric or deliberately broken: as given
		}
	}
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	s.SetDocument(JWKSPath, 0, string(b))
}

// SetDocument serves body with status (0: 200) at path.
func (s *Server) SetDocument(path string, status int, body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.docs[path] = document{status: status, body: body}
}

// Hits is how many requests arrived for path.
func (s *Server) Hits(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits[path]
}

// Total is how many requests arrived, all paths together.
func (s *Server) Total() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, h := range s.hits {
		n += h
	}
	return n
}

// Metadata is an RFC 8414 / OpenID metadata document naming issuer and
// jwksURI.
func Metadata(issuer, jwksURI string) string {
	b, _ := json.Marshal(map[string]string{"issuer": issuer, "jwks_uri": jwksURI}) // strings always marshal
	return string(b)
}

// JWK is key's public half as a signing JWK with kid.
func JWK(key crypto.Signer, kid string) jose.JSONWebKey {
	return jose.JSONWebKey{Key: key.Public(), KeyID: kid, Use: "sig"}
}
