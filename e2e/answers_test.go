package e2e

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tokengate/tokengate/introspection/introspectiontest"
)

// TestIntrospectionAnswers: answers the contract calls errors are a 503
// through the binary (a redirect is not followed, a body over 1 MiB, a
// registered claim of the wrong type, a 4xx), and none of them opens the
// circuit breaker; 5xx answers do, after which a miss is 503 without a call
// while a cached token still passes, and the breaker's state is a metric.
func TestIntrospectionAnswers(t *testing.T) {
	t.Parallel()
	as, p := serveAcme(t, cfg{})
	// A redirect target that would allow, were the redirect followed.
	elsewhere := httptest.NewServer(introspectiontest.ReplyClaims(goodClaims(nil)))
	t.Cleanup(elsewhere.Close)
	as.Handle("redirect", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, elsewhere.URL+"/oauth2/introspect", http.StatusTemporaryRedirect)
	})
	as.Raw("huge", 200, `{"active":true,"pad":"`+strings.Repeat("x", 1<<20)+`"}`)
	as.Claims("exp-string", goodClaims(map[string]any{"exp": "tomorrow"}))
	as.Claims("aud-numbers", goodClaims(map[string]any{"aud": []int{1}}))
	as.Claims("scp-string", goodClaims(map[string]any{"scope": nil, "scp": "orders.read"}))
	as.Raw("as-401", 401, `{"error":"invalid_client"}`)
	as.Raw("as-404", 404, "not here")
	as.Claims("good", goodClaims(nil))
	as.Claims("later", goodClaims(nil))

	for _, tok := range []string{"redirect", "huge", "exp-string", "aud-numbers", "scp-string", "as-401", "as-404"} {
		if a := p.check(t, req{auth: bearer(tok)}); a.status != 503 || a.body["error"] != "temporarily_unavailable" {
			t.Errorf("%s: %d %v, want 503 temporarily_unavailable", tok, a.status, a.body)
		}
	}
	// Seven errors about single tokens, more than consecutive_failures (5):
	// the breaker is still closed, and a new token is introspected.
	if st := p.metric(t, "tokengate_circuit_breaker_state", map[string]string{"tenant": "acme"}); st != 0 {
		t.Errorf("breaker state %v after answers about single tokens, want 0 (closed)", st)
	}
	if a := p.check(t, req{auth: bearer("good")}); !a.allow {
		t.Fatalf("good after the errors: %d %v", a.status, a.body)
	}
	if n := p.metric(t, "tokengate_introspection_requests_total", map[string]string{"tenant": "acme", "outcome": "error"}); n < 7 {
		t.Errorf("introspection_requests_total{outcome=error} = %v, want >= 7", n)
	}

	// Five 5xx answers in a row open it.
	as.SetFault(introspectiontest.Fault{Status: 500})
	for i := range 5 {
		if a := p.check(t, req{auth: bearer(fmt.Sprintf("down-%d", i))}); a.status != 503 {
			t.Fatalf("during the outage: %d, want 503", a.status)
		}
	}
	if st := p.metric(t, "tokengate_circuit_breaker_state", map[string]string{"tenant": "acme"}); st != 2 {
		t.Fatalf("breaker state %v after 5 failures, want 2 (open)", st)
	}
	before := as.Total()
	if a := p.check(t, req{auth: bearer("later")}); a.status != 503 {
		t.Errorf("a miss with the breaker open: %d, want 503", a.status)
	}
	if as.Total() != before {
		t.Error("a miss with the breaker open reached the authorization server")
	}
	if a := p.check(t, req{auth: bearer("good")}); !a.allow {
		t.Errorf("a cached token with the breaker open: %d %v, want an allow", a.status, a.body)
	}
}
