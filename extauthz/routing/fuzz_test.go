package routing

import (
	"strings"
	"testing"
)

func FuzzNormalizePath(f *testing.F) {
	for _, s := range []string{"/", "/orders/1?x", "//a//b", "/%2e%2e/x", "/a/%2F", "/%6Frders", "/a\\b", "/%zz", "/a/./b", "orders", "/.%2e/", "/%252e"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		p, ok := NormalizePath(raw)
		if !ok {
			return
		}
		if !strings.HasPrefix(p, "/") || strings.Contains(p, "//") || strings.ContainsAny(p, "?\\") {
			t.Fatalf("NormalizePath(%q) = %q", raw, p)
		}
		low := strings.ToLower(p)
		if strings.Contains(low, "%2f") || strings.Contains(low, "%5c") {
			t.Fatalf("NormalizePath(%q) = %q keeps an encoded separator", raw, p)
		}
		for _, seg := range strings.Split(p, "/") {
			if seg == "." || seg == ".." {
				t.Fatalf("NormalizePath(%q) = %q keeps a dot segment", raw, p)
			}
		}
		for i := 0; i < len(p); i++ {
			if p[i] < 0x20 || p[i] == 0x7f {
				t.Fatalf("NormalizePath(%q) = %q keeps a control byte", raw, p)
			}
		}
		// Normalizing is idempotent: what routes see cannot be read twice differently.
		if again, ok := NormalizePath(p); !ok || again != p {
			t.Fatalf("NormalizePath(%q) = %q, then %q %v", raw, p, again, ok)
		}
	})
}

func FuzzMatch(f *testing.F) {
	f.Add("orders.acme.example:8443", "/orders/1", "get")
	f.Add("X.ACME.example.", "/api", "PUT")
	f.Add("[::1]:80", "/", "")
	tt := NewTable([]Rule{
		{Name: "exact", Hosts: []string{"orders.acme.example"}, PathPrefix: "/orders", Methods: []string{"GET"}},
		{Name: "wild", Hosts: []string{"*.acme.example"}, PathPrefix: "/api"},
	})
	f.Fuzz(func(t *testing.T, host, path, method string) {
		h := NormalizeHost(host)
		if NormalizeHost(h) != h {
			t.Fatalf("NormalizeHost not idempotent: %q → %q → %q", host, h, NormalizeHost(h))
		}
		i, ok := tt.Match(host, path, method)
		if !ok {
			return
		}
		r := tt.rules[i]
		if !strings.HasPrefix(path, r.PathPrefix) {
			t.Fatalf("%q matched %s without its prefix", path, r.Name)
		}
		if r.Name == "wild" && (!strings.HasSuffix(h, ".acme.example") || h == "acme.example") {
			t.Fatalf("host %q matched the wildcard", host)
		}
		if r.Name == "exact" && (h != "orders.acme.example" || strings.ToUpper(method) != "GET") {
			t.Fatalf("%q %q matched the exact rule", host, method)
		}
	})
}
