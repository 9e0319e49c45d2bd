package e2e

import (
	"strings"
	"testing"
	"time"
)

// TestDenyLogLines: one JSON line per deny with tenant, route, reason,
// token_id and trace_id; never a token or a secret.
func TestDenyLogLines(t *testing.T) {
	t.Parallel()
	as, p := serveAcme(t, cfg{}, "--log-level", "debug")
	const (
		inactive = "tok-log-inactive-9f8e7d"
		good     = "tok-log-good-1a2b3c"
		traceID  = "4bf92f3577b34da6a3ce929d0e0e4736"
		spanID   = "00f067aa0ba902b7"
	)
	as.Claims(good, goodClaims(map[string]any{"scope": "profile"}))

	mark := p.mark()
	if a := p.check(t, req{auth: bearer(inactive), headers: map[string]string{"traceparent": traceparent(traceID, spanID)}}); a.status != 401 {
		t.Fatalf("inactive: %d", a.status)
	}
	line := p.waitLog(t, 5*time.Second, mark, func(l logLine) bool { return l.str("msg") == "deny" && l.str("reason") == "inactive" })
	for k, v := range map[string]string{"tenant": "acme", "route": "orders-read", "token_id": tokenID(inactive), "trace_id": traceID} {
		if line.str(k) != v {
			t.Errorf("deny line %s = %q, want %q: %s", k, line.str(k), v, line.raw)
		}
	}

	mark = p.mark()
	if a := p.check(t, req{auth: bearer(good)}); a.status != 403 {
		t.Fatalf("insufficient scope: %d", a.status)
	}
	line = p.waitLog(t, 5*time.Second, mark, func(l logLine) bool { return l.str("msg") == "deny" })
	if line.str("reason") != "insufficient_scope" || line.str("token_id") != tokenID(good) {
		t.Errorf("deny line %s", line.raw)
	}
	if n := len(p.findLogs(mark, msgIs("deny"))); n != 1 {
		t.Errorf("%d deny lines for one deny", n)
	}

	// A malformed request with a syntactically valid token still names it.
	mark = p.mark()
	p.check(t, req{path: "/orders/../x", auth: bearer(good)})
	line = p.waitLog(t, 5*time.Second, mark, msgIs("deny"))
	if line.str("reason") != "malformed_request" || line.str("token_id") != tokenID(good) {
		t.Errorf("malformed request deny line %s", line.raw)
	}
	// Without a route, the line says which request it was (never the query).
	for k, v := range map[string]string{"method": "GET", "host": "orders.acme.example", "path": "/orders/../x"} {
		if line.str(k) != v {
			t.Errorf("malformed request deny line %s = %q, want %q: %s", k, line.str(k), v, line.raw)
		}
	}
	mark = p.mark()
	p.check(t, req{path: "/nowhere?access_token=" + good, auth: bearer(good)})
	line = p.waitLog(t, 5*time.Second, mark, msgIs("deny"))
	if line.str("reason") != "no_route" || line.str("path") != "/nowhere" || line.str("host") != "orders.acme.example" {
		t.Errorf("no_route deny line %s", line.raw)
	}

	// Allows are logged at debug, without the token either.
	as.Claims(good, goodClaims(nil))
	mark = p.mark()
	p.check(t, req{method: "HEAD", auth: bearer(good)})
	p.check(t, req{auth: bearer(good + "x")})
	p.waitLog(t, 5*time.Second, mark, func(l logLine) bool { return l.str("token_id") == tokenID(good+"x") }) // the last line
	all := p.stderr.String() + p.stdout.String()
	for _, secret := range []string{inactive, good, acmeSecret, "s3cret"} {
		if strings.Contains(all, secret) {
			t.Errorf("the logs contain %q", secret)
		}
	}
	for _, l := range p.stderr.lines() {
		if id := l.str("token_id"); id != "" && len(id) != 12 {
			t.Errorf("token_id %q is not 12 hex digits: %s", id, l.raw)
		}
	}
}

// TestLogDurationsReadLikeTheConfig: durations in log lines are Go
// durations ("5s"), not nanoseconds. The "down" tenant's server refuses
// connections, so its breaker opens and logs its cool-down.
func TestLogDurationsReadLikeTheConfig(t *testing.T) {
	t.Parallel()
	_, p := serveAcme(t, cfg{})
	mark := p.mark()
	for i := range 6 {
		if a := p.check(t, req{host: "down.example", path: "/", auth: bearer("tok-down-" + strings.Repeat("x", i+1))}); a.status != 503 {
			t.Fatalf("down tenant: %d, want 503", a.status)
		}
	}
	line := p.waitLog(t, 5*time.Second, mark, msgIs("circuit breaker state changed"))
	if got := line.str("cool_down"); got != "5s" {
		t.Errorf("cool_down = %q, want \"5s\": %s", got, line.raw)
	}
}
