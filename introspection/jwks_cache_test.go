package introspection_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/tokengate/tokengate/introspection"
	"github.com/tokengate/tokengate/introspection/jwkstest"
)

const (
	rfc8414Path = "/.well-known/oauth-authorization-server/realms/acme"
	openIDPath  = "/realms/acme/.well-known/openid-configuration"
)

func TestMetadataURLs(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		issuer string
		want   []string
	}{
		{"https://idp.example", []string{"https://idp.example/.well-known/oauth-authorization-server", "https://idp.example/.well-known/openid-configuration"}},
		{"https://idp.example/", []string{"https://idp.example/.well-known/oauth-authorization-server", "https://idp.example/.well-known/openid-configuration"}},
		{"https://idp.example:8443/realms/x", []string{"https://idp.example:8443/.well-known/oauth-authorization-server/realms/x", "https://idp.example:8443/realms/x/.well-known/openid-configuration"}},
		{"https://idp.example/tenant/v2.0/", []string{"https://idp.example/.well-known/oauth-authorization-server/tenant/v2.0", "https://idp.example/tenant/v2.0/.well-known/openid-configuration"}},
		{"https://idp.example/a?b=c", nil},
		{"https://idp.example/a#b", nil},
		{"https://user@idp.example", nil},
		{"idp.example", nil},
	} {
		if got := introspection.MetadataURLs(tc.issuer); !slices.Equal(got, tc.want) {
			t.Errorf("MetadataURLs(%q) = %q, want %q", tc.issuer, got, tc.want)
		}
	}
}

func TestNewJWKSRefuses(t *testing.T) {
	t.Parallel()
	for _, opts := range []introspection.JWKSOptions{
		{},
		{URL: "/jwks"},
		{URL: "ftp://idp.example/jwks"},
		{Issuer: "idp.example"},
		{URL: "https://idp.example/jwks", Timeout: -time.Second},
	} {
		if _, err := introspection.NewJWKS(opts); err == nil {
			t.Errorf("NewJWKS(%+v) accepted", opts)
		}
	}
}

// discoveryEnv is a JWKS server whose issuer is <server>/realms/acme, and
// a JWKS that discovers its keys, on a fake clock.
func discoveryEnv(t *testing.T) (*jwkstest.Server, *introspection.JWKS, *jwkstest.Clock) {
	t.Helper()
	srv := jwkstest.NewServer(t, pubJWK(rsaKey(), "rsa-1"))
	clock := jwkstest.NewClock()
	jwks, err := introspection.NewJWKS(introspection.JWKSOptions{Issuer: srv.URL + "/realms/acme", Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return srv, jwks, clock
}

// wantKey fails unless jwks finds the key rsa-1.
func wantKey(t *testing.T, jwks *introspection.JWKS) {
	t.Helper()
	if ks, err := jwks.Keys(t.Context(), "rsa-1", jose.RS256, false); err != nil || len(ks) != 1 {
		t.Fatalf("Keys: %d keys, %v", len(ks), err)
	}
}

func TestJWKSDiscovery(t *testing.T) {
	t.Parallel()
	t.Run("RFC 8414 first", func(t *testing.T) {
		t.Parallel()
		srv, jwks, _ := discoveryEnv(t)
		iss := srv.URL + "/realms/acme"
		srv.SetDocument(rfc8414Path, 0, jwkstest.Metadata(iss, srv.JWKSURL()))
		srv.SetDocument(openIDPath, 0, jwkstest.Metadata(iss, srv.URL+"/elsewhere"))
		wantKey(t, jwks)
		if srv.Hits(openIDPath) != 0 || srv.Hits(jwkstest.JWKSPath) != 1 {
			t.Errorf("hits: openid %d, jwks %d", srv.Hits(openIDPath), srv.Hits(jwkstest.JWKSPath))
		}
	})
	for name, rfc8414 := range map[string]func(iss, jwks string) (int, string){
		"OpenID when RFC 8414 is missing":      func(string, string) (int, string) { return 404, "" },
		"OpenID when RFC 8414 names another":   func(_, jwks string) (int, string) { return 0, jwkstest.Metadata("https://evil.example", jwks) },
		"OpenID when RFC 8414 has no jwks_uri": func(iss, _ string) (int, string) { return 0, `{"issuer":"` + iss + `"}` },
		"OpenID when RFC 8414 is not JSON":     func(string, string) (int, string) { return 0, "<html>" },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv, jwks, _ := discoveryEnv(t)
			iss := srv.URL + "/realms/acme"
			status, body := rfc8414(iss, srv.URL+"/not-this-one")
			srv.SetDocument(rfc8414Path, status, body)
			srv.SetDocument(openIDPath, 0, jwkstest.Metadata(iss, srv.JWKSURL()))
			wantKey(t, jwks)
			if srv.Hits(rfc8414Path) != 1 || srv.Hits(openIDPath) != 1 || srv.Hits("/not-this-one") != 0 {
				t.Errorf("hits: rfc8414 %d, openid %d", srv.Hits(rfc8414Path), srv.Hits(openIDPath))
			}
		})
	}
}

