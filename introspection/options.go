package introspection

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// AuthMethod is how the client authenticates to the authorization server.
// The values are the config file's auth_method words.
type AuthMethod string

const (
	// AuthClientSecretBasic sends HTTP Basic credentials, each half
	// form-url-encoded first (RFC 6749 §2.3.1). The zero value means this.
	AuthClientSecretBasic AuthMethod = "client_secret_basic"
	// AuthClientSecretPost sends client_id and client_secret in the form.
	AuthClientSecretPost AuthMethod = "client_secret_post"
	// AuthPrivateKeyJWT sends client_id and a fresh RFC 7523 client
	// assertion, signed with Options.PrivateKeyFile, in the form.
	AuthPrivateKeyJWT AuthMethod = "private_key_jwt"
	// AuthBearer sends "Authorization: Bearer" with a client-credentials
	// access token from Options.TokenURL, reused until shortly before it
	// expires.
	AuthBearer AuthMethod = "bearer"
	// AuthNone sends no credentials; client_id goes in the form when set.
	AuthNone AuthMethod = "none"
)

// AuthMethods lists every AuthMethod, in the order the config file's
// documentation and errors name them.
func AuthMethods() []AuthMethod {
	return []AuthMethod{AuthClientSecretBasic, AuthClientSecretPost, AuthPrivateKeyJWT, AuthBearer, AuthNone}
}

// ResponseFormat is what the authorization server answers with. The values
// are the config file's response_format words.
type ResponseFormat string

const (
	// ResponseJSON is a plain RFC 7662 JSON response. The zero value means
	// this.
	ResponseJSON ResponseFormat = "json"
	// ResponseJWT is an RFC 9701 signed response (see
	// Options.ResponseFormat).
	ResponseJWT ResponseFormat = "jwt"
)

// ResponseFormats lists every ResponseFormat.
func ResponseFormats() []ResponseFormat { return []ResponseFormat{ResponseJSON, ResponseJWT} }

// The defaults of Options, and of the config file's introspection keys
// (the config package applies these same values).
const (
	// DefaultAuthMethod is used when Options.AuthMethod is "".
	DefaultAuthMethod = AuthClientSecretBasic
	// DefaultResponseFormat is used when Options.ResponseFormat is "".
	DefaultResponseFormat = ResponseJSON
	// DefaultTokenTypeHint is token_type_hint's default in the config
	// file. Options.TokenTypeHint has none: "" sends no hint.
	DefaultTokenTypeHint = "access_token"
	// DefaultTimeout bounds a whole Introspect call when Options.Timeout is 0.
	DefaultTimeout = 2 * time.Second
	// DefaultUserAgent is sent when Options.UserAgent is empty.
	DefaultUserAgent = "tokengate"
	// MaxResponseBytes is the largest 200 body accepted. Real responses are
	// a few hundred bytes; the cap keeps a broken or hostile server from
	// making every check allocate without bound.
	MaxResponseBytes = 1 << 20

	// maxErrorBodyBytes is how much of a non-200 body is read for its
	// OAuth "error" field and drained so the connection can be reused.
	maxErrorBodyBytes = 64 << 10
	// maxIdleConnsPerHost matches the default max_concurrent_introspections
	// so a busy tenant keeps its connections warm instead of churning
	// through TLS handshakes (net/http's default is 2).
	maxIdleConnsPerHost = 64
)

