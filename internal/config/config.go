// Package config loads the tokengate YAML configuration file into an
// immutable, validated, typed snapshot with every default applied.
//
// Loading is strict: unknown keys, duplicate keys, values of the wrong type
// and every semantic rule of the contract are checked, and all problems are
// reported at once (joined with errors.Join), one "<location>: <message>"
// per error, for example
//
//	tenants[0].introspection.urll: unknown key
//	routes[2].tenant: unknown tenant "nope"
//
// Error messages never contain secret values (client secrets, passwords,
// tokens, header values sent to the authorization server, file contents).
//
// # Environment variables
//
// "${NAME}" (NAME matching [A-Za-z_][A-Za-z0-9_]*) anywhere inside a scalar
// value is replaced by the environment variable NAME; an unset variable is an
// error. "$${" stands for a literal "${", and any other "${" is an error.
// Expansion happens on the parsed YAML tree, so a variable's value can never
// add YAML structure; an unquoted "${X}" may still stand for a boolean,
// integer or duration (insecure_skip_verify: ${SKIP}). Keys are not expanded.
//
// # Absent, null and empty
//
// A key whose value is YAML null (written as nothing, "~" or "null") counts
// as absent, so its default applies. An explicit empty string is kept where
// it has a meaning of its own (token_type_hint: "" sends no hint,
// redis.key_prefix: "" uses no prefix, path_prefix: "" means "/") and
// otherwise counts as not given (issuer: "", ca_file: "", claims_header: "").
// YAML anchors, aliases and merge keys ("<<") are supported.
//
// # Files
//
// Relative paths (client_secret_file, private_key_file, ca_file and the tls
// files) are resolved against the directory of the configuration file (Load)
// or baseDir (Parse), and the resolved path is stored. All of these files are
// read and checked while loading: a secret file must not be empty after
// trimming surrounding whitespace, CA files must hold at least one PEM
// certificate, private_key_file must hold an unencrypted RSA (at least 2048
// bits) or P-256 ECDSA key in PKCS#8, PKCS#1 or SEC1 PEM, and a tls
// cert_file/key_file must form a valid key pair.
package config

import (
	"time"

	"github.com/tokengate/tokengate/extauthz/policy"
	"github.com/tokengate/tokengate/introspection"
)

// Defaults applied when a key is absent.
const (
	DefaultGRPCAddress                 = "127.0.0.1:9191"
	DefaultHTTPAddress                 = "127.0.0.1:8181"
	DefaultForwardedHeaders            = "x-forwarded"
	DefaultLeeway                      = 30 * time.Second
	DefaultCacheMaxTTL                 = 5 * time.Minute
	DefaultCacheNegativeTTL            = 10 * time.Second
	DefaultCacheMaxEntries             = 100000
	DefaultMaxConcurrentIntrospections = 64
	DefaultRedisKeyPrefix              = "tokengate:"
	DefaultRedisTimeout                = 50 * time.Millisecond
	DefaultPathPrefix                  = "/"
)

// DefaultTokenTypes returns the token_types used when the key is absent
// ("DPoP" is what servers such as oidc-provider answer for DPoP-bound
// tokens).
func DefaultTokenTypes() []string { return []string{"Bearer", "DPoP", "access_token"} }

// Config is one loaded configuration.
//
// A *Config returned by Load or Parse is a read-only snapshot shared by every
// goroutine that serves checks: nobody may modify it (nor any slice or map
// reachable from it) after it has been returned. A reload produces a new
// *Config instead.
type Config struct {
	GRPC    GRPC
	HTTP    HTTP
	Tenants []Tenant // in file order; names are unique
	Routes  []Route  // in file order; the first match wins
	Redis   *Redis   // nil when the section is absent
	Admin   *Admin   // nil when the section is absent
}

// GRPC is the ext_authz gRPC listener (envoy.service.auth.v3.Authorization
// and grpc.health.v1).
type GRPC struct {
	Address string // host:port, default DefaultGRPCAddress
	TLS     *TLS   // nil: plaintext; ClientCAFile set: mTLS
}

// HTTP is the listener for /healthz, /readyz, /metrics and HTTP-mode checks.
type HTTP struct {
	Address          string // host:port, default DefaultHTTPAddress
	ForwardedHeaders string // "x-forwarded" (default), "x-original" or "none"
	TLS              *TLS   // nil: plaintext; ClientCAFile is always empty
}

// TLS holds resolved file paths. For grpc, http and admin, CertFile and
// KeyFile are always set; ClientCAFile only under grpc and admin. Under redis, CertFile and KeyFile
// are an optional client certificate (both or neither), ClientCAFile is
// always empty, and the server is verified against the system roots plus
// CAFile when set (CAFile is empty everywhere else).
type TLS struct {
	CertFile, KeyFile, ClientCAFile, CAFile string
}

// Tenant is one authorization server and the policy for its tokens.
type Tenant struct {
	Name                        string // [a-z0-9-]+, unique
	Issuer                      string // "" = not checked; else exact match of a present iss
	Introspection               Introspection
	Audiences                   []string      // nil = not checked
	Leeway                      time.Duration // default DefaultLeeway; 0 is kept
	TokenTypes                  []string      // default DefaultTokenTypes(); compared case-insensitively
	Cache                       Cache
	MaxConcurrentIntrospections int // default 64, >= 1
	CircuitBreaker              CircuitBreaker
	// ClaimsToHeaders in the order written in the file.
	ClaimsToHeaders    []ClaimHeader
	ClaimsHeader       string // lowercased header name; "" = off
	StripAuthorization bool   // also removes DPoP
	SenderConstraint   SenderConstraint
	// JWT is the jwt section (RFC 9068 JWT access tokens, jwt.go). With a
	// mode other than off, Issuer is set and the audiences are not empty
	// (the tenant's, or every route's); Introspection is the zero value
	// (HasIntrospection false) only in mode local without the section.
	JWT JWT
	// Events is the events section (revocations pushed by the
	// authorization server, events.go); the zero value is off.
	Events Events
}