func TestJWKSDiscoveryFailsUnavailable(t *testing.T) {
	t.Parallel()
	srv, jwks, _ := discoveryEnv(t)
	srv.SetDocument(openIDPath, 0, jwkstest.Metadata("https://evil.example", srv.JWKSURL()))
	_, err := jwks.Keys(t.Context(), "rsa-1", jose.RS256, false)
	if !errors.Is(err, introspection.ErrJWKSUnavailable) || !strings.Contains(err.Error(), "metadata issuer") {
		t.Errorf("Keys: %v, want ErrJWKSUnavailable naming the metadata issuer", err)
	}
	if srv.Hits(jwkstest.JWKSPath) != 0 {
		t.Error("the JWKS of metadata for another issuer was fetched")
	}
}

func TestJWKSDiscoveryCached(t *testing.T) {
	t.Parallel()
	srv, jwks, clock := discoveryEnv(t)
	iss := srv.URL + "/realms/acme"
	srv.SetDocument(rfc8414Path, 0, jwkstest.Metadata(iss, srv.JWKSURL()))
	wantKey(t, jwks)
	// Key refreshes within DiscoveryMaxAge reuse the jwks_uri.
	for range 3 {
		clock.Advance(introspection.JWKSMaxAge)
		wantKey(t, jwks)
	}
	if srv.Hits(rfc8414Path) != 1 || srv.Hits(jwkstest.JWKSPath) != 4 {
		t.Errorf("hits: metadata %d, jwks %d", srv.Hits(rfc8414Path), srv.Hits(jwkstest.JWKSPath))
	}
	// After it the metadata is read again; when that fails, the last
	// jwks_uri stays in use.
	srv.SetDocument(rfc8414Path, 500, "")
	clock.Advance(introspection.DiscoveryMaxAge)
	wantKey(t, jwks)
	if srv.Hits(rfc8414Path) != 2 || srv.Hits(openIDPath) != 1 || srv.Hits(jwkstest.JWKSPath) != 5 {
		t.Errorf("hits: metadata %d, openid %d, jwks %d", srv.Hits(rfc8414Path), srv.Hits(openIDPath), srv.Hits(jwkstest.JWKSPath))
	}
}

func TestJWKSDiscoveryRefusesPlainHTTPKeysForHTTPSIssuer(t *testing.T) {
	t.Parallel()
	var jwksURL string
	tls := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(jwkstest.Metadata("https://"+r.Host, jwksURL)))
	}))
	t.Cleanup(tls.Close)
	jwksURL = "http://" + tls.Listener.Addr().String() + "/jwks"
	jwks, err := introspection.NewJWKS(introspection.JWKSOptions{Issuer: tls.URL, HTTPClient: tls.Client()})
	if err != nil {
		t.Fatal(err)
	}
	_, err = jwks.Keys(t.Context(), "", jose.RS256, false)
	if !errors.Is(err, introspection.ErrJWKSUnavailable) || !strings.Contains(err.Error(), "not https") {
		t.Errorf("Keys: %v, want a refused http jwks_uri", err)
	}
}

func TestJWKSNeverFollowsRedirects(t *testing.T) {
	t.Parallel()
	srv := jwkstest.NewServer(t, pubJWK(rsaKey(), "rsa-1"))
	redirect := httptest.NewServer(http.RedirectHandler(srv.JWKSURL(), http.StatusFound))
	t.Cleanup(redirect.Close)
	jwks, err := introspection.NewJWKS(introspection.JWKSOptions{URL: redirect.URL, HTTPClient: &http.Client{}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = jwks.Keys(t.Context(), "rsa-1", jose.RS256, false)
	if !errors.Is(err, introspection.ErrJWKSUnavailable) || srv.Total() != 0 {
		t.Errorf("Keys: %v after %d requests to the redirect target", err, srv.Total())
	}
}

func TestJWKSFetchTimeoutIsBounded(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(hang.Close)
	t.Cleanup(func() { close(release) })
	var outcomes []introspection.JWKSFetchOutcome
	jwks, err := introspection.NewJWKS(introspection.JWKSOptions{
		URL: hang.URL, Timeout: 50 * time.Millisecond,
		Observer: introspection.JWKSObserverFunc(func(o introspection.JWKSFetchOutcome) { outcomes = append(outcomes, o) }),
	})
	if err != nil {
		t.Fatal(err)
	}
	// The caller has no deadline: the fetch timeout alone ends the wait.
	_, err = jwks.Keys(t.Context(), "rsa-1", jose.RS256, false)
	if !errors.Is(err, introspection.ErrJWKSUnavailable) || !errors.Is(err, introspection.ErrServerUnavailable) || !strings.Contains(err.Error(), "timed out") {
		t.Errorf("Keys: %v, want an unavailable JWKS that timed out", err)
	}
	if !slices.Equal(outcomes, []introspection.JWKSFetchOutcome{introspection.JWKSFetchUnavailable}) {
		t.Errorf("outcomes %q", outcomes)
	}
}
