package introspection

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/tokengate/tokengate/introspection/signingkey"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

const (
	// AssertionType is the RFC 7523 client_assertion_type for a JWT.
	AssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
	// AssertionLifetime is how long a client assertion is valid (exp - iat).
	// Each request gets a fresh one, so it only has to outlive one call.
	AssertionLifetime = 60 * time.Second
)

// authorization is what a requestAuthorizer added to one attempt.
type authorization struct {
	// credential is the secret sent (an access token or an assertion). It is
	// kept only to make sure a server echoing it does not get it quoted in
	// an error.
	credential string
	// rejected, when not nil, is called if the server answers 401.
	rejected func()
}

// requestAuthorizer authenticates tokengate on each attempt of a call, for
// the auth methods whose credentials change over time (private_key_jwt,
// bearer). The static ones (client_secret_*, none) live in Client.form and
// Client.header instead.
//
// Implementations are safe for concurrent use. form and header belong to
// the calling attempt; authorize may set fields in them. Errors wrap
// nothing secret and are safe to show.
type requestAuthorizer interface {
	authorize(ctx context.Context, form url.Values, header http.Header) (authorization, error)
}

// assertionSigner signs an RFC 7523 client assertion for each attempt. It
// is immutable after newAssertionSigner and safe for concurrent use (a
// go-jose Signer keeps no per-call state). It owns the private key, which
// is never logged, printed or put in an error.
type assertionSigner struct {
	clientID string
	audience string
	signer   jose.Signer
}

// newAssertionSigner loads opts.PrivateKeyFile once. audience is the
// assertion's aud: opts.AssertionAudience, else the introspection URL.
func newAssertionSigner(opts Options, introspectionURL string) (*assertionSigner, error) {
	if opts.ClientID == "" {
		return nil, errors.New("auth_method private_key_jwt needs client_id")
	}
	if opts.PrivateKeyFile == "" {
		return nil, errors.New("auth_method private_key_jwt needs private_key_file")
	}
	key, alg, err := loadSigningKey(opts.PrivateKeyFile)
	if err != nil {
		return nil, err
	}
	so := (&jose.SignerOptions{}).WithType("JWT")
	if opts.KeyID != "" {
		so = so.WithHeader("kid", opts.KeyID)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, so)
	if err != nil {
		return nil, fmt.Errorf("private_key_file %s: cannot sign with it", opts.PrivateKeyFile)
	}
	aud := opts.AssertionAudience
	if aud == "" {
		aud = introspectionURL
	}
	return &assertionSigner{clientID: opts.ClientID, audience: aud, signer: signer}, nil
}

func (s *assertionSigner) authorize(_ context.Context, form url.Values, _ http.Header) (authorization, error) {
	assertion, err := s.sign()
	if err != nil {
		return authorization{}, err
	}
	form.Set("client_assertion_type", AssertionType)
	form.Set("client_assertion", assertion)
	return authorization{credential: assertion}, nil
}

// sign returns a fresh compact JWT: iss = sub = client_id, aud, a random
// jti, iat = now and exp = now + AssertionLifetime.
func (s *assertionSigner) sign() (string, error) {
	var id [16]byte
	if _, err := rand.Read(id[:]); err != nil {
		return "", errors.New("generating the client assertion id failed")
	}
	now := time.Now()
	claims := jwt.Claims{
		Issuer:   s.clientID,
		Subject:  s.clientID,
		Audience: jwt.Audience{s.audience},
		ID:       hex.EncodeToString(id[:]),
		IssuedAt: jwt.NewNumericDate(now),
		Expiry:   jwt.NewNumericDate(now.Add(AssertionLifetime)),
	}
	out, err := jwt.Signed(s.signer).Claims(claims).Serialize()
	if err != nil {
		// go-jose's errors describe the algorithm or key type, not the key.
		return "", errors.New("signing the client assertion failed")
	}
	return out, nil
}

// loadSigningKey reads path with signingkey.Parse (the same rules config
// validation applies). Errors name the file but never show its contents.
func loadSigningKey(path string) (any, jose.SignatureAlgorithm, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, "", fmt.Errorf("private_key_file: %w", err)
	}
	key, alg, err := signingkey.Parse(data)
	if err != nil {
		return nil, "", fmt.Errorf("private_key_file %s: %w", path, err)
	}
	return key, jose.SignatureAlgorithm(alg), nil
}
