package introspection

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/sync/singleflight"
)

const (
	// JWKSRefetchInterval is the least time between the end of one JWKS
	// fetch attempt and the start of the next: a token or response signed
	// with an unknown key triggers at most one fetch per interval, so a
	// stream of random kids cannot turn into a stream of JWKS requests.
	JWKSRefetchInterval = 10 * time.Second
	// JWKSMaxAge is how long fetched keys are used before they are fetched
	// again (so that a key the server withdrew stops being trusted). If
	// that fetch fails, the old keys stay in use.
	JWKSMaxAge = 5 * time.Minute
	// DefaultJWKSTimeout bounds one fetch attempt (metadata discovery
	// included) when JWKSOptions.Timeout is zero.
	DefaultJWKSTimeout = 5 * time.Second
)

// ErrJWKSUnavailable says no key set has been fetched yet and the last
// attempt failed (or the caller's context ended waiting for the first
// one). It wraps the attempt's cause; callers answer 503.
var ErrJWKSUnavailable = errors.New("JWKS unavailable")

// ErrNoMatchingKey says a key set is there, but no key of it fits the JWS
// header's kid and alg, even after the refetch the rate limit allowed: the
// signature is not acceptable (not a server problem).
var ErrNoMatchingKey = errors.New("no key of the JWKS matches the kid and alg")

// JWKSFetchOutcome labels the result of one fetch attempt for metrics.
type JWKSFetchOutcome string

// The outcomes reported to a JWKSObserver.
const (
	// JWKSFetchSuccess: a key set was fetched and replaced the cached one.
	JWKSFetchSuccess JWKSFetchOutcome = "success"
	// JWKSFetchUnavailable: connection failure, timeout, 5xx or 429 (from
	// the JWKS or the metadata endpoint).
	JWKSFetchUnavailable JWKSFetchOutcome = "unavailable"
	// JWKSFetchInvalid: any other status, or a body that is not a usable
	// key set or metadata document.
	JWKSFetchInvalid JWKSFetchOutcome = "invalid"
)

// JWKSObserver is told the outcome of every JWKS fetch attempt. One
// observer may serve many key sets, so it must be safe for concurrent use;
// it is called on the fetching goroutine and should return quickly.
type JWKSObserver interface {
	OnFetch(outcome JWKSFetchOutcome)
}

// JWKSObserverFunc adapts a function to JWKSObserver.
type JWKSObserverFunc func(JWKSFetchOutcome)

// OnFetch calls f(outcome).
func (f JWKSObserverFunc) OnFetch(outcome JWKSFetchOutcome) { f(outcome) }

// JWKS fetches a JSON Web Key Set from one URL (configured, or the
// jwks_uri of the issuer's metadata) and caches its public signature keys.
// It serves RFC 9701 signed introspection responses and RFC 9068 JWT
// access tokens alike. The URL is never taken from a token or response.
//
// Concurrency: a JWKS is safe for concurrent use. The cached keys are read
// under mu. Fetches go through a singleflight group, so concurrent callers
// share one request; the request runs detached from any one caller's
// cancellation, bounded by the fetch timeout, and each caller stops
// waiting when its own context ends. Fetch attempts, successful or not,
// start at most once per JWKSRefetchInterval after the previous one ended,
// whatever the number of callers or unknown kids.
//
// Ownership: the JWKS uses the *http.Client it was given (its transport,
// TLS settings and CA) without following redirects. It sends only Accept
// and User-Agent. The cached keys are public and never modified after a
// fetch; callers must not modify the slices it returns.
type JWKS struct {
	url       string // "": discovered from issuer
	issuer    string
	http      *http.Client
	userAgent string
	timeout   time.Duration
	observer  JWKSObserver // nil: none
	now       func() time.Time

	flight singleflight.Group

	mu        sync.Mutex
	keys      []jose.JSONWebKey // public keys only; replaced, never modified
	fetchedAt time.Time         // last successful fetch; zero: none yet
	triedAt   time.Time         // end of the last attempt; zero: none yet
	lastErr   error             // cause of the last failed attempt, nil after a success
	meta      discovered        // the jwks_uri found through discovery
}

// jwksFetcher is the name the RFC 9701 verifier knows the cache by.
type jwksFetcher = JWKS