// Options configures one tenant's client. The config package decodes a
// tenant's introspection section into it directly (config.Introspection is
// this type), validating the enums and applying the defaults declared
// here; this package does not import the config package.
//
// Options holds a secret: its String and GoString methods redact it, so
// printing or logging an Options value does not leak ClientSecret.
type Options struct {
	Tenant     string     // used only in error messages
	URL        string     // the introspection endpoint, http or https, without userinfo
	AuthMethod AuthMethod // "" means AuthClientSecretBasic
	// ClientID and ClientSecret authenticate tokengate to the server. Both
	// are required for the client_secret_* methods and bearer (at the token
	// endpoint); ClientID alone for private_key_jwt and response_format jwt.
	ClientID     string
	ClientSecret string
	// TokenTypeHint is sent as token_type_hint when not empty (no default
	// here; the config file's is DefaultTokenTypeHint).
	TokenTypeHint string
	// Timeout bounds the whole call, including the one retry and reading
	// the body; 0 means DefaultTimeout. A shorter ctx deadline wins.
	Timeout time.Duration
	// CAFile names a PEM file whose certificates are trusted in addition to
	// the system roots. Ignored when Transport is set.
	CAFile string
	// InsecureSkipVerify disables server certificate checks. Ignored when
	// Transport is set.
	InsecureSkipVerify bool
	// Headers are extra request headers. They may replace Accept and
	// User-Agent, and Authorization only with AuthNone; Content-Type,
	// Content-Length, Transfer-Encoding and Connection belong to the client.
	// "Host" sets the request's Host.
	Headers map[string]string
	// UserAgent is the User-Agent header; "" means DefaultUserAgent.
	UserAgent string
	// Transport, when set, carries the requests instead of a dedicated
	// transport built by NewTransport (tests replace it; tracing wraps the
	// one NewTransport returns). It must be safe for concurrent use. The
	// token endpoint (bearer) and JWKS (jwt responses) requests use it too.
	Transport http.RoundTripper

	// PrivateKeyFile (private_key_jwt) names a PEM private key: PKCS#8,
	// PKCS#1 or SEC1, RSA (RS256) or ECDSA P-256 (ES256). It is read once,
	// by NewClient.
	PrivateKeyFile string
	// KeyID (private_key_jwt) is the assertion's kid header; "" sends none.
	KeyID string
	// AssertionAudience (private_key_jwt) is the assertion's aud; "" means
	// URL.
	AssertionAudience string
	// TokenURL (bearer) is the token endpoint of the client-credentials
	// grant; ClientID and ClientSecret authenticate there (Basic).
	TokenURL string
	// ResponseFormat is ResponseJSON (or "") for plain RFC 7662 responses,
	// or ResponseJWT for RFC 9701 signed ones: Accept asks for
	// application/token-introspection+jwt (an Accept in Headers would
	// override that), and the response must be a JWS of typ
	// token-introspection+jwt, signed with an asymmetric alg by a key of
	// JWKSURL, with iss = Issuer, aud containing ClientID and an iat not in
	// the future. "jwt" needs ClientID and JWKSURL.
	ResponseFormat ResponseFormat
	// JWKSURL (response_format jwt) serves the keys that sign responses.
	// It is fetched on first use, again for a kid it lacks (at most once
	// per JWKSRefetchInterval) and after JWKSMaxAge.
	JWKSURL string
	// JWKS, when set, is the key set cache signed responses are verified
	// with, shared with whoever else uses the keys of JWKSURL (the
	// tenant's JWT access tokens); it must fetch JWKSURL. nil: NewClient
	// makes one of its own. Like Transport, it is a live object, not a
	// setting: Digest and String leave it out.
	JWKS *JWKS
	// Issuer is the tenant's issuer; with ResponseFormat "jwt", a signed
	// response's iss must equal it. "" skips that check (the signature
	// against JWKSURL still has to verify).
	Issuer string
}

// WithDefaults returns o with the defaults of this file in place of the
// zero values that stand for them: AuthMethod, ResponseFormat, Timeout and
// UserAgent. Other fields are left as they are (a negative Timeout stays,
// for NewClient to reject).
func (o Options) WithDefaults() Options {
	if o.AuthMethod == "" {
		o.AuthMethod = DefaultAuthMethod
	}
	if o.ResponseFormat == "" {
		o.ResponseFormat = DefaultResponseFormat
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.UserAgent == "" {
		o.UserAgent = DefaultUserAgent
	}
	return o
}

// fields is Options without its methods, so that fmt and encoding/json
// see the plain fields (and String does not call itself).
type fields Options

// Digest is a comparable value that is equal for two Options exactly when
// they hold the same settings: every field (Headers by content, whatever
// the map's order), ClientSecret included, so a rotated secret gives
// another Digest. Transport and JWKS are left out: live objects rather than
// settings (tests and tracing set them on a copy). A config reload compares
// Digests to decide whether a tenant keeps its client, so no list of
// fields is kept anywhere else. It is computed when a configuration is
// built, never per request, and is never printed.
func (o Options) Digest() [sha256.Size]byte {
	f := fields(o)
	f.Transport, f.JWKS = nil, nil
	// Strings, numbers, booleans and a map of strings: Marshal cannot
	// fail, and it writes map keys sorted.
	data, err := json.Marshal(f)
	if err != nil {
		panic("introspection: Options.Digest: " + err.Error())
	}
	return sha256.Sum256(data)
}

// String describes o with every field but the secrets: ClientSecret and
// the values of Headers (which often carry API keys) read REDACTED.
func (o Options) String() string {
	f := fields(o)
	f.JWKS = nil // a live object; its state is not a setting
	if f.ClientSecret != "" {
		f.ClientSecret = "REDACTED"
	}
	if len(o.Headers) > 0 {
		f.Headers = make(map[string]string, len(o.Headers))
		for name := range o.Headers {
			f.Headers[name] = "REDACTED"
		}
	}
	return fmt.Sprintf("%+v", f)
}

// GoString is String, so that %#v does not print the secret either.
func (o Options) GoString() string { return "introspection.Options" + o.String() }
