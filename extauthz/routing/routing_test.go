package routing

import "testing"

func TestNormalizePath(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"/", "/"},
		{"/orders", "/orders"},
		{"/orders/1?x=../..&y=%2F", "/orders/1"},
		{"/orders?", "/orders"},
		{"/orders//1", "/orders/1"},
		{"//orders///1//", "/orders/1/"},
		{"/%6Frders", "/orders"},
		{"/%6frders", "/orders"},
		{"/a%2Db%2ec%5Fd%7Ee", "/a-b.c_d~e"},
		{"/a%20b", "/a%20b"},
		{"/a%3Fb", "/a%3Fb"},
		{"/a%25b", "/a%25b"},
		{"/a%252e%252e/b", "/a%252e%252e/b"},
		{"/a/..b/c.", "/a/..b/c."},
		{"/a/.well-known", "/a/.well-known"},
		{"/a/...", "/a/..."},
		{"/%2F%2F", ""},
		{"/orders%2f1", ""},
		{"/orders%2F1", ""},
		{"/orders%5c1", ""},
		{"/orders%5C1", ""},
		{"/orders\\1", ""},
		{"/orders/./1", ""},
		{"/orders/../admin", ""},
		{"/orders/..", ""},
		{"/orders/.", ""},
		{"/.", ""},
		{"/..", ""},
		{"/orders/%2e%2e/admin", ""},
		{"/orders/%2E%2E/admin", ""},
		{"/orders/.%2e/admin", ""},
		{"/orders/%2e/admin", ""},
		{"/orders//..//admin", ""},
		{"/orders/%", ""},
		{"/orders/%2", ""},
		{"/orders/%zz", ""},
		{"/orders/\x00", ""},
		{"/orders/\n", ""},
		{"/orders/\x7f", ""},
		{"", ""},
		{"orders", ""},
		{"*", ""},
		{"http://evil/orders", ""},
		{"?x=1", ""},
	}
	for _, tt := range tests {
		got, ok := NormalizePath(tt.in)
		if ok != (tt.want != "") || got != tt.want {
			t.Errorf("NormalizePath(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.want != "")
		}
	}
}

func TestNormalizeHost(t *testing.T) {
	tests := map[string]string{
		"orders.acme.example":      "orders.acme.example",
		"Orders.ACME.example":      "orders.acme.example",
		"orders.acme.example:8443": "orders.acme.example",
		"orders.acme.example.":     "orders.acme.example",
		"orders.acme.example.:443": "orders.acme.example",
		"127.0.0.1:9000":           "127.0.0.1",
		"[::1]:8080":               "[::1]",
		"[::1]":                    "[::1]",
		"::1":                      "::1",
		"":                         "",
	}
	for in, want := range tests {
		if got := NormalizeHost(in); got != want {
			t.Errorf("NormalizeHost(%q) = %q, want %q", in, got, want)
		}
	}
}

func table() *Table {
	return NewTable([]Rule{
		{Name: "orders-read", Hosts: []string{"orders.acme.example"}, PathPrefix: "/orders", Methods: []string{"GET", "HEAD"}},
		{Name: "orders-write", Hosts: []string{"orders.acme.example"}, PathPrefix: "/orders", Methods: []string{"POST"}},
		{Name: "wild", Hosts: []string{"*.acme.example"}, PathPrefix: "/api"},
		{Name: "health", PathPrefix: "/healthz"},
		{Name: "root-any"}, // empty prefix means "/", any host, any method
	})
}

func TestMatch(t *testing.T) {
	tt := table()
	wantMatches(t, tt, []matchCase{
		{"orders.acme.example", "/orders", "GET", "orders-read"},
		{"orders.acme.example", "/orders/1", "get", "orders-read"},
		{"ORDERS.acme.EXAMPLE:8443", "/orders/1", "HEAD", "orders-read"},
		{"orders.acme.example", "/orders/1", "POST", "orders-write"},
		{"orders.acme.example", "/orders/1", "DELETE", "root-any"},
		{"orders.acme.example", "/Orders", "GET", "root-any"}, // paths are case-sensitive
		{"billing.orders.acme.example", "/orders", "GET", "root-any"},
		{"x.acme.example", "/api/v1", "PUT", "wild"},
		{"a.b.acme.example", "/api", "GET", "wild"},
		{"acme.example", "/api", "GET", "root-any"}, // wildcard never matches the bare domain
		{".acme.example", "/api", "GET", "root-any"},
		{"evilacme.example", "/api", "GET", "root-any"},
		{"anything", "/healthz", "GET", "health"},
	})
}

// matchCase is a request and the name of the rule it matches ("": none).
type matchCase struct{ host, path, method, want string }

