package httpauthz

import (
	"log/slog"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/tokengate/tokengate/extauthz/check"
	"github.com/tokengate/tokengate/extauthz/claimheaders"
	"github.com/tokengate/tokengate/extauthz/decision"
	"github.com/tokengate/tokengate/extauthz/dpop/dpoptest"
	"github.com/tokengate/tokengate/extauthz/routing"
	"github.com/tokengate/tokengate/introspection"
	"github.com/tokengate/tokengate/introspection/introspectiontest"
	"github.com/tokengate/tokengate/testsupport"
	"github.com/tokengate/tokengate/testsupport/sendertest"
)

// TestRequestReadsSenderConstraintInputs: DPoP headers as they came, the
// scheme from X-Forwarded-Proto with the x-forwarded family only, and the
// headers for a tenant's certificate_header.
func TestRequestReadsSenderConstraintInputs(t *testing.T) {
	type sent struct {
		family string
		add    [][2]string // request headers
		dpop   []string    // want
		scheme string      // want
	}
	tests := []sent{
		{ForwardedXForwarded, [][2]string{{"DPoP", "p"}, {"X-Forwarded-Proto", "http"}}, []string{"p"}, "http"},
		{ForwardedXForwarded, [][2]string{{"dpop", "a"}, {"DPOP", "b"}}, []string{"a", "b"}, ""},
		{ForwardedXForwarded, [][2]string{{"X-Forwarded-Proto", "https"}, {"x-forwarded-proto", "http"}}, nil, "https,http"},
		{ForwardedXOriginal, [][2]string{{"X-Forwarded-Proto", "http"}}, nil, ""},
		{ForwardedNone, [][2]string{{"X-Forwarded-Proto", "http"}, {"DPoP", ""}}, []string{""}, ""},
	}
	for _, tt := range tests {
		r := request("/authz/orders", nil)
		for _, kv := range tt.add {
			r.Header.Add(kv[0], kv[1])
		}
		got := New(nil, Options{ForwardedHeaders: tt.family}).Request(r)
		if !reflect.DeepEqual(got.DPoP, tt.dpop) || got.Scheme != tt.scheme || !reflect.DeepEqual(got.Headers, map[string][]string(r.Header)) {
			t.Errorf("%s %v: DPoP %q scheme %q", tt.family, tt.add, got.DPoP, got.Scheme)
		}
	}
}

// TestHTTPModeSenderConstraints: DPoP and a certificate from the tenant's
// certificate_header, through the same decisions as gRPC.
func TestHTTPModeSenderConstraints(t *testing.T) {
	key := dpoptest.NewKey(t, "ES256")
	ca := testsupport.NewCA(t, "http mode CA")
	pair := ca.KeyPair(t, 2, "client", false)
	cert, other := sendertest.EnvoyCertificate(pair), sendertest.EnvoyCertificate(ca.KeyPair(t, 3, "other", false))
	as := introspectiontest.NewIntrospector()
	for token, cnf := range map[string]string{"dpop-tok": `{"jkt":"` + key.Thumbprint() + `"}`, "cert-tok": `{"x5t#S256":"` + sendertest.X5T(pair) + `"}`} {
		c, err := introspection.ParseClaims([]byte(`{"active":true,"cnf":` + cnf + `}`))
		if err != nil {
			t.Fatal(err)
		}
		as.Answer(token, introspection.Result{Claims: c})
	}
	tenant := &check.Tenant{Name: "acme", Introspector: as, CertificateHeader: "X-Client-Cert",
		Headers: claimheaders.New(claimheaders.Options{StripAuthorization: true})}
	snap := check.NewSnapshot([]check.Route{{Rule: routing.Rule{Name: "orders", PathPrefix: "/orders"}, Tenant: tenant, Policy: decision.Policy{Realm: "acme"}}})
	h := New(check.New(snap, check.Options{Logger: slog.New(slog.DiscardHandler)}), Options{})
	do := func(headers ...string) *httptest.ResponseRecorder {
		r := request("/authz", nil)
		r.Host = "tokengate.internal"
		for i := 0; i+1 < len(headers); i += 2 {
			r.Header.Add(headers[i], headers[i+1])
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	fwd := func(more ...string) []string {
		return append([]string{"X-Forwarded-Method", "GET", "X-Forwarded-Host", "api.example", "X-Forwarded-Uri", "/orders/1?x=y"}, more...)
	}
	if w := do(fwd("Authorization", "DPoP dpop-tok", "DPoP", key.Proof(t, "GET", "https://api.example/orders/1", "dpop-tok"))...); w.Code != 200 ||
		w.Header().Get(HeadersToRemove) != "authorization,dpop" {
		t.Fatalf("DPoP allow: %d %q %q", w.Code, w.Header().Get(HeadersToRemove), w.Body)
	}
	if w := do(fwd("Authorization", "DPoP dpop-tok", "X-Forwarded-Proto", "http", "DPoP", key.Proof(t, "GET", "http://api.example/orders/1", "dpop-tok"))...); w.Code != 200 {
		t.Fatalf("X-Forwarded-Proto http: %d %q", w.Code, w.Body)
	}
	w := do(fwd("Authorization", "DPoP dpop-tok", "DPoP", key.Proof(t, "GET", "http://api.example/orders/1", "dpop-tok"))...)
	if w.Code != 401 || !strings.HasPrefix(w.Header().Get("WWW-Authenticate"), `DPoP realm="acme", error="invalid_dpop_proof", error_description="DPoP proof htu does not match the request"`) {
		t.Fatalf("htu of another scheme: %d %q", w.Code, w.Header().Get("WWW-Authenticate"))
	}
	if w := do(fwd("Authorization", "Bearer cert-tok", "X-Client-Cert", cert)...); w.Code != 200 {
		t.Fatalf("certificate header: %d %q", w.Code, w.Body)
	}
	for name, hdrs := range map[string][]string{
		"another certificate":   fwd("Authorization", "Bearer cert-tok", "X-Client-Cert", other),
		"no certificate":        fwd("Authorization", "Bearer cert-tok"),
		"certificate twice":     fwd("Authorization", "Bearer cert-tok", "X-Client-Cert", cert, "x-client-cert", cert),
		"another header's cert": fwd("Authorization", "Bearer cert-tok", "X-Ssl-Cert", cert),
	} {
		w := do(hdrs...)
		if w.Code != 401 || !strings.Contains(w.Body.String(), `"error":"invalid_token"`) ||
			!strings.HasPrefix(w.Header().Get("WWW-Authenticate"), `Bearer realm="acme", error="invalid_token"`) {
			t.Errorf("%s: %d %q %q", name, w.Code, w.Header().Get("WWW-Authenticate"), w.Body)
		}
	}
}
