package policy

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// hugeClaims is a response near the introspection body limit (1 MiB): a
// list of 400,000 numbers and a string of 500,000 bytes.
func hugeClaims(t testing.TB) *Input {
	var b strings.Builder
	b.WriteString(`{"active":true,"big":[0`)
	for range 400_000 - 1 {
		b.WriteString(",0")
	}
	b.WriteString(`],"s":"` + strings.Repeat("a", 500_000) + `"}`)
	in := testInput(t)
	in.Claims = mustClaims(t, b.String())
	return in
}

// TestCostLimitDenies: expressions that pass the load-time estimate but
// meet data far larger than it assumed stop at the runtime cost limit,
// quickly, with an error (a deny), never a hang.
func TestCostLimitDenies(t *testing.T) {
	in := hugeClaims(t)
	for _, expr := range []string{
		`claims.big.all(x, x >= 0)`,
		`claims.big.exists(x, x == 1)`,
		`claims.big.filter(x, x == 0).size() > 0`,
		`claims.big.map(x, x + 1).size() > 0`,
		`claims.s.contains(claims.s + "b")`,
	} {
		t.Run(expr, func(t *testing.T) {
			cs := compile(t, expr)
			cs.claimsValue(in.Claims) // converted once per cached token
			start := time.Now()
			v := cs.Eval(context.Background(), in)
			if v.OK || v.Err == nil {
				t.Fatalf("Eval = %+v, want an error", v)
			}
			if !strings.Contains(v.Err.Error(), "cost limit") {
				t.Errorf("error %v, want the cost limit", v.Err)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("took %v", d)
			}
		})
	}
}

// TestCancelledContextDenies: a cancelled check stops its evaluation.
func TestCancelledContextDenies(t *testing.T) {
	cs := compile(t, `claims.big.all(x, x >= 0)`)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	v := cs.Eval(ctx, hugeClaims(t))
	if v.OK || v.Err == nil || !errors.Is(v.Err, context.Canceled) {
		t.Errorf("Eval = %+v, want context.Canceled", v)
	}
}

// TestAdversarialExpressionsRefused: expressions built to be slow or deep
// are refused when loaded.
func TestAdversarialExpressionsRefused(t *testing.T) {
	c, err := NewCompiler()
	if err != nil {
		t.Fatal(err)
	}
	for _, expr := range []string{
		strings.Repeat("!", 5000) + "true",
		strings.Repeat("[", 100) + strings.Repeat("]", 100) + ".size() == 0",
		strings.Repeat("(", 60) + "true" + strings.Repeat(")", 60),
		`claims.big.all(x, claims.big.all(y, x == y))`,
		`claims.big.map(x, claims.big.map(y, claims.big)).size() > 0`,
		`[` + strings.Repeat(`1,`, 3000) + `1].all(x, x == 1)`,
		`request.headers.all(k, request.headers.exists(j, j == k))`,
		`claims.s.matches(claims.s)`,
		`matches(claims.s, request.path)`,
		`claims.s.matches("^" + claims.p)`,
		`claims.s.matches("(((a{100}){100}){100})")`,
		`[1].all(x, [1].all(y, [1].all(z, true)))`,
	} {
		start := time.Now()
		if _, errs := c.Compile([]string{expr}); len(errs) == 0 {
			t.Errorf("%.60q: compiled", expr)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("%.60q: took %v to refuse", expr, d)
		}
	}
}
