package introspection

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/tokengate/tokengate/httpsyntax"
)

// bearerAuth sends a client-credentials access token from Options.TokenURL
// as "Authorization: Bearer" on every introspection request.
//
// Concurrency: a bearerAuth is safe for concurrent use. The token is cached
// by an oauth2.ReuseTokenSource, whose mutex makes concurrent callers wait
// for one token request instead of each making their own; it is reused
// until 10 s before it expires (oauth2's default early expiry). When the
// introspection endpoint rejects a cached token with 401, the cache is
// replaced (compare-and-swap, so many concurrent 401s for the same token
// drop it once) and the next call fetches a new token; the failed call is
// not retried.
//
// Ownership: it holds the client secret (inside the clientcredentials
// config) and the current access token; neither is logged or put in an
// error.
type bearerAuth struct {
	base  oauth2.TokenSource          // fetches a new token on every call
	cache atomic.Pointer[tokenHolder] // the current reusing source
}

// tokenHolder boxes an oauth2.TokenSource so it can be swapped atomically.
type tokenHolder struct{ src oauth2.TokenSource }

// newBearerAuth needs opts.ClientID, opts.ClientSecret and opts.TokenURL.
// Token requests go through rt (the introspection transport: same TLS
// settings, CA and proxy), follow no redirect and are bounded by timeout.
func newBearerAuth(opts Options, rt http.RoundTripper, timeout time.Duration) (*bearerAuth, error) {
	if opts.ClientID == "" || opts.ClientSecret == "" {
		return nil, errors.New("auth_method bearer needs client_id and client_secret")
	}
	if !isHTTPURL(opts.TokenURL) {
		return nil, errors.New("auth_method bearer needs token_url, an absolute http or https URL without credentials")
	}
	b := &bearerAuth{
		base: &tokenEndpoint{
			conf: &clientcredentials.Config{
				ClientID:     opts.ClientID,
				ClientSecret: opts.ClientSecret,
				TokenURL:     opts.TokenURL,
				// Basic, with both halves form-url-encoded (RFC 6749 §2.3.1).
				// An explicit style also avoids oauth2's auto-detection,
				// which would retry a failed request with the secret in
				// the body.
				AuthStyle: oauth2.AuthStyleInHeader,
			},
			rt:      rt,
			timeout: timeout,
		},
	}
	b.cache.Store(&tokenHolder{src: oauth2.ReuseTokenSource(nil, b.base)})
	return b, nil
}

func (b *bearerAuth) authorize(ctx context.Context, _ url.Values, header http.Header) (authorization, error) {
	holder := b.cache.Load()
	tok, err := tokenWithContext(ctx, holder.src)
	if err != nil {
		return authorization{}, err
	}
	header.Set("Authorization", "Bearer "+tok)
	return authorization{
		credential: tok,
		rejected: func() {
			// Only the holder that issued the rejected token is replaced:
			// if another caller already did it, keep the newer one.
			b.cache.CompareAndSwap(holder, &tokenHolder{src: oauth2.ReuseTokenSource(nil, b.base)})
		},
	}, nil
}

// tokenWithContext gets a token from src, giving up when ctx ends. The
// token request itself goes on in the background (bounded by its own
// timeout) so that its result is cached for the next caller rather than
// wasted.
func tokenWithContext(ctx context.Context, src oauth2.TokenSource) (string, error) {
	type result struct {
		tok *oauth2.Token
		err error
	}
	ch := make(chan result, 1)
	go func() {
		tok, err := src.Token()
		ch <- result{tok, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			return "", r.err
		}
		if r.tok.AccessToken == "" || !httpsyntax.IsSafeValue(r.tok.AccessToken) {
			return "", errors.New("token endpoint issued an access token that cannot be sent as a bearer token")
		}
		return r.tok.AccessToken, nil
	case <-ctx.Done():
		return "", fmt.Errorf("waiting for an access token: %w", ctx.Err())
	}
}

// tokenEndpoint is the oauth2.TokenSource that asks the token endpoint for
// a new token on every call. Its errors are rewritten into short causes:
// oauth2's own messages quote the token URL and the endpoint's response
// body.
type tokenEndpoint struct {
	conf    *clientcredentials.Config
	rt      http.RoundTripper
	timeout time.Duration
}

func (e *tokenEndpoint) Token() (*oauth2.Token, error) {
	rec := &recordingTransport{base: e.rt}
	hc := &http.Client{
		Transport:     rec,
		Timeout:       e.timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, hc)
	tok, err := e.conf.Token(ctx)
	if err == nil {
		return tok, nil
	}
	var re *oauth2.RetrieveError
	switch {
	case errors.As(err, &re) && re.Response != nil:
		msg := fmt.Sprintf("token endpoint answered %d", re.Response.StatusCode)
		if code := safeOAuthCode(re.ErrorCode, e.conf.ClientSecret); code != "" {
			msg += fmt.Sprintf(" (error %q)", code)
		}
		if errors.Is(&StatusError{StatusCode: re.Response.StatusCode}, ErrServerUnavailable) {
			return nil, unavailable(errors.New(msg)) // 5xx, 429
		}
		return nil, errors.New(msg)
	case rec.err.Load() != nil:
		return nil, unavailable(errors.New("token request failed: " + describeTransportError(*rec.err.Load(), false)))
	default:
		// A body that is not a token response (bad JSON, no
		// access_token): oauth2's message may quote it.
		return nil, errors.New("token endpoint answered without a valid access token")
	}
}

// recordingTransport keeps the last transport error of one token request,
// since oauth2 flattens it into text that quotes the URL.
type recordingTransport struct {
	base http.RoundTripper
	err  atomic.Pointer[error]
}

func (t *recordingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(r)
	if err != nil {
		t.err.Store(&err)
	}
	return resp, err
}
