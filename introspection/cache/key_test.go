package cache

import (
	"testing"
	"time"

	"github.com/tokengate/tokengate/introspection"
)

// Keys name the tenant, the settings that decide who answers (URL,
// client_id, auth method, response format, issuer) and the token; nothing
// else (issue 12, item 2).
func TestKeyNamesTheAuthorizationServer(t *testing.T) {
	base := introspection.Options{
		Tenant: "acme", URL: "https://idp.acme.example/introspect", ClientID: "rs-acme",
		ClientSecret: "s3cret", AuthMethod: introspection.AuthClientSecretBasic,
		ResponseFormat: "json", Issuer: "https://idp.acme.example",
	}
	key := func(o introspection.Options) string { return Key("acme", Fingerprint(o), "tok") }
	want := key(base)

	differ := map[string]func(*introspection.Options){
		"url":             func(o *introspection.Options) { o.URL = "https://idp.other.example/introspect" },
		"client_id":       func(o *introspection.Options) { o.ClientID = "rs-other" },
		"auth_method":     func(o *introspection.Options) { o.AuthMethod = introspection.AuthClientSecretPost },
		"response_format": func(o *introspection.Options) { o.ResponseFormat = "jwt" },
		"issuer":          func(o *introspection.Options) { o.Issuer = "https://idp.acme.example/" },
		"host header":     func(o *introspection.Options) { o.Headers = map[string]string{"host": "idp.other.example"} },
		// Fields are length-prefixed: moving a byte from one to the next
		// is another fingerprint.
		"field boundary": func(o *introspection.Options) {
			o.URL, o.ClientID = "https://idp.acme.example/introspectr", "s-acme"
		},
	}
	for name, change := range differ {
		o := base
		change(&o)
		if key(o) == want {
			t.Errorf("%s: same key", name)
		}
	}

	same := map[string]func(*introspection.Options){
		"client secret rotated": func(o *introspection.Options) { o.ClientSecret = "rotated" },
		"timeout":               func(o *introspection.Options) { o.Timeout = 5 * time.Second },
		"ca_file":               func(o *introspection.Options) { o.CAFile = "/etc/ca.pem" },
		"other header":          func(o *introspection.Options) { o.Headers = map[string]string{"X-Env": "prod"} },
		"token_type_hint":       func(o *introspection.Options) { o.TokenTypeHint = "" },
		"defaults spelled out":  func(o *introspection.Options) { o.AuthMethod, o.ResponseFormat = "", "" },
		"tenant (log only)":     func(o *introspection.Options) { o.Tenant = "renamed" },
	}
	for name, change := range same {
		o := base
		change(&o)
		if key(o) != want {
			t.Errorf("%s: the key changed", name)
		}
	}

	fp := Fingerprint(base)
	if Key("acme", fp, "tok") == Key("globex", fp, "tok") {
		t.Error("two tenants, one key")
	}
	if Key("acme", fp, "tok") == Key("acme", fp, "tok2") {
		t.Error("two tokens, one key")
	}
	// Tenant and fingerprint are length-prefixed too.
	if Key("ab", "c", "tok") == Key("a", "bc", "tok") || Key("a", "b", "ctok") == Key("a", "bc", "tok") {
		t.Error("ambiguous encoding")
	}
	// The client secret never appears in the fingerprint, even hashed alone.
	for _, v := range []string{"s3cret", Fingerprint(introspection.Options{ClientSecret: "s3cret"})} {
		if fp == v {
			t.Error("fingerprint is the secret")
		}
	}
}

// A store's keys, and so its entries, carry its fingerprint.
func TestStoreKeysCarryTheFingerprint(t *testing.T) {
	a := NewStore(Options{Tenant: "acme", Fingerprint: "fp-a", MaxTTL: time.Minute, NegativeTTL: time.Minute, MaxEntries: 10})
	b := NewStore(Options{Tenant: "acme", Fingerprint: "fp-b", MaxTTL: time.Minute, NegativeTTL: time.Minute, MaxEntries: 10})
	if a.KeyFor("tok") == b.KeyFor("tok") {
		t.Fatal("two fingerprints, one key")
	}
	if a.KeyFor("tok") != Key("acme", "fp-a", "tok") {
		t.Fatal("KeyFor is not Key with the store's tenant and fingerprint")
	}
}
