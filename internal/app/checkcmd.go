package app

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/tokengate/tokengate/extauthz/check"
	"github.com/tokengate/tokengate/extauthz/decision"
	"github.com/tokengate/tokengate/internal/config"
	"github.com/tokengate/tokengate/internal/tenant"
	"github.com/tokengate/tokengate/introspection"
	"github.com/tokengate/tokengate/introspection/jwtaccess"
)

// headerFlags collects repeated --header k:v flags.
type headerFlags map[string]string

func (h headerFlags) String() string { return "" }
func (h headerFlags) Set(v string) error {
	k, val, ok := strings.Cut(v, ":")
	if !ok || strings.TrimSpace(k) == "" {
		return errors.New(`want "name: value"`)
	}
	h[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(val)
	return nil
}

// explanation is what `tokengate check` prints.
type explanation struct {
	Decision        string            `json:"decision"`
	Status          int               `json:"status"`
	Reason          string            `json:"reason"`
	Tenant          string            `json:"tenant,omitempty"`
	Route           string            `json:"route,omitempty"`
	WWWAuthenticate string            `json:"www_authenticate,omitempty"`
	Body            json.RawMessage   `json:"body,omitempty"`
	HeadersSet      map[string]string `json:"headers_set,omitempty"`
	HeadersRemoved  []string          `json:"headers_to_remove,omitempty"`
	Cache           string            `json:"cache"`
	// Path is what gave the claims or refused the token: "cache",
	// "local" (the JWT checks of jwt.mode) or "introspection"; absent
	// when no token was looked at.
	Path            string  `json:"path,omitempty"`
	IntrospectionMS float64 `json:"introspection_ms"`
	TokenID         string  `json:"token_id,omitempty"`
	// Cause says why introspection failed (reason introspection_error):
	// the authorization server's status and OAuth error, or the transport
	// failure; Hint what to look at. Never a token or secret.
	Cause string `json:"cause,omitempty"`
	Hint  string `json:"hint,omitempty"`
	// Explain (--explain) puts the token's value beside the expected one
	// for a deny decided on the token's claims.
	Explain map[string]explainItem `json:"explain,omitempty"`
}

// explainItem is one check that failed: what the token has, what the
// route or tenant expects, and the rule in words.
type explainItem struct {
	Token    any      `json:"token"`
	Expected any      `json:"expected"`
	Missing  []string `json:"missing,omitempty"`
	Rule     string   `json:"rule"`
}

func checkCmd() *command {
	c := &command{
		name:     "check",
		summary:  "make one real decision and print it as JSON",
		synopsis: `tokengate check --config FILE [--host H] [--method M] [--path P] [--route NAME] [--header "k: v"]... [--token T | --token-file F] [--explain]`,
		description: `Decide one request through the same code as serve, with real introspection
at the tenant's authorization server, and print the decision as JSON on
stdout: decision, status, reason, tenant, route, the WWW-Authenticate
challenge and body of a deny or the headers an allow sets and removes, the
cache state, the path that gave the claims ("path": "cache", "local" for
the JWT checks of jwt.mode, or "introspection") and the introspection
latency.

When introspection fails (reason introspection_error, status 503), "cause"
says why: the authorization server's status and OAuth error (401 with
"invalid_client": wrong client_id or client_secret) or the connection failure
(connection refused, timed out, TLS), and "hint" what to look at.

A DPoP proof goes in --header "DPoP: <proof>": the token (--token or
--token-file) is then sent with the DPoP scheme. Each proof is good once.

--explain adds "explain" to a deny decided on the token's claims (audience,
issuer, scope, token_type, expired, not_yet_valid, inactive): the token's
value beside the expected one. Neither the token nor a secret is printed.`,
		examples: []string{
			"tokengate check --config tokengate.yaml --host orders.acme.example --path /orders/1 --token-file ./token",
			`tokengate check --config tokengate.yaml --method POST --host orders.acme.example --path /orders --header "Authorization: Bearer $TOKEN" --explain`,
			"tokengate check --config tokengate.yaml --route health --path /healthz",
		},
		exitCodes: []string{
			"0  allow",
			"1  deny (also 503 introspection_error: the answer Envoy would get)",
			"2  error: usage, an unreadable or invalid configuration, an unreadable --token-file",
		},
	}
	c.flags = func(fs *flag.FlagSet) func(context.Context, Env) int {
		var f checkFlags
		f.headers = headerFlags{}
		fs.StringVar(&f.config, "config", "", "configuration `FILE` (required)")
		fs.StringVar(&f.method, "method", "GET", "the checked request's `METHOD`")
		fs.StringVar(&f.host, "host", "", "the checked request's `HOST` (default: the --header \"host: ...\")")
		fs.StringVar(&f.path, "path", "/", "the checked request's `PATH`, with its query")
		fs.StringVar(&f.route, "route", "", "select the route by `NAME` instead of by host, path and method, as Envoy's context extension does")
		fs.StringVar(&f.token, "token", "", "bearer token `T` (prefer --token-file: arguments are visible to other users)")
		fs.StringVar(&f.tokenFile, "token-file", "", "`FILE` holding the bearer token")
		fs.Var(f.headers, "header", "request header `\"NAME: VALUE\"` (repeatable; e.g. \"Authorization: Bearer ...\")")
		fs.BoolVar(&f.explain, "explain", false, "on a deny decided on the token's claims, show the token's value beside the expected one")
		return func(ctx context.Context, env Env) int {
			if f.config == "" {
				return c.usageError(env, "--config is required")
			}
			if f.token != "" && f.tokenFile != "" {
				return c.usageError(env, "--token and --token-file exclude each other")
			}
			return checkCommand(ctx, env, &f)
		}
	}
	return c
}

type checkFlags struct {
	config, method, host, path, route, token, tokenFile string
	headers                                             headerFlags
	explain                                             bool
}

// checkCommand runs one check through the real code path (real
// introspection) and explains the decision. Exit 0 allow, 1 deny, 2 error.
func checkCommand(ctx context.Context, env Env, f *checkFlags) int {
	token := f.token
	if f.tokenFile != "" {
		data, err := os.ReadFile(f.tokenFile)
		if err != nil {
			_, _ = fmt.Fprintf(env.Stderr, "--token-file: %v\n", err)
			return 2
		}
		token = strings.TrimSpace(string(data))
	}
	cfg, err := config.Load(f.config)
	var b *built
	if err == nil {
		b, err = build(cfg, nil, tenant.Env{})
	}
	if err != nil {
		printErrors(env.Stderr, err)
		return 2
	}
	defer b.close()
	logger := newLogger(env.Stderr, slog.LevelWarn)
	checker := check.New(b.snap, check.Options{Logger: logger})
	req := check.Request{Method: f.method, Host: f.host, Path: f.path, RouteName: f.route, Authorization: f.headers["authorization"]}
	if proof, ok := f.headers["dpop"]; ok { // --header "DPoP: <proof>", with "Authorization: DPoP <token>"
		req.DPoP = []string{proof}
	}
	if req.Host == "" {
		req.Host = f.headers["host"]
	}
	if token != "" {
		req.Authorization = "Bearer " + token
		if req.DPoP != nil { // a proof comes with the DPoP scheme (RFC 9449 §7.1)
			req.Authorization = "DPoP " + token
		}
	}
	out := checker.Check(ctx, &req)
	if err := writeExplanation(env.Stdout, &out, f.explain, time.Now()); err != nil {
		_, _ = fmt.Fprintln(env.Stderr, err)
		return 2
	}
	if out.Decision.Allow {
		return 0
	}
	return 1
}

func writeExplanation(w io.Writer, out *check.Outcome, explain bool, now time.Time) error {
	d := &out.Decision
	e := explanation{
		Decision: "deny", Status: d.Status, Reason: string(d.Reason), Tenant: out.Tenant, Route: out.Route,
		Cache: string(out.Cache), Path: string(out.Path), IntrospectionMS: float64(out.IntrospectionTime.Microseconds()) / 1000,
		TokenID: out.TokenID,
	}
	if d.Allow {
		e.Decision, e.Status = "allow", 200
		e.HeadersSet = map[string]string{}
		for _, h := range out.Set {
			e.HeadersSet[h.Name] = h.Value
		}
		e.HeadersRemoved = out.Remove
	} else {
		e.WWWAuthenticate = d.Challenge()
		e.Body = d.Body()
	}
	if out.Err != nil {
		// The error's text is the one logged at warn: built to carry no
		// token, secret or server-supplied bytes but a short OAuth code.
		e.Cause = out.Err.Error()
		e.Hint = hintFor(out.Err)
	}
	if explain && !d.Allow && out.Claims != nil && out.RouteRef != nil {
		if key, item, ok := explainDeny(d.Reason, &out.RouteRef.Policy, out.Claims, now); ok {
			e.Explain = map[string]explainItem{key: item}
		}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(e)
}

// hintFor says what to look at for an introspection error.
func hintFor(err error) string {
	var se *introspection.StatusError
	switch {
	case errors.Is(err, jwtaccess.ErrKeysUnavailable):
		return "no JWKS could be fetched for the tenant's JWTs: check jwt.jwks_url, or the jwks_uri of the issuer's metadata (RFC 8414 or OpenID discovery), and that it answers"
	case errors.Is(err, jwtaccess.ErrInvalidSignature):
		return "the JWT's signature, kid, alg or typ is not accepted: compare its header with jwt.algorithms, jwt.typ and the keys of the tenant's JWKS"
	case errors.Is(err, jwtaccess.ErrIssuer):
		return "the JWT's iss is absent or not the tenant's issuer (exact match, a trailing slash matters)"
	case errors.Is(err, jwtaccess.ErrNotJWS):
		return "the token is not a JWT, and the tenant (jwt.mode local) has no introspection to ask about it"
	case errors.As(err, &se) && (se.StatusCode == http.StatusUnauthorized || se.OAuthError == "invalid_client"):
		return "the authorization server refused tokengate's client authentication: check the tenant's client_id, client_secret (or its file, or ${VARIABLE}) and auth_method"
	case errors.As(err, &se) && se.StatusCode == http.StatusForbidden:
		return "the client is not allowed to introspect: grant tokengate's client the introspection permission at the authorization server"
	case errors.As(err, &se) && se.StatusCode == http.StatusNotFound:
		return "check the tenant's introspection.url"
	case errors.As(err, &se) && se.StatusCode >= 500:
		return "the authorization server failed: see its logs"
	case errors.Is(err, syscall.ECONNREFUSED) || strings.Contains(err.Error(), "connection refused"):
		return "nothing listens at the tenant's introspection.url: check its host and port, and that the authorization server runs"
	case errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "timed out"):
		return "no answer within the tenant's introspection.timeout: check the network path to the authorization server, or raise the timeout"
	case strings.Contains(err.Error(), "TLS") || strings.Contains(err.Error(), "certificate"):
		return "TLS to the authorization server failed: check introspection.ca_file and the server's certificate"
	case strings.Contains(err.Error(), "DNS"):
		return "the authorization server's host name does not resolve: check introspection.url"
	}
	return ""
}

// explainDeny puts the token's value beside the expected one for a deny
// decided on the claims (see decision.Decide); ok is false for the other
// reasons.
func explainDeny(r decision.Reason, p *decision.Policy, c *introspection.Claims, now time.Time) (key string, item explainItem, ok bool) {
	ts := func(t time.Time) string { return t.UTC().Format(time.RFC3339) }
	nonNil := func(s []string) []string {
		if s == nil {
			return []string{}
		}
		return s
	}
	switch r {
	case decision.Inactive:
		return "inactive", explainItem{Token: c.Active, Expected: true,
			Rule: "the authorization server answered active:false (the token is unknown, expired, revoked, or not for this client)"}, true
	case decision.Expired:
		return "expired", explainItem{Token: ts(c.Expiry), Expected: "after " + ts(now.Add(-p.Leeway)),
			Rule: fmt.Sprintf("exp must be later than now minus the leeway (%s)", p.Leeway)}, true
	case decision.NotYetValid:
		return "not_yet_valid", explainItem{Token: ts(c.NotBefore), Expected: "before " + ts(now.Add(p.Leeway)),
			Rule: fmt.Sprintf("nbf must be earlier than now plus the leeway (%s)", p.Leeway)}, true
	case decision.Issuer:
		return "issuer", explainItem{Token: c.Issuer, Expected: p.Issuer,
			Rule: "iss, when present, must equal the tenant's issuer exactly (a trailing slash matters)"}, true
	case decision.TokenType:
		return "token_type", explainItem{Token: c.TokenType, Expected: nonNil(p.TokenTypes),
			Rule: "token_type, when present, must be one of the tenant's token_types (case-insensitive)"}, true
	case decision.Audience:
		return "audience", explainItem{Token: nonNil(c.Audience), Expected: nonNil(p.Audiences),
			Rule: "aud must contain one of the expected audiences (the route's audiences, else the tenant's)"}, true
	case decision.InsufficientScope:
		var missing []string
		for _, s := range p.Scopes {
			if !c.HasScope(s) {
				missing = append(missing, s)
			}
		}
		if len(missing) > 0 {
			return "scope", explainItem{Token: nonNil(c.Scopes), Expected: p.Scopes, Missing: missing,
				Rule: "the token must have every one of the route's scopes"}, true
		}
		return "scope", explainItem{Token: nonNil(c.Scopes), Expected: nonNil(p.AnyScopes),
			Rule: "the token must have at least one of the route's any_scopes"}, true
	}
	return "", explainItem{}, false
}