// wantMatches fails t for each case that tt matches otherwise.
func wantMatches(t *testing.T, tt *Table, cases []matchCase) {
	t.Helper()
	for _, c := range cases {
		i, ok := tt.Match(c.host, c.path, c.method)
		got := ""
		if ok {
			got = tt.rules[i].Name
		}
		if got != c.want {
			t.Errorf("Match(%q, %q, %q) = %q, %v; want %q", c.host, c.path, c.method, got, ok, c.want)
		}
	}
}

func TestNoMatch(t *testing.T) {
	tt := NewTable([]Rule{{Name: "only", Hosts: []string{"a.example"}, PathPrefix: "/x", Methods: []string{"GET"}}})
	for _, c := range [][3]string{
		{"b.example", "/x", "GET"},
		{"a.example", "/y", "GET"},
		{"a.example", "/x", "POST"},
		{"", "/x", "GET"},
	} {
		if _, ok := tt.Match(c[0], c[1], c[2]); ok {
			t.Errorf("Match%v matched", c)
		}
	}
}

func TestLookup(t *testing.T) {
	tt := table()
	if i, ok := tt.Lookup("wild"); !ok || i != 2 {
		t.Errorf("Lookup(wild) = %d, %v", i, ok)
	}
	if _, ok := tt.Lookup("nope"); ok {
		t.Error("Lookup(nope) found something")
	}
}

func BenchmarkNormalizePathClean(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := NormalizePath("/orders/12345/items?page=2"); !ok {
			b.Fatal()
		}
	}
}

// Servlet containers (Tomcat, Jetty, Spring) strip ";parameters" from each
// segment before resolving dot segments, so "/public/..;/admin" reaches
// /admin there: a dot segment followed by parameters is a dot segment.
func TestNormalizePathRefusesDotSegmentsWithParameters(t *testing.T) {
	for _, in := range []string{
		"/public/..;/admin",
		"/..;/admin",
		"/a/.;x/b",
		"/a/.;/b",
		"/a/..;",
		"/a/..;jsessionid=1",
		"/%2e%2e;/admin",
		"/public/%2E%2E;x=y/admin",
		"/a/.%2e;/b",
		"/a/%2e;/b",
		"/a//..;//b",
		"/a/..;/..;/b?x=1",
	} {
		if got, ok := NormalizePath(in); ok {
			t.Errorf("NormalizePath(%q) = %q, accepted; want refused", in, got)
		}
	}
	for in, want := range map[string]string{
		"/a;x/b":            "/a;x/b",
		"/a/;/b":            "/a/;/b",
		"/a/..x;/b":         "/a/..x;/b",
		"/a/...;/b":         "/a/...;/b",
		"/a/x;..;/b":        "/a/x;..;/b", // the segment is "x" with parameters "..;"
		"/a/..%3B/b":        "/a/..%3B/b", // an encoded ";" is data, not a parameter separator
		"/a/b;jsessionid=1": "/a/b;jsessionid=1",
	} {
		if got, ok := NormalizePath(in); !ok || got != want {
			t.Errorf("NormalizePath(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}

// Hosts fold ASCII letters only: U+212A KELVIN SIGN lowercases to "k" under
// Unicode rules, and U+017F LATIN SMALL LETTER LONG S uppercases to "S".
func TestHostsAndMethodsFoldASCIIOnly(t *testing.T) {
	for in, want := range map[string]string{
		"\u212Aiosk.example":     "\u212Aiosk.example",
		"KIOSK.example":          "kiosk.example",
		"\u212AIOSK.Example:443": "\u212Aiosk.example",
		"\u0130stanbul.example":  "\u0130stanbul.example", // İ: not "i̇"
		"caf\u00c9.example":      "caf\u00c9.example",     // É stays É
	} {
		if got := NormalizeHost(in); got != want {
			t.Errorf("NormalizeHost(%q) = %q, want %q", in, got, want)
		}
	}
	tt := NewTable([]Rule{
		{Name: "kiosk", Hosts: []string{"kiosk.example"}, PathPrefix: "/"},
		{Name: "unicode", Hosts: []string{"caf\u00e9.example"}, PathPrefix: "/"},
		{Name: "post", PathPrefix: "/p", Methods: []string{"POST"}},
		{Name: "wild", Hosts: []string{"*.example"}, PathPrefix: "/w"},
	})
	wantMatches(t, tt, []matchCase{
		{"\u212Aiosk.example", "/", "GET", ""},
		{"\u212Aiosk.example", "/w", "GET", "wild"}, // the suffix bytes are equal
		{"KIOSK.example", "/", "GET", "kiosk"},
		{"caf\u00e9.example", "/", "GET", "unicode"}, // the same bytes
		{"CAF\u00e9.example", "/", "GET", "unicode"}, // ASCII letters fold
		{"caf\u00c9.example", "/", "GET", ""},        // É is not é
		{"x.example", "/p", "po\u017Ft", ""},         // ſ is not s
		{"x.example", "/p", "post", "post"},
	})
}
