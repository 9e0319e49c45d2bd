package introspection

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// DiscoveryMaxAge is how long a jwks_uri found in the issuer's metadata is
// used before the metadata is read again (at the next JWKS fetch). If that
// read fails, the old jwks_uri stays in use.
const DiscoveryMaxAge = time.Hour

// discovered is the jwks_uri the issuer's metadata named, and when.
type discovered struct {
	jwksURI string
	at      time.Time
}

// MetadataURLs returns where the metadata of issuer is looked for, in
// order: RFC 8414 §3.1 (the well-known segment inserted between the host
// and the issuer's path, a trailing "/" of the path removed), then OpenID
// Connect Discovery 1.0 §4 (appended to the issuer, without its trailing
// "/"). It returns nil for an issuer that is not an http(s) URL, or that
// has a query or fragment (RFC 8414 §2 forbids both).
func MetadataURLs(issuer string) []string {
	u, err := url.Parse(issuer)
	if err != nil || !isHTTPURL(issuer) || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		return nil
	}
	path := strings.TrimSuffix(u.EscapedPath(), "/")
	origin := u.Scheme + "://" + u.Host
	return []string{
		origin + "/.well-known/oauth-authorization-server" + path,
		origin + path + "/.well-known/openid-configuration",
	}
}

// discover returns the jwks_uri of the issuer's metadata: the cached one
// while younger than DiscoveryMaxAge, else read again (RFC 8414 first,
// then OpenID), falling back to the cached one when that fails. It runs
// inside a JWKS fetch, so under its rate limit, timeout and singleflight.
func (s *JWKS) discover(ctx context.Context) (string, error) {
	s.mu.Lock()
	cached := s.meta
	s.mu.Unlock()
	if cached.jwksURI != "" && s.now().Sub(cached.at) < DiscoveryMaxAge {
		return cached.jwksURI, nil
	}
	var errs []error
	for _, mu := range MetadataURLs(s.issuer) {
		uri, err := s.readMetadata(ctx, mu)
		if err == nil {
			s.mu.Lock()
			s.meta = discovered{jwksURI: uri, at: s.now()}
			s.mu.Unlock()
			return uri, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break // no time left for the other document
		}
	}
	if cached.jwksURI != "" {
		return cached.jwksURI, nil
	}
	if len(errs) == 0 {
		return "", errors.New("issuer is not a URL metadata can be discovered from")
	}
	return "", fmt.Errorf("discovering the JWKS URL: %w", errors.Join(errs...))
}

// readMetadata fetches one metadata document and returns its jwks_uri,
// after checking that its issuer is the configured issuer exactly (RFC 8414
// §3.3, OpenID Discovery §4.3: metadata for another issuer is not used)
// and that jwks_uri is an http(s) URL, https when the issuer is.
func (s *JWKS) readMetadata(ctx context.Context, metadataURL string) (string, error) {
	data, err := s.getJSON(ctx, metadataURL, "metadata", "application/json")
	if err != nil {
		return "", err
	}
	var md struct {
		Issuer  *string `json:"issuer"`
		JWKSURI *string `json:"jwks_uri"`
	}
	if err := json.Unmarshal(data, &md); err != nil {
		return "", errors.New("metadata is not a JSON object with string members issuer and jwks_uri")
	}
	switch {
	case md.Issuer == nil || *md.Issuer != s.issuer:
		return "", errors.New("metadata issuer is not the configured issuer")
	case md.JWKSURI == nil || !isHTTPURL(*md.JWKSURI):
		return "", errors.New("metadata jwks_uri is not an absolute http(s) URL")
	case scheme(s.issuer) == "https" && scheme(*md.JWKSURI) != "https":
		return "", errors.New("metadata jwks_uri is not https although the issuer is")
	}
	return *md.JWKSURI, nil
}

// scheme is rawURL's scheme, lowercased; "" when it does not parse.
func scheme(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return ""
	}
	return u.Scheme
}
