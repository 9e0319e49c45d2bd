// Command devauthz is a development-only OAuth 2.0 authorization server with
// an RFC 7662 introspection endpoint and a fixed set of demo tokens. It exists
// so that `make demo` and local experiments need nothing from outside. Never
// use it for anything real: its tokens and client secret are public.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// Demo client credentials tokengate authenticates with (client_secret_basic).
const (
	clientID     = "demo-rs"
	clientSecret = "demo-secret"
	issuer       = "https://dev-idp.tokengate.example"
)

// demoToken describes what introspection answers for one demo token.
type demoToken struct {
	Token  string
	About  string
	Claims func(now time.Time) map[string]any
}

func activeClaims(now time.Time, sub, scope, aud string) map[string]any {
	return map[string]any{
		"active": true, "sub": sub, "client_id": "demo-app", "username": sub,
		"scope": scope, "aud": aud, "iss": issuer, "token_type": "Bearer",
		"iat": now.Add(-time.Minute).Unix(), "exp": now.Add(time.Hour).Unix(),
	}
}

var tokens = []demoToken{
	{"demo-reader", "active; scope orders.read; aud api://orders", func(now time.Time) map[string]any {
		return activeClaims(now, "alice", "orders.read", "api://orders")
	}},
	{"demo-writer", "active; scopes orders.read orders.write; aud as an array", func(now time.Time) map[string]any {
		c := activeClaims(now, "bob", "orders.read orders.write", "")
		c["aud"] = []string{"api://orders", "api://billing"}
		return c
	}},
	{"demo-inactive", "revoked or unknown: active false", func(time.Time) map[string]any {
		return map[string]any{"active": false}
	}},
	{"demo-wrong-audience", "active, but for api://billing", func(now time.Time) map[string]any {
		return activeClaims(now, "carol", "orders.read", "api://billing")
	}},
	{"demo-expired", "active:true but exp an hour ago (a lagging server)", func(now time.Time) map[string]any {
		c := activeClaims(now, "dave", "orders.read", "api://orders")
		c["exp"] = now.Add(-time.Hour).Unix()
		return c
	}},
	{"demo-refresh", "a refresh token that introspects active:true", func(now time.Time) map[string]any {
		c := activeClaims(now, "erin", "orders.read", "api://orders")
		c["token_type"] = "refresh_token"
		return c
	}},
}

func main() {
	addr := flag.String("address", "127.0.0.1:0", "listen address")
	flag.Parse()
	lis, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	// The first line of stdout is the base URL, for scripts.
	fmt.Printf("http://%s\n", lis.Addr())
	os.Stdout.Sync()
	for _, t := range tokens {
		log.Printf("demo token %-20s %s", t.Token, t.About)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /oauth2/introspect", introspect)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(lis)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	shutdown, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	srv.Shutdown(shutdown)
}

func introspect(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	id, secret, ok := r.BasicAuth()
	if !ok || id != clientID || secret != clientSecret {
		w.Header().Set("WWW-Authenticate", `Basic realm="devauthz"`)
		w.WriteHeader(http.StatusUnauthorized)
		json.NewEncoder(w).Encode(map[string]string{"error": "invalid_client"})
		return
	}
	token := r.PostFormValue("token")
	if token == "" {
		w.WriteHeader(http.StatusBadRequest)
		json.NewEncoder(w).Encode(map[string]string{"error": "invalid_request"})
		return
	}
	answer := map[string]any{"active": false}
	for _, t := range tokens {
		if t.Token == token {
			answer = t.Claims(time.Now())
		}
	}
	json.NewEncoder(w).Encode(answer)
}
