package routing

import (
	"strings"
	"testing"

	"github.com/tokengate/tokengate/httpsyntax"
)

func FuzzNormalizePath(f *testing.F) {
	for _, s := range []string{"/", "/orders/1?x", "//a//b", "/%2e%2e/x", "/a/%2F", "/%6Frders", "/a\\b", "/%zz", "/a/./b", "orders", "/.%2e/", "/%252e",
		"/public/..;/admin", "/a/.;x/b", "/%2e%2e;/admin", "/a;x/b", "/a/x;..;/b", "/a/..%3B/b", "/a/.%2E;jsessionid=1", "/a/;/b"} {
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
			// a dot segment also when ";parameters" follow it ("..;x"), as
			// servlet containers read it
			if name, _, _ := strings.Cut(seg, ";"); name == "." || name == ".." {
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
	f.Add("\u212Aiosk.acme.example", "/api", "GET")         // KELVIN SIGN: Unicode lowers it to "k"
	f.Add("orders.acme.exampl\u00c9", "/orders", "GET")     // É: not an ASCII letter
	f.Add("ORDERS.ACME.EXAMPLE:443", "/orders", "ge\u0074") // plain ASCII
	f.Add("orders.acme.example", "/orders", "\u0261et")     // ɡ (U+0261), not g
	f.Add("x.acme.\u212A", "/api", "po\u017Ft")             // LONG S: Unicode raises it to "S"
	tt := NewTable([]Rule{
		{Name: "exact", Hosts: []string{"orders.acme.example"}, PathPrefix: "/orders", Methods: []string{"GET"}},
		{Name: "wild", Hosts: []string{"*.acme.example"}, PathPrefix: "/api"},
	})
	f.Fuzz(func(t *testing.T, host, path, method string) {
		h := NormalizeHost(host)
		// Idempotent, but for a host with several trailing dots: one is cut,
		// and the rest make it match no host pattern (checked below).
		if NormalizeHost(h) != h && !strings.HasSuffix(h, ".") {
			t.Fatalf("NormalizeHost not idempotent: %q → %q → %q", host, h, NormalizeHost(h))
		}
		// Only ASCII letters are folded, and only cutting happens otherwise:
		// every other byte (U+212A KELVIN SIGN included) stays as it came.
		if !strings.Contains(httpsyntax.ToLower(host), h) {
			t.Fatalf("NormalizeHost(%q) = %q is not a piece of the ASCII-lowered host", host, h)
		}
		// The index answers what the linear scan in config order answers,
		// on this table, on one with every kind of rule, and on one built
		// from the input itself (so that its rules nearly match it).
		sameAsLinear(t, tt, host, path, method)
		sameAsLinear(t, fuzzTable, host, path, method)
		sameAsLinear(t, derivedTable(host, path, method), host, path, method)
		i, ok := tt.Match(host, path, method)
		if !ok {
			return
		}
		r := tt.rules[i]
		if strings.HasSuffix(h, ".") && len(r.Hosts) > 0 {
			t.Fatalf("host %q with several trailing dots matched %s", host, r.Name)
		}
		if !strings.HasPrefix(path, r.PathPrefix) {
			t.Fatalf("%q matched %s without its prefix", path, r.Name)
		}
		if r.Name == "wild" && (!strings.HasSuffix(h, ".acme.example") || h == "acme.example") {
			t.Fatalf("host %q matched the wildcard", host)
		}
		if r.Name == "exact" && (h != "orders.acme.example" || !httpsyntax.EqualFold(method, "GET")) {
			t.Fatalf("%q %q matched the exact rule", host, method)
		}
	})
}
