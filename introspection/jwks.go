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
)

const (
	// JWKSRefetchInterval is the least time between two requests to a JWKS
	// endpoint: a response signed with an unknown key triggers at most one
	// fetch per interval, so a stream of such responses cannot turn into a
	// stream of JWKS requests.
	JWKSRefetchInterval = 10 * time.Second
	// JWKSMaxAge is how long fetched keys are used before they are fetched
	// again (so that a key the server withdrew stops being trusted). If
	// that fetch fails, the old keys stay in use.
	JWKSMaxAge = time.Hour
)

// jwksFetcher fetches a JSON Web Key Set from one URL and caches its public
// signature keys.
//
// Concurrency: a jwksFetcher is safe for concurrent use. The cached keys are
// read under mu. At most one fetch runs at a time: it holds the one slot of
// the fetching channel, and callers waiting for the slot give up when their
// context ends. A caller that waited while another fetched looks at the new
// keys first and fetches only if the rate limit allows (it does not, right
// after a fetch), so concurrent misses for one kid make one request. Fetch
// attempts, successful or not, start at most once per JWKSRefetchInterval;
// an attempt cut short by its caller's context does not count.
//
// Ownership: the fetcher shares the client's *http.Client (same transport,
// TLS settings and CA, no redirects). It sends only Accept and User-Agent,
// not the configured extra headers, which are meant for the introspection
// endpoint. The cached keys are public and never modified after a fetch.
type jwksFetcher struct {
	url       string
	http      *http.Client
	userAgent string
	now       func() time.Time

	fetching chan struct{} // one slot, held while fetching

	mu        sync.Mutex
	keys      []jose.JSONWebKey // public keys only; replaced, never modified
	fetchedAt time.Time         // last successful fetch; zero: none yet
	triedAt   time.Time         // last attempt that counts for the rate limit
	lastErr   error             // cause of the last failed attempt, nil after a success
}

func newJWKSFetcher(url string, hc *http.Client, userAgent string) *jwksFetcher {
	return &jwksFetcher{url: url, http: hc, userAgent: userAgent, now: time.Now, fetching: make(chan struct{}, 1)}
}

// errNoMatchingKey says no cached key fits the JWS header, even after the
// refetch the rate limit allowed.
var errNoMatchingKey = errors.New("no key of the JWKS matches the response's kid and alg")

// candidates returns the keys that may have signed a JWS with header kid
// (none: any) and alg. It fetches the set when there is none yet, when it
// is older than JWKSMaxAge, when no key matches, or when refresh asks for
// it (a kid-less signature no key verified), always within the rate limit.
// Stale keys are returned when a fetch fails or is not allowed.
func (f *jwksFetcher) candidates(ctx context.Context, kid string, alg jose.SignatureAlgorithm, refresh bool) ([]jose.JSONWebKey, error) {
	if !refresh {
		if ks, fresh := f.lookup(kid, alg); len(ks) > 0 && fresh {
			return ks, nil
		}
	}
	select {
	case f.fetching <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for the JWKS: %w", ctx.Err())
	}
	defer func() { <-f.fetching }()

	if ks, fresh := f.lookup(kid, alg); !refresh && len(ks) > 0 && fresh {
		return ks, nil // fetched by the caller we waited for
	}
	if f.mayFetch() {
		f.fetch(ctx)
	}
	ks, _ := f.lookup(kid, alg)
	if len(ks) > 0 {
		return ks, nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("fetching the JWKS: %w", err)
	}
	if f.fetchedAt.IsZero() && f.lastErr != nil {
		return nil, fmt.Errorf("JWKS unavailable: %w", f.lastErr)
	}
	return nil, errNoMatchingKey
}

// lookup returns the cached keys that fit kid and alg, and whether the set
// is younger than JWKSMaxAge.
func (f *jwksFetcher) lookup(kid string, alg jose.SignatureAlgorithm) ([]jose.JSONWebKey, bool) {
	f.mu.Lock()
	keys, fetchedAt := f.keys, f.fetchedAt
	f.mu.Unlock()
	var out []jose.JSONWebKey
	for _, k := range keys {
		if (kid == "" || k.KeyID == kid) && (k.Algorithm == "" || k.Algorithm == string(alg)) && keyFitsAlg(k.Key, alg) {
			out = append(out, k)
		}
	}
	return out, !fetchedAt.IsZero() && f.now().Sub(fetchedAt) < JWKSMaxAge
}

func (f *jwksFetcher) mayFetch() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.triedAt.IsZero() || f.now().Sub(f.triedAt) >= JWKSRefetchInterval
}

// fetch requests the set once and records the outcome. The caller holds
// the fetching slot.
func (f *jwksFetcher) fetch(ctx context.Context) {
	keys, err := f.get(ctx)
	f.mu.Lock()
	defer f.mu.Unlock()
	if err != nil && ctx.Err() != nil {
		return // the caller gave up; the next caller may try at once
	}
	f.triedAt = f.now()
	f.lastErr = err
	if err == nil {
		f.keys, f.fetchedAt = keys, f.triedAt
	}
}

// get makes one GET request and parses the set. Keys that do not parse,
// are not for signatures, or are not RSA, ECDSA or Ed25519 keys are skipped
// (a set may hold keys for other uses); private halves are dropped.
func (f *jwksFetcher) get(ctx context.Context) ([]jose.JSONWebKey, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.url, nil)
	if err != nil {
		return nil, errors.New("building the JWKS request failed")
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	req.Header.Set("User-Agent", f.userAgent)
	resp, err := f.http.Do(req)
	if err != nil {
		return nil, unavailable(errors.New("JWKS request failed: " + describeTransportError(err, false)))
	}
	defer func() { _ = resp.Body.Close() }() // as in the introspection client
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBodyBytes))
		err := fmt.Errorf("JWKS endpoint answered %d", resp.StatusCode)
		if errors.Is(&StatusError{StatusCode: resp.StatusCode}, ErrServerUnavailable) {
			err = unavailable(err) // 5xx, 429
		}
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBytes+1))
	if err != nil {
		return nil, unavailable(errors.New("reading the JWKS failed: " + describeTransportError(err, true)))
	}
	if len(data) > MaxResponseBytes {
		return nil, errors.New("JWKS is larger than 1 MiB")
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

// keyFitsAlg reports whether a public key can verify alg.
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
