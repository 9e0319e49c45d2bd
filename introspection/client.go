package introspection

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/tokengate/tokengate/httpsyntax"
)

// Client is an RFC 7662 introspection client for one tenant. It implements
// Introspector.
//
// A Client is safe for concurrent use by multiple goroutines and is meant to
// be shared: it owns a pool of connections to its authorization server
// (also used for its token endpoint and JWKS), and, depending on Options,
// the private key that signs client assertions (private_key_jwt), the
// current client-credentials access token (bearer) and the cached JWKS
// keys (response_format jwt). None of these is ever logged or put in an
// error.
//
// Options are copied by NewClient; later changes to the caller's Options
// (including its Headers map) do not affect the Client.
type Client struct {
	tenant  string
	url     string
	host    string // Host override from Options.Headers; "" means from url
	timeout time.Duration
	header  http.Header // static headers, cloned for every request
	form    url.Values  // static form fields (client credentials), never mutated
	hint    string
	secret  string // only to keep it out of quoted server error codes
	http    *http.Client
	auth    requestAuthorizer    // per-attempt credentials; nil for the static methods
	jwt     *jwtResponseVerifier // nil unless ResponseFormat is "jwt"
}

// Compile-time check that *Client is an Introspector.
var _ Introspector = (*Client)(nil)

// NewClient validates opts and builds a client for one tenant. Errors name
// the tenant and the field but never the secret.
func NewClient(opts Options) (*Client, error) {
	fail := func(format string, args ...any) (*Client, error) {
		return nil, fmt.Errorf("introspection client for tenant %q: "+format, append([]any{opts.Tenant}, args...)...)
	}
	u, err := url.Parse(opts.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		// The parse error is not shown: it quotes the URL, which may carry
		// query parameters the operator considers secret.
		return fail("url must be an absolute http or https URL")
	}
	if u.User != nil {
		// net/http would turn userinfo into a Basic header behind our back.
		return fail("url must not contain credentials; use client_id and client_secret")
	}
	if opts.Timeout < 0 {
		return fail("timeout must not be negative")
	}
	opts = opts.WithDefaults()
	c := &Client{
		tenant:  opts.Tenant,
		url:     u.String(),
		timeout: opts.Timeout,
		hint:    opts.TokenTypeHint,
		secret:  opts.ClientSecret,
		header:  make(http.Header),
		form:    make(url.Values),
	}

	switch opts.ResponseFormat {
	case ResponseJSON:
		c.header.Set("Accept", "application/json")
	case ResponseJWT:
		if opts.ClientID == "" {
			return fail("response_format jwt needs client_id: signed responses must name it in aud")
		}
		if !isHTTPURL(opts.JWKSURL) {
			return fail("response_format jwt needs jwks_url, an absolute http or https URL without credentials")
		}
		c.header.Set("Accept", JWTResponseMediaType)
	default:
		return fail("unknown response_format %q", opts.ResponseFormat)
	}
	c.header.Set("User-Agent", opts.UserAgent)
	method := opts.AuthMethod
	for name, value := range opts.Headers {
		if !httpsyntax.IsToken(name) {
			return fail("header name %q is not a valid HTTP token", name)
		}
		if !httpsyntax.IsSafeValue(value) {
			// The value is not shown: headers often carry API keys.
			return fail("header %q has a control character in its value", name)
		}
		switch canonical := http.CanonicalHeaderKey(name); canonical {
		case "Content-Type", "Content-Length", "Transfer-Encoding", "Connection":
			return fail("header %q is set by the client and cannot be configured", canonical)
		case "Authorization":
			if method != AuthNone {
				return fail("header \"Authorization\" conflicts with auth_method %s", method)
			}
			c.header.Set(canonical, value)
		case "Host":
			c.host = value
		default:
			c.header.Set(canonical, value)
		}
	}

	switch method {
	case AuthClientSecretBasic, AuthClientSecretPost:
		if opts.ClientID == "" || opts.ClientSecret == "" {
			return fail("auth_method %s needs client_id and client_secret", method)
		}
		if method == AuthClientSecretBasic {
			// RFC 6749 §2.3.1: form-url-encode both halves, then Basic. A
			// plain SetBasicAuth would break on a ":" in the client id.
			creds := url.QueryEscape(opts.ClientID) + ":" + url.QueryEscape(opts.ClientSecret)
			c.header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(creds)))
		} else {
			c.form.Set("client_id", opts.ClientID)
			c.form.Set("client_secret", opts.ClientSecret)
		}
	case AuthNone:
		if opts.ClientID != "" {
			c.form.Set("client_id", opts.ClientID)
		}
	case AuthPrivateKeyJWT:
		signer, err := newAssertionSigner(opts, c.url)
		if err != nil {
			return fail("%w", err)
		}
		c.form.Set("client_id", opts.ClientID)
		c.auth = signer
	case AuthBearer:
		// Set up below, once the transport exists.
	default:
		return fail("unknown auth_method %q", method)
	}
	c.header.Set("Content-Type", "application/x-www-form-urlencoded")

	rt := opts.Transport
	if rt == nil {
		t, err := NewTransport(opts)
		if err != nil {
			return fail("%w", err)
		}
		rt = t
	}
	c.http = &http.Client{
		Transport: rt,
		// A redirect is an error, not something to follow: re-posting the
		// token (and credentials) to wherever a Location points would leak
		// them, and RFC 7662 has no redirects.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	if method == AuthBearer {
		b, err := newBearerAuth(opts, rt, c.timeout)
		if err != nil {
			return fail("%w", err)
		}
		c.auth = b
	}
	if opts.ResponseFormat == ResponseJWT {
		jwks := opts.JWKS
		if jwks == nil {
			jwks = newJWKSFetcher(opts.JWKSURL, c.http, c.header.Get("User-Agent"))
		}
		c.jwt = &jwtResponseVerifier{issuer: opts.Issuer, audience: opts.ClientID, jwks: jwks, now: time.Now}
	}
	return c, nil
}