// ClientOptions are the options of the tenant's introspection client:
// its introspection section, with its name (for errors) and its issuer
// (which signed responses are checked against).
func (t *Tenant) ClientOptions() introspection.Options {
	o := t.Introspection
	o.Tenant, o.Issuer = t.Name, t.Issuer
	return o
}

// BreakerOptions are the options of the tenant's circuit breaker (its
// circuit_breaker section), without a Logger or OnStateChange.
func (t *Tenant) BreakerOptions() introspection.BreakerOptions {
	cb := &t.CircuitBreaker
	return introspection.BreakerOptions{
		Tenant:              t.Name,
		Disabled:            !cb.Enabled,
		ConsecutiveFailures: cb.ConsecutiveFailures,
		FailureRatio:        cb.FailureRatio,
		MinCalls:            cb.MinCalls,
		Window:              cb.Window,
		CoolDown:            cb.CoolDown,
	}
}

// ClaimHeader maps one claim to one upstream request header.
type ClaimHeader struct {
	Claim  string
	Header string // lowercased, a valid and not reserved header name
}

// Introspection is how to call a tenant's RFC 7662 endpoint: the
// client's own options type, so that each setting, default and enum (auth
// methods, response formats) is declared once, in package introspection,
// and what the file says is what the client gets. The decoder fills the
// introspection section's keys, with introspection's defaults
// (AuthMethod, ResponseFormat, TokenTypeHint, Timeout) for absent ones:
//
//   - ClientSecret from client_secret or client_secret_file (trimmed); set
//     for client_secret_basic, client_secret_post and bearer, else "".
//   - ClientID is set for every method except none (optional there).
//   - PrivateKeyFile, KeyID: private_key_jwt only; AssertionAudience is the
//     configured value or URL there, "" for other methods.
//   - TokenURL: bearer only. JWKSURL: set iff ResponseFormat is jwt.
//   - TokenTypeHint: "" (given explicitly) sends none. Timeout > 0.
//   - CAFile is a resolved path; Headers are the names as written, nil
//     when none.
//
// Tenant, Issuer, UserAgent and Transport are left empty: they are not
// keys of the section (Tenant.ClientOptions adds the tenant's name and
// issuer).
type Introspection = introspection.Options

// Cache configures a tenant's introspection cache.
type Cache struct {
	MaxTTL      time.Duration // default 5m, > 0
	NegativeTTL time.Duration // default 10s, >= 0 (0 = inactive results are not cached)
	MaxEntries  int           // default 100000, >= 1
}

// Route selects a tenant and the policy for matching requests.
type Route struct {
	Name       string   // [A-Za-z0-9._-]+, unique
	Tenant     string   // a tenant's name; may be "" only when Public
	Hosts      []string // lowercased; exact or "*.suffix"; nil = any
	PathPrefix string   // default "/"
	Methods    []string // uppercased; nil = any
	Scopes     []string // all required
	AnyScopes  []string // at least one required when not empty
	Audiences  []string // when not empty, replaces the tenant's
	Public     bool     // no token needed; Scopes, AnyScopes, Audiences and the policy below empty
	// ACRValues (RFC 9470): the token's acr must be one of these; nil =
	// not checked. Each is printable ASCII without space, quote or
	// backslash.
	ACRValues []string
	// MaxAge (RFC 9470): auth_time at most this old (plus the tenant's
	// leeway); whole seconds, 0 = not checked.
	MaxAge time.Duration
	// When are the CEL conditions as written (nil = none), and Conditions
	// the same compiled and type-checked (nil when When is).
	When       []string
	Conditions *policy.Conditions
	// Shadow is enforce: false: would-be denies are allowed and reported.
	Shadow bool
}

// Redis is the optional shared second-level cache.
type Redis struct {
	Address   string   // host:port of a single server; exclusive with Addresses
	Addresses []string // cluster seed addresses; exclusive with Address
	Username  string
	Password  string
	KeyPrefix string        // default "tokengate:"; an explicit "" is kept
	DB        int           // >= 0; only 0 with Addresses
	Timeout   time.Duration // per call, default 50ms, > 0
	TLS       *TLS          // nil: plaintext
	// SigningKey (a secret) is the HMAC-SHA256 key of shared-cache
	// entries, at least MinRedisSigningKeyBytes; "": entries unsigned.
	SigningKey string
}

// MinRedisSigningKeyBytes is the shortest redis.signing_key accepted.
const MinRedisSigningKeyBytes = 32

// Admin is the optional admin listener (POST /revoke).
type Admin struct {
	Address string // host:port, required; a loopback address unless TLS is set
	Token   string // required bearer token for admin calls, >= MinAdminTokenLength characters
	TLS     *TLS   // nil: plaintext; ClientCAFile set: mTLS
}

// MinAdminTokenLength is the shortest admin.token accepted, in characters.
const MinAdminTokenLength = 32
