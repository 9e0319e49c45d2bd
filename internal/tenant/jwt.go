package tenant

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/http"

	jose "github.com/go-jose/go-jose/v4"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	noopmetric "go.opentelemetry.io/otel/metric/noop"

	"github.com/tokengate/tokengate/internal/config"
	"github.com/tokengate/tokengate/introspection"
	"github.com/tokengate/tokengate/introspection/cache"
	"github.com/tokengate/tokengate/introspection/jwtaccess"
)

// tracerName names the spans of the local JWT checks.
const tracerName = "github.com/tokengate/tokengate/introspection/jwtaccess"

// newTransport is the tenant's one HTTP transport, for its introspection
// client and its JWKS alike: the introspection section's TLS settings
// (ca_file, insecure_skip_verify; the system roots alone without the
// section), pooled; with tracing, each request is a child client span
// whose traceparent reaches the server.
func newTransport(opts introspection.Options, env Env) (http.RoundTripper, error) {
	if opts.Transport != nil {
		return opts.Transport, nil
	}
	base, err := introspection.NewTransport(opts)
	if err != nil {
		return nil, err
	}
	if env.TracerProvider == nil {
		return base, nil
	}
	return otelhttp.NewTransport(base,
		otelhttp.WithTracerProvider(env.TracerProvider),
		otelhttp.WithPropagators(env.Propagator),
		otelhttp.WithMeterProvider(noopmetric.NewMeterProvider())), nil
}

// newJWKS is the key set of the tenant's JWT access tokens (nil with
// jwt.mode off): jwt.jwks_url, else discovered from the issuer.
func newJWKS(cfg *config.Tenant, hc *http.Client, env Env) (*introspection.JWKS, error) {
	if !cfg.JWT.On() {
		return nil, nil
	}
	return keySet(cfg, cfg.JWT.JWKSURL, cfg.Issuer, hc, env, "jwt")
}

// keySet is a key set of tenant cfg on hc: url, else the jwks_uri
// discovered from issuer's metadata. Each fetch attempt is bounded by the
// introspection timeout (its default without the section) and counted
// (tokengate_jwks_fetches_total). what (the section) prefixes an error.
func keySet(cfg *config.Tenant, url, issuer string, hc *http.Client, env Env, what string) (*introspection.JWKS, error) {
	timeout := cfg.Introspection.Timeout
	if timeout <= 0 {
		timeout = introspection.DefaultTimeout
	}
	o := introspection.JWKSOptions{
		URL: url, Issuer: issuer, HTTPClient: hc,
		UserAgent: introspection.DefaultUserAgent, Timeout: timeout,
	}
	if obs := env.Metrics.JWKSObserver(cfg.Name); obs != nil {
		o.Observer = obs
	}
	jwks, err := introspection.NewJWKS(o)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return jwks, nil
}

// sharesJWKS reports whether the tenant's signed introspection responses
// (response_format jwt) come with the keys of the same URL as its JWT
// access tokens, so that one JWKS serves both.
func sharesJWKS(cfg *config.Tenant) bool {
	in := &cfg.Introspection
	return cfg.JWT.On() && cfg.HasIntrospection() && in.ResponseFormat == introspection.ResponseJWT &&
		in.JWKSURL != "" && in.JWKSURL == cfg.JWT.JWKSURL
}

// jwtLayer is the local JWT layer of the chain (nil, no layer, with
// jwt.mode off).
func jwtLayer(cfg *config.Tenant, jwks *introspection.JWKS, env Env) (introspection.Middleware, error) {
	if !cfg.JWT.On() {
		return nil, nil
	}
	algs := make([]jose.SignatureAlgorithm, len(cfg.JWT.Algorithms))
	for i, a := range cfg.JWT.Algorithms {
		algs[i] = jose.SignatureAlgorithm(a)
	}
	v, err := jwtaccess.New(jwtaccess.Options{Issuer: cfg.Issuer, Algorithms: algs, Types: cfg.JWT.Types, Keys: jwks})
	if err != nil {
		return nil, fmt.Errorf("jwt: %w", err)
	}
	o := jwtaccess.LayerOptions{Mode: cfg.JWT.Mode, Introspects: cfg.HasIntrospection(), Leeway: cfg.Leeway}
	if env.TracerProvider != nil {
		o.Tracer = env.TracerProvider.Tracer(tracerName)
	}
	return v.Middleware(o), nil
}

// fingerprint is the cache fingerprint of the tenant (see
// cache.Fingerprint): with a JWT mode, the jwt settings are part of it, so
// that claims checked under other settings (another key set, alg or typ
// list, or mode) are never read back, locally or from Redis. With mode
// off it is cache.Fingerprint's, unchanged.
func fingerprint(cfg *config.Tenant, opts introspection.Options) string {
	fp := cache.Fingerprint(opts)
	if !cfg.JWT.On() {
		return fp
	}
	h := sha256.New()
	for _, f := range []string{"tokengate jwt fingerprint v1", fp, cfg.JWT.Key()} {
		h.Write(binary.BigEndian.AppendUint32(nil, uint32(len(f))))
		h.Write([]byte(f))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// jwtKey is what of the jwt section the reuse of a Runtime's parts
// depends on: "" with mode off, whatever the other keys say.
func jwtKey(cfg *config.Tenant) string {
	if !cfg.JWT.On() {
		return ""
	}
	return cfg.JWT.Key()
}
