package introspection_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/tokengate/tokengate/introspection"
)

// tagged records the order in which layers see a call.
type tagged struct {
	name  string
	next  introspection.Introspector
	trail *[]string
}

func (l tagged) Introspect(ctx context.Context, token string) (introspection.Result, error) {
	*l.trail = append(*l.trail, l.name)
	if l.next == nil {
		return introspection.Result{Claims: &introspection.Claims{}}, nil
	}
	return l.next.Introspect(ctx, token)
}

func TestChainOutermostFirst(t *testing.T) {
	var trail []string
	layer := func(name string) introspection.Middleware {
		return func(next introspection.Introspector) introspection.Introspector {
			return tagged{name: name, next: next, trail: &trail}
		}
	}
	c := introspection.Chain(tagged{name: "client", trail: &trail}, layer("a"), nil, layer("b"))
	if _, err := c.Introspect(context.Background(), "tok"); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(trail, " → "); got != "a → b → client" {
		t.Errorf("call went %s", got)
	}
	client := tagged{name: "client", trail: &trail}
	if introspection.Chain(client) != introspection.Introspector(client) {
		t.Error("Chain without layers is not the client")
	}
}

func TestOptionsDigest(t *testing.T) {
	base := introspection.Options{Tenant: "acme", URL: "https://idp/x", ClientID: "rs", ClientSecret: "s1",
		Headers: map[string]string{"X-A": "1", "X-B": "2"}}
	same := base
	same.Headers = map[string]string{"X-B": "2", "X-A": "1"}
	same.Transport = http.DefaultTransport // not a setting
	if base.Digest() != same.Digest() {
		t.Error("equal settings, different digests")
	}
	for name, edit := range map[string]func(*introspection.Options){
		"secret":  func(o *introspection.Options) { o.ClientSecret = "s2" },
		"header":  func(o *introspection.Options) { o.Headers = map[string]string{"X-A": "1", "X-B": "3"} },
		"issuer":  func(o *introspection.Options) { o.Issuer = "https://idp" },
		"timeout": func(o *introspection.Options) { o.Timeout = 1 },
	} {
		o := base
		edit(&o)
		if o.Digest() == base.Digest() {
			t.Errorf("%s changed, digest did not", name)
		}
	}
}

func TestOptionsStringRedactsHeaderValues(t *testing.T) {
	o := introspection.Options{Tenant: "acme", Headers: map[string]string{"X-Api-Key": "key-value-123"}}
	if s := o.String(); strings.Contains(s, "key-value-123") || !strings.Contains(s, "X-Api-Key") {
		t.Errorf("String() = %s", s)
	}
}
