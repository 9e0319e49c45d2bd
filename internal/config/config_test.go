package config

import (
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

func mustParseFixture(t *testing.T, name string) *Config {
	t.Helper()
	cfg, err := parseFixture(t, name)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return cfg
}

// testFile is the absolute path of testdata/files/name.
func testFile(t *testing.T, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("testdata", "files", name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func checkEqual(t *testing.T, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\n got  %+v\n want %+v", what, got, want)
	}
}

func TestFullExample(t *testing.T) {
	cfg := mustParseFixture(t, "valid/full.yaml")
	serverTLS := &TLS{CertFile: testFile(t, "server_cert.pem"), KeyFile: testFile(t, "server_key.pem")}
	checkEqual(t, "grpc", cfg.GRPC, GRPC{Address: "127.0.0.1:9191", TLS: &TLS{
		CertFile: serverTLS.CertFile, KeyFile: serverTLS.KeyFile, ClientCAFile: testFile(t, "ca.pem"),
	}})
	checkEqual(t, "http", cfg.HTTP, HTTP{Address: "127.0.0.1:8181", ForwardedHeaders: "x-original", TLS: serverTLS})

	acme := withDefaults("acme", Introspection{
		URL:          "https://idp.acme.example/oauth2/introspect",
		AuthMethod:   "client_secret_basic",
		ClientID:     "rs-acme",
		ClientSecret: "acme-secret-value-4b1d",
	})
	acme.Issuer = "https://idp.acme.example"
	acme.Audiences = []string{"api://orders"}
	acme.JWT.Mode = "local_then_introspect"
	acme.ClaimsToHeaders = []ClaimHeader{
		{"sub", "x-auth-subject"}, {"client_id", "x-auth-client-id"},
		{"scope", "x-auth-scope"}, {"username", "x-auth-username"},
	}
	tenants := []Tenant{acme, {
		Name: "globex",
		Introspection: Introspection{
			URL:                "https://login.globex.example/introspect?realm=main",
			AuthMethod:         "private_key_jwt",
			ClientID:           "rs-globex",
			PrivateKeyFile:     testFile(t, "rsa_key.pem"),
			KeyID:              "2024-01",
			AssertionAudience:  "https://login.globex.example",
			ResponseFormat:     "jwt",
			JWKSURL:            "https://login.globex.example/jwks",
			TokenTypeHint:      "",
			Timeout:            750 * time.Millisecond,
			CAFile:             testFile(t, "ca.pem"),
			InsecureSkipVerify: true,
			Headers:            map[string]string{"X-Tenant": "globex", "Accept-Language": "en"},
		},
		Audiences:                   []string{"api://globex", "https://api.globex.example"},
		Leeway:                      0,
		TokenTypes:                  []string{"bearer"},
		Cache:                       Cache{MaxTTL: time.Minute, NegativeTTL: 0, MaxEntries: 10},
		MaxConcurrentIntrospections: 1,
		CircuitBreaker:              CircuitBreaker{ConsecutiveFailures: 3, FailureRatio: 1, MinCalls: 1, Window: time.Second, CoolDown: 250 * time.Millisecond},
		ClaimsToHeaders:             []ClaimHeader{{"https://globex.example/roles", "x-roles"}, {"sub", "x-sub"}},
		ClaimsHeader:                "x-claims",
		StripAuthorization:          true,
		SenderConstraint: SenderConstraint{Required: "any", DPoPAlgorithms: []string{"EdDSA", "ES384"}, DPoPMaxAge: 30 * time.Second,
			Origin: "https://API.globex.example:8443", CertificateHeader: "x-client-cert"},
		JWT: JWT{Mode: "off", JWKSURL: "https://login.globex.example/jwks", Algorithms: []string{"ES384", "PS512"}, Types: []string{}},
		Events: Events{SSFIssuer: "https://login.globex.example", SSFAudience: "https://api.globex.example",
			JWKSURL: "https://login.globex.example/events/jwks", RevocationTTL: time.Hour},
	},
		withDefaults("initech", Introspection{
			URL:          "http://introspect.initech.internal:8080/introspect",
			AuthMethod:   "bearer",
			ClientID:     "rs-initech",
			ClientSecret: "file-secret-value-7f3a",
			TokenURL:     "https://sso.initech.example/token",
			Headers:      map[string]string{"Authorization-Extra": "x"},
		}),
		withDefaults("hooli", Introspection{
			URL:        "https://auth.hooli.example/introspect",
			AuthMethod: "none",
			Headers:    map[string]string{"Authorization": "Bearer static-gateway-value"},
		}),
		withDefaults("umbrella", Introspection{
			URL:          "https://auth.umbrella.example/introspect",
			AuthMethod:   "client_secret_post",
			ClientID:     "rs-umbrella",
			ClientSecret: "acme-secret-value-4b1d",
		}),
		withDefaults("soylent", Introspection{
			URL:               "https://auth.soylent.example/introspect",
			AuthMethod:        "private_key_jwt",
			ClientID:          "rs-soylent",
			PrivateKeyFile:    testFile(t, "ec_key.pem"),
			AssertionAudience: "https://auth.soylent.example/introspect", // default: the url
		}),
	}
	if len(cfg.Tenants) != len(tenants) {
		t.Fatalf("got %d tenants, want %d", len(cfg.Tenants), len(tenants))
	}
	for i := range tenants {
		checkEqual(t, "tenant "+tenants[i].Name, cfg.Tenants[i], tenants[i])
	}

	routes := []Route{{
		Name:       "orders-read",
		Tenant:     "acme",
		Hosts:      []string{"orders.acme.example", "*.orders.acme.example"},
		PathPrefix: "/orders",
		Methods:    []string{"GET", "HEAD"},
		Scopes:     []string{"orders.read"},
	}, {
		Name:       "globex.api_v2",
		Tenant:     "globex",
		PathPrefix: "/",
		AnyScopes:  []string{"api:read", "api:admin"},
		Audiences:  []string{"api://globex-v2"},
	}, {
		Name:       "health",
		PathPrefix: "/healthz",
		Public:     true,
	}}
	checkEqual(t, "routes", cfg.Routes, routes)

	checkEqual(t, "redis", cfg.Redis, &Redis{
		Address:    "127.0.0.1:6379",
		Username:   "tokengate",
		Password:   "redis-password-value-9c2e",
		KeyPrefix:  "tokengate:",
		DB:         3,
		Timeout:    50 * time.Millisecond,
		TLS:        serverTLS,
		SigningKey: "cache-signing-key-value-8e4a-2f9c1b7d5a3e",
	})
	checkEqual(t, "admin", cfg.Admin, &Admin{Address: "127.0.0.1:8282", Token: "admin-token-value-5e8f-7c1d9a0b3e6f4a2d", TLS: &TLS{
		CertFile: serverTLS.CertFile, KeyFile: serverTLS.KeyFile, ClientCAFile: testFile(t, "ca.pem"),
	}})
}

// defaultTenant is tenant acme of minimal.yaml with every default.
func defaultTenant() Tenant {
	return withDefaults("acme", Introspection{
		URL:          "https://idp.acme.example/introspect",
		AuthMethod:   "client_secret_basic",
		ClientID:     "rs-acme",
		ClientSecret: "acme-secret-value-4b1d",
	})
}

// withDefaults is tenant name with the introspection section in, which
// gets the default response_format, token_type_hint and timeout; the
// tenant's other settings are their defaults too.
func withDefaults(name string, in Introspection) Tenant {
	in.ResponseFormat, in.TokenTypeHint, in.Timeout = "json", "access_token", 2*time.Second
	return Tenant{
		Name:                        name,
		Introspection:               in,
		Leeway:                      30 * time.Second,
		TokenTypes:                  []string{"Bearer", "DPoP", "access_token"},
		Cache:                       Cache{MaxTTL: 5 * time.Minute, NegativeTTL: 10 * time.Second, MaxEntries: 100000},
		MaxConcurrentIntrospections: 64,
		CircuitBreaker:              DefaultCircuitBreaker(),
		SenderConstraint:            DefaultSenderConstraint(),
		JWT:                         DefaultJWT(),
		Events:                      Events{RevocationTTL: DefaultRevocationTTL},
	}
}

func TestDefaults(t *testing.T) {
	for _, name := range []string{"valid/minimal.yaml", "valid/nulls.yaml"} {
		t.Run(name, func(t *testing.T) {
			cfg := mustParseFixture(t, name)
			checkEqual(t, "config", *cfg, Config{
				GRPC:    GRPC{Address: "127.0.0.1:9191"},
				HTTP:    HTTP{Address: "127.0.0.1:8181", ForwardedHeaders: "x-forwarded"},
				Tenants: []Tenant{defaultTenant()},
				Routes:  []Route{{Name: "all", Tenant: "acme", PathPrefix: "/"}},
			})
		})
	}
}

func TestZeroValuesKept(t *testing.T) {
	cfg := mustParseFixture(t, "valid/zero_values.yaml")
	want := defaultTenant()
	want.Leeway = 0
	want.Introspection.TokenTypeHint = ""
	want.Cache.NegativeTTL = 0
	checkEqual(t, "tenant", cfg.Tenants[0], want)
	checkEqual(t, "route", cfg.Routes[0], Route{Name: "all", Tenant: "acme", PathPrefix: "/"})
	checkEqual(t, "redis", cfg.Redis, &Redis{
		Addresses: []string{"10.0.0.1:6379", "10.0.0.2:6379"},
		KeyPrefix: "",
		Timeout:   50 * time.Millisecond,
	})
}

func TestPublicOnlyNeedsNoTenant(t *testing.T) {
	cfg := mustParseFixture(t, "valid/public_only.yaml")
	checkEqual(t, "routes", cfg.Routes, []Route{
		{Name: "health", PathPrefix: "/healthz", Public: true},
		{Name: "docs", Hosts: []string{"docs.example"}, PathPrefix: "/", Public: true},
	})
	if len(cfg.Tenants) != 0 || cfg.Redis != nil || cfg.Admin != nil {
		t.Errorf("unexpected sections: %+v", cfg)
	}
}

func TestAnchorsAndMergeKeys(t *testing.T) {
	cfg := mustParseFixture(t, "valid/anchors.yaml")
	acme, globex := cfg.Tenants[0].Introspection, cfg.Tenants[1].Introspection
	if acme.ClientID != "rs-shared" || acme.Timeout != 3*time.Second || acme.URL != "https://idp.acme.example/introspect" {
		t.Errorf("acme: %+v", acme)
	}
	if globex.ClientID != "rs-shared" || globex.ClientSecret != "acme-secret-value-4b1d" ||
		globex.Timeout != time.Second || globex.URL != "https://idp.globex.example/introspect" {
		t.Errorf("globex: %+v", globex)
	}
	checkEqual(t, "routes", cfg.Routes, []Route{
		{Name: "acme", Tenant: "acme", PathPrefix: "/", Methods: []string{"GET", "HEAD"}},
		{Name: "globex", Tenant: "globex", PathPrefix: "/", Methods: []string{"GET", "HEAD"}},
	})
}

func TestClaimsToHeadersOrder(t *testing.T) {
	// Keys in an order that neither sorting nor a Go map would produce.
	src := `
tenants:
  - name: acme
    introspection: {url: "https://idp.example/i", auth_method: none}
    claims_to_headers:
      zeta: x-z
      alpha: x-a
      mid: X-M
      beta: x-b
      "https://example.com/groups": x-groups
routes: [{name: r, tenant: acme}]
`
	cfg, err := Parse([]byte(src), nil, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	checkEqual(t, "claims_to_headers", cfg.Tenants[0].ClaimsToHeaders, []ClaimHeader{
		{"zeta", "x-z"}, {"alpha", "x-a"}, {"mid", "x-m"}, {"beta", "x-b"}, {"https://example.com/groups", "x-groups"},
	})
}
