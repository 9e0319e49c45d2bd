package policy

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

// tracked is cs with every expression evaluated under the runtime cost
// tracker, as before fastBound.
func tracked(cs *Conditions) *Conditions {
	t := &Conditions{claims: cs.claims, uses: cs.uses, list: append([]condition(nil), cs.list...)}
	for i := range t.list {
		t.list[i].fast = nil
	}
	return t
}

func TestFastBound(t *testing.T) {
	for expr, want := range map[string]int{
		`claims.org_id == request.segments[1]`:                                            maxSize,
		`request.method in ["GET", "HEAD"] || "admin" in claims.roles`:                    maxSize,
		`request.headers["x-env"] == "prod" && tenant == "acme" && route == "items"`:      maxSize,
		`claims.s.contains(claims.t)`:                                                     1000,
		`claims.roles.exists(r, r.startsWith("a") && r.endsWith("b") && r.contains("c"))`: 1000,
	} {
		if got := compile(t, expr).list[0].bound; got != want {
			t.Errorf("%s: bound %d, want %d", expr, got, want)
		}
	}
}

// TestFastAndTrackedAgree: the programs without the tracker decide as the
// tracked ones.
func TestFastAndTrackedAgree(t *testing.T) {
	in := testInput(t)
	noSegments := *in.Request
	noSegments.Segments = nil // split from the path
	for _, expr := range []string{
		`claims.org_id == request.segments[1]`, `request.segments == ["orgs", "org_42", "items"]`,
		`request.segments.size() == 3 && "items" in request.segments`, `request.segments[3] == "x"`,
		`request.segments.exists(s, s == "orgs")`,
		`"admin" in claims.roles`, `claims.roles[0] == "admin"`, `claims.addr.country == "NL"`,
		`claims.level >= 2 && claims.ratio < 1`, `has(claims.acr)`, `claims.acr == "x"`,
		`request.method == "GET" && request.host == "api.example" && request.path.startsWith("/orgs/")`,
		`request.headers["x-env"] == "prod"`, `request.headers.x_nope == "1"`, `route == "items" && tenant == "acme"`,
		`claims == claims`, `request.segments == request.segments`,
	} {
		cs := compile(t, expr)
		if cs.list[0].fast == nil {
			t.Errorf("%s: no fast program", expr)
			continue
		}
		for _, r := range []*Request{in.Request, &noSegments} {
			in := *in
			in.Request = r
			fast, slow := cs.Eval(context.Background(), &in), tracked(cs).Eval(context.Background(), &in)
			if fast.OK != slow.OK || (fast.Err == nil) != (slow.Err == nil) {
				t.Errorf("%s (segments %v): fast %+v, tracked %+v", expr, r.Segments, fast, slow)
			}
		}
	}
}

// TestFastPathKeepsCostLimit: an input larger than the expression's bound
// is evaluated under the tracker, and its cost limit still denies.
func TestFastPathKeepsCostLimit(t *testing.T) {
	const expr = `claims.roles.exists(r, r.startsWith("a") && r.endsWith("b") && r.contains("c"))`
	cs := compile(t, expr)
	if b := cs.list[0].bound; b == 0 || b >= 20_000 {
		t.Fatalf("bound %d: the test needs one below 20000", b)
	}
	roles := make([]string, 20_000)
	for i := range roles {
		roles[i] = fmt.Sprintf("%q", "x"+strings.Repeat("c", 20))
	}
	in := testInput(t)
	in.Claims = mustClaims(t, `{"active":true,"roles":[`+strings.Join(roles, ",")+`]}`)
	v := cs.Eval(context.Background(), in)
	if v.OK || v.Err == nil || !strings.Contains(v.Err.Error(), "cost limit") {
		t.Fatalf("Eval = %+v, want the cost limit", v)
	}
	// Within the bound, the same expression runs without the tracker.
	in.Claims = mustClaims(t, `{"active":true,"roles":["xc","acb"]}`)
	if v := cs.Eval(context.Background(), in); !v.OK {
		t.Fatalf("small input: %+v", v)
	}
}

// TestEvalAllocations: two conditions on cached claims allocate the
// evaluation's state and the segment read, nothing else.
func TestEvalAllocations(t *testing.T) {
	cs := compile(t, `claims.org_id == request.segments[1]`, `"admin" in claims.roles`)
	in := testInput(t)
	in.Request.Segments = nil
	if v := cs.Eval(context.Background(), in); !v.OK {
		t.Fatalf("Eval = %+v", v)
	}
	if n := testing.AllocsPerRun(100, func() { cs.Eval(context.Background(), in) }); n > 2 {
		t.Errorf("%v allocations per evaluation, want at most 2", n)
	}
}

// TestSegmentsPresent: the segments split from the path are present, as
// a list built by the caller is.
func TestSegmentsPresent(t *testing.T) {
	in := testInput(t)
	in.Request.Segments = nil
	cs := compile(t, `has(request.segments) && request.segments.size() == 3`)
	if v := cs.Eval(context.Background(), in); !v.OK {
		t.Errorf("Eval = %+v", v)
	}
	in.Request.Path = "/"
	if v := compile(t, `has(request.segments) && request.segments.size() == 0`).Eval(context.Background(), in); !v.OK {
		t.Errorf("path /: Eval = %+v", v)
	}
}

func benchEval(b *testing.B, cs *Conditions) {
	in := testInput(b)
	in.Request.Segments = nil
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if v := cs.Eval(ctx, in); !v.OK {
			b.Fatal(v)
		}
	}
}

// BenchmarkEvalTwoConditions and ...Tracked: the bench of
// extauthz/check's BenchmarkCheckCachedTwoConditions, without and with
// the runtime cost tracker.
func BenchmarkEvalTwoConditions(b *testing.B) {
	benchEval(b, compile(b, `claims.org_id == request.segments[1]`, `"admin" in claims.roles`))
}

func BenchmarkEvalTwoConditionsTracked(b *testing.B) {
	benchEval(b, tracked(compile(b, `claims.org_id == request.segments[1]`, `"admin" in claims.roles`)))
}
