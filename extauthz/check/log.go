package check

import (
	"context"
	"log/slog"
	"strings"
	"unicode/utf8"

	"go.opentelemetry.io/otel/trace"

	"github.com/tokengate/tokengate/extauthz/decision"
)

// logOutcome logs a check's answer: a deny at info, an allow at debug.
func (c *Checker) logOutcome(ctx context.Context, req *Request, out *Outcome) {
	if out.Decision.Allow {
		c.logDecision(ctx, slog.LevelDebug, "allow", req, out, &out.Decision)
		return
	}
	c.logDecision(ctx, slog.LevelInfo, "deny", req, out, &out.Decision)
}

// logDecision logs one line about d, a decision of out: the deny line's
// fields (also those of "allow" and "shadow deny" lines).
func (c *Checker) logDecision(ctx context.Context, level slog.Level, msg string, req *Request, out *Outcome, d *decision.Decision) {
	if !c.log.Enabled(ctx, level) {
		return
	}
	attrs := []slog.Attr{
		slog.String("tenant", out.Tenant),
		slog.String("route", out.Route),
		slog.String("reason", string(d.Reason)),
		slog.Int("status", d.Status),
	}
	if out.TokenID != "" {
		attrs = append(attrs, slog.String("token_id", out.TokenID))
	}
	if r := d.Reason; r == decision.NoRoute || r == decision.MalformedRequest {
		// No route and tenant to tell which request it was: say what was
		// asked (never the query string, which may carry credentials).
		attrs = append(attrs, slog.String("method", clip(req.Method)), slog.String("host", clip(req.Host)),
			slog.String("path", clip(pathOnly(req.Path))))
	}
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		attrs = append(attrs, slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	}
	c.log.LogAttrs(ctx, level, msg, attrs...)
}

// logFieldMax bounds a request field in a log line: enough to recognise a
// path, too little for a client to fill the logs.
const logFieldMax = 256

// clip cuts s to logFieldMax bytes, at a UTF-8 boundary, marking the cut.
func clip(s string) string {
	if len(s) <= logFieldMax {
		return s
	}
	cut := logFieldMax
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// pathOnly is the path without its query string and fragment.
func pathOnly(p string) string {
	if i := strings.IndexAny(p, "?#"); i >= 0 {
		return p[:i]
	}
	return p
}
