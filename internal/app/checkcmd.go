package app

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/tokengate/tokengate/extauthz/check"
	"github.com/tokengate/tokengate/internal/config"
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
	IntrospectionMS float64           `json:"introspection_ms"`
	TokenID         string            `json:"token_id,omitempty"`
}

// checkCommand runs one check through the real code path (real
// introspection) and explains the decision. Exit 0 allow, 1 deny, 2 error.
func checkCommand(ctx context.Context, env Env, args []string) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	headers := headerFlags{}
	path := fs.String("config", "", "configuration file")
	method := fs.String("method", "GET", "the checked request's method")
	host := fs.String("host", "", "the checked request's host")
	reqPath := fs.String("path", "/", "the checked request's path (with query)")
	route := fs.String("route", "", "select a route by name, as Envoy's context extension does")
	token := fs.String("token", "", "bearer token (prefer --token-file: arguments are visible to other users)")
	tokenFile := fs.String("token-file", "", "file holding the bearer token")
	fs.Var(headers, "header", `request header "name: value" (repeatable)`)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *path == "" {
		fmt.Fprintln(env.Stderr, "--config is required")
		return 2
	}
	if *token != "" && *tokenFile != "" {
		fmt.Fprintln(env.Stderr, "--token and --token-file exclude each other")
		return 2
	}
	if *tokenFile != "" {
		data, err := os.ReadFile(*tokenFile)
		if err != nil {
			fmt.Fprintf(env.Stderr, "--token-file: %v\n", err)
			return 2
		}
		*token = strings.TrimSpace(string(data))
	}
	cfg, err := config.Load(*path)
	var b *built
	if err == nil {
		b, err = build(cfg, nil, buildEnv{})
	}
	if err != nil {
		for _, line := range errorLines(err) {
			fmt.Fprintln(env.Stderr, line)
		}
		return 2
	}
	defer b.close()
	logger := slog.New(slog.NewJSONHandler(env.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	checker := check.New(b.snap, check.Options{Logger: logger})
	req := check.Request{Method: *method, Host: *host, Path: *reqPath, RouteName: *route, Authorization: headers["authorization"]}
	if req.Host == "" {
		req.Host = headers["host"]
	}
	if *token != "" {
		req.Authorization = "Bearer " + *token
	}
	out := checker.Check(ctx, &req)
	if err := writeExplanation(env.Stdout, &out); err != nil {
		fmt.Fprintln(env.Stderr, err)
		return 2
	}
	if out.Decision.Allow {
		return 0
	}
	return 1
}

func writeExplanation(w io.Writer, out *check.Outcome) error {
	d := &out.Decision
	e := explanation{
		Decision: "deny", Status: d.Status, Reason: string(d.Reason), Tenant: out.Tenant, Route: out.Route,
		Cache: string(out.Cache), IntrospectionMS: float64(out.IntrospectionTime.Microseconds()) / 1000,
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
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(e)
}