// JWKSOptions configures NewJWKS.
type JWKSOptions struct {
	// URL is the JWKS URL (jwks_url). "" discovers it from Issuer: RFC 8414
	// metadata first, then OpenID Connect discovery.
	URL string
	// Issuer is the issuer whose metadata names the JWKS when URL is "".
	Issuer string
	// HTTPClient makes the requests; nil: a client on
	// http.DefaultTransport. Redirects are never followed either way.
	HTTPClient *http.Client
	// UserAgent is sent with each request.
	UserAgent string
	// Timeout bounds one fetch attempt; 0: DefaultJWKSTimeout.
	Timeout time.Duration
	// Observer, when set, is told each attempt's outcome.
	Observer JWKSObserver
	// Now is the clock of the rate limit and the max age; nil: time.Now.
	Now func() time.Time
}

// NewJWKS returns an empty key set cache; nothing is fetched until the
// first lookup.
func NewJWKS(opts JWKSOptions) (*JWKS, error) {
	switch {
	case opts.URL != "" && !isHTTPURL(opts.URL):
		return nil, errors.New("JWKS URL must be an absolute http(s) URL without userinfo")
	case opts.URL == "" && !isHTTPURL(opts.Issuer):
		return nil, errors.New("without a JWKS URL, the issuer must be an http(s) URL to discover it from")
	case opts.Timeout < 0:
		return nil, errors.New("JWKS timeout must not be negative")
	}
	hc := opts.HTTPClient
	if hc == nil {
		hc = &http.Client{}
	}
	s := newJWKSFetcher(opts.URL, hc, opts.UserAgent)
	s.issuer, s.observer = opts.Issuer, opts.Observer
	if opts.Timeout > 0 {
		s.timeout = opts.Timeout
	}
	if opts.Now != nil {
		s.now = opts.Now
	}
	return s, nil
}

func newJWKSFetcher(url string, hc *http.Client, userAgent string) *JWKS {
	noRedirects := *hc
	noRedirects.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &JWKS{url: url, http: &noRedirects, userAgent: userAgent, timeout: DefaultJWKSTimeout, now: time.Now}
}

// Keys returns the keys that may have signed a JWS whose header has kid
// ("" = any key) and alg; see candidates. kid is only compared with the
// set's kids. The error is ErrNoMatchingKey (the signature is not
// acceptable: 401), or ErrJWKSUnavailable wrapping the last fetch's cause
// or the caller's context error (no decision possible: 503).
func (s *JWKS) Keys(ctx context.Context, kid string, alg jose.SignatureAlgorithm, refresh bool) ([]jose.JSONWebKey, error) {
	return s.candidates(ctx, kid, alg, refresh)
}

// candidates returns the keys that may have signed a JWS with header kid
// (none: any) and alg. It fetches the set when there is none yet, when it
// is older than JWKSMaxAge, when no key matches, or when refresh asks for
// it (a kid-less signature no key verified), always within the rate limit.
// Stale keys are returned when a fetch fails or is not allowed.
func (s *JWKS) candidates(ctx context.Context, kid string, alg jose.SignatureAlgorithm, refresh bool) ([]jose.JSONWebKey, error) {
	if !refresh {
		if ks, fresh := s.lookup(kid, alg); len(ks) > 0 && fresh {
			return ks, nil
		}
	}
	if err := s.refetch(ctx); err != nil {
		return nil, err
	}
	if ks, _ := s.lookup(kid, alg); len(ks) > 0 {
		return ks, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fetchedAt.IsZero() {
		if s.lastErr != nil {
			return nil, fmt.Errorf("%w: %w", ErrJWKSUnavailable, s.lastErr)
		}
		return nil, ErrJWKSUnavailable
	}
	return nil, ErrNoMatchingKey
}

// lookup returns the cached keys that fit kid and alg, and whether the set
// is younger than JWKSMaxAge.
func (s *JWKS) lookup(kid string, alg jose.SignatureAlgorithm) ([]jose.JSONWebKey, bool) {
	s.mu.Lock()
	keys, fetchedAt := s.keys, s.fetchedAt
	s.mu.Unlock()
	var out []jose.JSONWebKey
	for _, k := range keys {
		if (kid == "" || k.KeyID == kid) && (k.Algorithm == "" || k.Algorithm == string(alg)) && keyFitsAlg(k.Key, alg) {
			out = append(out, k)
		}
	}
	return out, !fetchedAt.IsZero() && s.now().Sub(fetchedAt) < JWKSMaxAge
}

func (s *JWKS) mayFetch() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.triedAt.IsZero() || s.now().Sub(s.triedAt) >= JWKSRefetchInterval
}