// isHTTPURL reports whether s is an absolute http(s) URL without userinfo.
func isHTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && u.User == nil
}

// NewTransport returns the dedicated, pooled transport NewClient uses when
// Options.Transport is nil: TLS 1.2 or newer, the system roots plus
// opts.CAFile, opts.InsecureSkipVerify, proxies from the environment
// (HTTPS_PROXY, NO_PROXY). It is exported so that wiring code can wrap it
// (for tracing) and pass the wrapper back as Options.Transport.
func NewTransport(opts Options) (*http.Transport, error) {
	tlsConf := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: opts.InsecureSkipVerify, //nolint:gosec // explicit operator choice
	}
	if opts.CAFile != "" {
		pool, err := RootsWithCA(opts.CAFile)
		if err != nil {
			return nil, err
		}
		tlsConf.RootCAs = pool
	}
	return &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		// No dial timeout of its own: the call's context bounds everything.
		DialContext:            (&net.Dialer{KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:        tlsConf,
		ForceAttemptHTTP2:      true, // a custom TLSClientConfig would otherwise turn HTTP/2 off
		MaxIdleConns:           maxIdleConnsPerHost,
		MaxIdleConnsPerHost:    maxIdleConnsPerHost,
		IdleConnTimeout:        90 * time.Second,
		TLSHandshakeTimeout:    10 * time.Second,
		MaxResponseHeaderBytes: MaxResponseBytes,
	}, nil
}

// Close closes the client's idle connections; call it when the tenant goes
// away (for example on a config reload). It does not interrupt calls in
// flight, and a closed Client still works (it dials again), so a reload
// racing with checks is harmless.
func (c *Client) Close() { c.http.CloseIdleConnections() }

// Introspect asks the authorization server about token. The token is only
// sent to the server: it is not kept, logged or put in errors.
//
// The call, including at most one retry, is bounded by the earlier of ctx's
// deadline and Options.Timeout; cancelling ctx aborts it at once. The retry
// happens only for a connection that failed before any response byte
// arrived (refused, reset, closed), never for a timeout or any HTTP
// response. Only status 200 with a valid body is an answer; every failure
// wraps ErrIntrospection, and a non-200 status is a *StatusError. Transport
// failures, timeouts, 5xx and 429 also wrap ErrServerUnavailable (or, for
// timeouts, context.DeadlineExceeded); an unusable answer (another status,
// a body that is not a valid response) does not.
func (c *Client) Introspect(ctx context.Context, token string) (Result, error) {
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()

	form := maps.Clone(c.form) // c.form is shared by concurrent calls
	form.Set("token", token)
	if c.hint != "" {
		form.Set("token_type_hint", c.hint)
	}

	for attempt := 1; ; attempt++ {
		claims, retry, err := c.attempt(ctx, form, token)
		if err == nil {
			return Result{Claims: claims, Cache: CacheNone}, nil
		}
		if ctx.Err() != nil {
			return Result{}, c.contextError(parent, ctx)
		}
		if !retry || attempt == 2 {
			return Result{}, err
		}
	}
}

