package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/tokengate/tokengate/introspection/introspectiontest"
)

// Client credentials tokengate uses at the fake authorization server, and
// what its tokens say.
const (
	asClientID     = "rs-bench"
	asClientSecret = "bench-secret"
	asIssuer       = "https://idp.bench.example"
	asAudience     = "api://orders"
	asPath         = "/oauth2/introspect"
)

// startAS starts the in-process RFC 7662 introspection endpoint, the tests'
// introspectiontest.Server: tokens starting with "good-" are active access
// tokens for the orders API, every other token is inactive. Each call
// sleeps delay so that concurrent misses overlap. It counts calls per token
// and in total, the peak number in flight, and the calls refused for bad
// client credentials. tokengate asks it at URL + asPath; the caller closes
// it.
func startAS(delay time.Duration) *introspectiontest.Server {
	as := introspectiontest.NewServer()
	as.RequireBasicAuth(asClientID, asClientSecret)
	as.SetDelay(delay)
	as.HandleUnknown(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(answerFor(r.PostForm.Get("token"), time.Now())) // an error: the client went away
	})
	return as
}

// answerFor is the introspection response for token at now.
func answerFor(token string, now time.Time) map[string]any {
	if !strings.HasPrefix(token, "good-") {
		return map[string]any{"active": false}
	}
	return map[string]any{
		"active":     true,
		"sub":        "bench-user",
		"client_id":  "bench-client",
		"scope":      "orders.read",
		"aud":        asAudience,
		"iss":        asIssuer,
		"token_type": "Bearer",
		"iat":        now.Unix(),
		"exp":        now.Add(time.Hour).Unix(),
	}
}