// refetch fetches the set if the rate limit allows it, or joins the fetch
// in flight, and waits for it. Only the caller's context ending is an
// error: the outcome of the fetch is in the cached state.
func (s *JWKS) refetch(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrJWKSUnavailable, err)
	}
	if !s.mayFetch() {
		return nil
	}
	done := s.flight.DoChan("", func() (any, error) {
		if s.mayFetch() { // not if a flight that just ended fetched
			// Detached: the fetch serves every waiter, not just this
			// caller; s.timeout bounds it.
			s.fetch(context.WithoutCancel(ctx))
		}
		return nil, nil
	})
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%w: waiting for the JWKS: %w", ErrJWKSUnavailable, ctx.Err())
	}
}

// fetch makes one attempt and records the outcome. It runs inside the
// flight, so never concurrently with itself.
func (s *JWKS) fetch(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	keys, err := s.get(ctx)
	s.mu.Lock()
	s.triedAt, s.lastErr = s.now(), err
	if err == nil {
		s.keys, s.fetchedAt = keys, s.triedAt
	}
	s.mu.Unlock()
	if s.observer != nil {
		s.observer.OnFetch(fetchOutcome(err))
	}
}

func fetchOutcome(err error) JWKSFetchOutcome {
	switch {
	case err == nil:
		return JWKSFetchSuccess
	case errors.Is(err, ErrServerUnavailable):
		return JWKSFetchUnavailable
	}
	return JWKSFetchInvalid
}

// get finds the URL (discovering it if needed) and fetches and parses the
// set. Keys that do not parse, are not for signatures, or are not RSA,
// ECDSA or Ed25519 keys are skipped (a set may hold keys for other uses);
// private halves are dropped.
func (s *JWKS) get(ctx context.Context) ([]jose.JSONWebKey, error) {
	url := s.url
	if url == "" {
		u, err := s.discover(ctx)
		if err != nil {
			return nil, err
		}
		url = u
	}
	data, err := s.getJSON(ctx, url, "JWKS", "application/jwk-set+json, application/json")
	if err != nil {
		return nil, err
	}
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil || set.Keys == nil {
		return nil, errors.New("JWKS is not a JSON object with a \"keys\" array")
	}
	keys := make([]jose.JSONWebKey, 0, len(set.Keys))
	for _, raw := range set.Keys {
		var k jose.JSONWebKey
		if k.UnmarshalJSON(raw) != nil || (k.Use != "" && k.Use != "sig") {
			continue
		}
		if !k.IsPublic() {
			k = k.Public() // an empty key for symmetric ones, dropped below
		}
		switch k.Key.(type) {
		case *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey:
			keys = append(keys, k)
		}
	}
	return keys, nil
}

// getJSON makes one GET request for a JSON document of at most
// MaxResponseBytes; what names the document in errors. Errors never quote
// the URL or the body.
func (s *JWKS) getJSON(ctx context.Context, url, what, accept string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("building the %s request failed", what)
	}
	req.Header.Set("Accept", accept)
	req.Header.Set("User-Agent", s.userAgent)
	resp, err := s.http.Do(req)
	if err != nil {
		return nil, unavailable(fmt.Errorf("%s request failed: %s", what, describeTransportError(err, false)))
	}
	defer func() { _ = resp.Body.Close() }() // as in the introspection client
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBodyBytes))
		err := fmt.Errorf("%s endpoint answered %d", what, resp.StatusCode)
		if errors.Is(&StatusError{StatusCode: resp.StatusCode}, ErrServerUnavailable) {
			err = unavailable(err) // 5xx, 429
		}
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBytes+1))
	if err != nil {
		return nil, unavailable(fmt.Errorf("reading the %s failed: %s", what, describeTransportError(err, true)))
	}
	if len(data) > MaxResponseBytes {
		return nil, fmt.Errorf("%s is larger than 1 MiB", what)
	}
	return data, nil
}

// keyFitsAlg reports whether a public key can verify alg. It is what makes
// an alg that does not belong to the key (an HMAC alg with an RSA key, the
// RS256→HS256 confusion) find no key at all.
func keyFitsAlg(key any, alg jose.SignatureAlgorithm) bool {
	switch k := key.(type) {
	case *rsa.PublicKey:
		return strings.HasPrefix(string(alg), "RS") || strings.HasPrefix(string(alg), "PS")
	case *ecdsa.PublicKey:
		return alg == jose.ES256 && k.Curve == elliptic.P256() ||
			alg == jose.ES384 && k.Curve == elliptic.P384() ||
			alg == jose.ES512 && k.Curve == elliptic.P521()
	case ed25519.PublicKey:
		return alg == jose.EdDSA
	}
	return false
}