// attempt makes one request. retry reports whether the failure happened on
// the connection before any response byte, where a second try is safe (an
// introspection has no side effects) and likely to get a fresh connection.
// form belongs to this call: the auth method may set fields in it, fresh
// for every attempt (a client assertion's jti is never reused).
func (c *Client) attempt(ctx context.Context, form url.Values, token string) (claims *Claims, retry bool, err error) {
	header := c.header.Clone()
	var auth authorization
	if c.auth != nil {
		if auth, err = c.auth.authorize(ctx, form, header); err != nil {
			return nil, false, c.wrap(err)
		}
	}
	var gotResponseByte atomic.Bool
	trace := &httptrace.ClientTrace{GotFirstResponseByte: func() { gotResponseByte.Store(true) }}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), http.MethodPost, c.url, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, false, c.errorf("building the request failed")
	}
	req.Header = header
	if c.host != "" {
		req.Host = c.host
	}
	resp, err := c.http.Do(req)
	if err != nil {
		early := !gotResponseByte.Load()
		return nil, early && isConnectionFailure(err), unavailable(c.errorf("%s", describeTransportError(err, !early)))
	}
	defer func() { _ = resp.Body.Close() }() // what was needed is read by then: a Close error loses nothing

	if resp.StatusCode != http.StatusOK {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBodyBytes))
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBodyBytes)) // lets the connection be reused
		if resp.StatusCode == http.StatusUnauthorized && auth.rejected != nil {
			auth.rejected()
		}
		return nil, false, &StatusError{Tenant: c.tenant, StatusCode: resp.StatusCode, OAuthError: c.oauthErrorCode(data, token, auth.credential)}
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBytes+1))
	if err != nil {
		return nil, false, unavailable(c.errorf("reading the response failed: %s", describeTransportError(err, false)))
	}
	if len(data) > MaxResponseBytes {
		return nil, false, c.errorf("response body is larger than 1 MiB")
	}
	if c.jwt != nil {
		if data, err = c.jwt.verify(ctx, resp.Header.Get("Content-Type"), data); err != nil {
			return nil, false, c.wrap(err)
		}
	}
	claims, err = ParseClaims(data)
	if err != nil {
		// ParseClaims says "introspection failed: <why>"; say it once, with
		// the tenant.
		return nil, false, c.errorf("%s", strings.TrimPrefix(err.Error(), ErrIntrospection.Error()+": "))
	}
	return claims, false, nil
}

// contextError explains why ctx ended: the caller's cancellation or
// deadline, or the client's own Timeout. It wraps the context error too, so
// callers can tell a timeout from a broken server.
func (c *Client) contextError(parent, ctx context.Context) error {
	if err := parent.Err(); err != nil {
		if errors.Is(err, context.Canceled) {
			return c.wrapf(err, "canceled by the caller")
		}
		return c.wrapf(err, "caller's deadline exceeded")
	}
	return c.wrapf(ctx.Err(), "no answer within %s", c.timeout)
}

func (c *Client) errorf(format string, args ...any) error {
	return fmt.Errorf("%w: %s%s", ErrIntrospection, tenantPrefix(c.tenant), fmt.Sprintf(format, args...))
}

// wrap marks cause, a short text with nothing secret in it, as this
// tenant's introspection failure.
func (c *Client) wrap(cause error) error {
	return fmt.Errorf("%w: %s%w", ErrIntrospection, tenantPrefix(c.tenant), cause)
}

func (c *Client) wrapf(cause error, format string, args ...any) error {
	return fmt.Errorf("%w: %s%s: %w", ErrIntrospection, tenantPrefix(c.tenant), fmt.Sprintf(format, args...), cause)
}

func tenantPrefix(tenant string) string {
	if tenant == "" {
		return ""
	}
	return "tenant " + tenant + ": "
}

// RootsWithCA returns the system roots plus the certificates of the PEM file
// caFile: a ca_file adds to the system roots rather than replacing them, so
// pointing at a private CA does not break public ones.
func RootsWithCA(caFile string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("ca_file: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("ca_file %s: no PEM certificate found", caFile)
	}
	return pool, nil
}
