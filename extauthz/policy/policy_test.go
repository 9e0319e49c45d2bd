package policy

import (
	"context"
	"strings"
	"testing"

	"github.com/tokengate/tokengate/introspection"
)

func mustClaims(t testing.TB, body string) *introspection.Claims {
	t.Helper()
	c, err := introspection.ParseClaims([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func compile(t testing.TB, exprs ...string) *Conditions {
	t.Helper()
	c, err := NewCompiler()
	if err != nil {
		t.Fatal(err)
	}
	cs, errs := c.Compile(exprs)
	if len(errs) > 0 {
		t.Fatalf("Compile(%q): %v", exprs, errs)
	}
	return cs
}

func testInput(t testing.TB) *Input {
	return &Input{
		Claims: mustClaims(t, `{"active":true,"sub":"user-1","org_id":"org_42","roles":["admin","dev"],
			"level":2,"ratio":0.5,"email_verified":true,"addr":{"country":"NL"},"exp":1700000000}`),
		Request: &Request{Method: "GET", Host: "api.example", Path: "/orgs/org_42/items",
			Segments: []string{"orgs", "org_42", "items"}, Headers: map[string]string{"x-env": "prod"}},
		Route: "items", Tenant: "acme",
	}
}

func TestEval(t *testing.T) {
	for _, tc := range []struct {
		expr    string
		ok      bool
		wantErr bool
	}{
		{`claims.org_id == request.segments[1]`, true, false},
		{`claims.org_id == "org_7"`, false, false},
		{`"admin" in claims.roles`, true, false},
		{`claims.roles.exists(r, r == "root")`, false, false},
		{`claims.level >= 2`, true, false},
		{`claims.level > 1.5`, true, false},
		{`claims.ratio < 1`, true, false},
		{`claims.email_verified == true`, true, false},
		{`claims.addr.country == "NL"`, true, false},
		{`claims.exp > 1600000000`, true, false},
		{`has(claims.acr)`, false, false},
		{`claims.acr == "x"`, false, true}, // missing claim: an error, so deny
		{`request.method == "GET" && request.host == "api.example"`, true, false},
		{`request.path.startsWith("/orgs/")`, true, false},
		{`request.headers["x-env"] == "prod"`, true, false},
		{`"authorization" in request.headers`, false, false},
		{`route == "items" && tenant == "acme"`, true, false},
		{`request.segments.size() == 3`, true, false},
		{`claims.roles[5] == "x"`, false, true}, // index out of range
		{`claims.sub == 1`, false, false},       // heterogeneous equality is false, not an error
		{`int(claims.sub) == 1`, false, true},
	} {
		t.Run(tc.expr, func(t *testing.T) {
			cs := compile(t, tc.expr)
			v := cs.Eval(context.Background(), testInput(t))
			if v.OK != tc.ok || (v.Err != nil) != tc.wantErr {
				t.Errorf("Eval = %+v, want ok %v, error %v", v, tc.ok, tc.wantErr)
			}
		})
	}
}

func TestEvalOrderFirstFailureDecides(t *testing.T) {
	cs := compile(t, `true`, `claims.sub == "other"`, `claims.nope == 1`)
	v := cs.Eval(context.Background(), testInput(t))
	if v.OK || v.Index != 1 || v.Err != nil {
		t.Errorf("Eval = %+v, want index 1, no error", v)
	}
	if cs.Len() != 3 || cs.Source(2) != `claims.nope == 1` {
		t.Errorf("Len/Source = %d %q", cs.Len(), cs.Source(2))
	}
}

func TestCompileErrors(t *testing.T) {
	c, err := NewCompiler()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		expr, want string
	}{
		{`claims.sub ==`, "column 14: Syntax error"},
		{"true &&\n  nope", "expression line 2, column 3: undeclared reference"},
		{`claims.sub`, "must be of type bool, not dyn"},
		{`request.method`, "must be of type bool, not string"},
		{`1 + 1`, "must be of type bool, not int"},
		{`user.name == "x"`, "undeclared reference to 'user'"},
		{`request.query == "x"`, "undefined field 'query'"},
		{`request.method == 1`, "found no matching overload"},
		{``, "empty expression"},
		{`   `, "empty expression"},
		{strings.Repeat("(", 200) + "true" + strings.Repeat(")", 200), "recursion"},
		{`true || ` + strings.Repeat(`"a" == "a" || `, 500) + `false`, "size exceeds limit"},
		{`claims.roles.all(a, claims.roles.all(b, a == b))`, "estimated cost"},
		{`[1].all(a, [2].all(b, [3].all(c, a < b && b < c)))`, "nesting limit"},
		{`claims.s.matches(claims.p)`, "pattern must be a string literal"},
		{`claims.s.matches("[")`, "invalid matches argument"},
	} {
		_, errs := c.Compile([]string{`true`, tc.expr})
		if len(errs) == 0 {
			t.Errorf("%.60q: no error", tc.expr)
			continue
		}
		for _, e := range errs {
			if e.Index != 1 {
				t.Errorf("%.60q: error at index %d", tc.expr, e.Index)
			}
			if strings.Contains(e.Message, "\n") {
				t.Errorf("%.60q: message has several lines: %q", tc.expr, e.Message)
			}
		}
		if !strings.Contains(errs[0].Message, tc.want) {
			t.Errorf("%.60q: %q, want %q", tc.expr, errs[0].Message, tc.want)
		}
	}
}

func TestCompileEmptyList(t *testing.T) {
	c, _ := NewCompiler()
	if cs, errs := c.Compile(nil); cs != nil || errs != nil {
		t.Errorf("Compile(nil) = %v, %v", cs, errs)
	}
}
