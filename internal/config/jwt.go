package config

import (
	"fmt"
	"strings"

	"github.com/tokengate/tokengate/introspection"
	"github.com/tokengate/tokengate/introspection/jwtaccess"
)

// JWTMode is a tenant's jwt.mode: jwtaccess.ModeOff (default),
// jwtaccess.ModeLocal or jwtaccess.ModeLocalThenIntrospect.
type JWTMode = jwtaccess.Mode

// JWT is a tenant's jwt section: RFC 9068 JWT access tokens.
type JWT struct {
	Mode JWTMode // default off
	// JWKSURL is the key set; "": the jwks_uri of the issuer's metadata.
	JWKSURL string
	// Algorithms are the accepted header algs (asymmetric only, never
	// none or HS*); default DefaultJWTAlgorithms().
	Algorithms []string
	// Types are the accepted header typ values as written (compared
	// case-insensitively); default DefaultJWTTypes(); an empty non-nil
	// slice accepts any typ.
	Types []string
}

// On reports whether JWTs are checked locally (mode local or
// local_then_introspect).
func (j *JWT) On() bool { return j.Mode != jwtaccess.ModeOff && j.Mode != "" }

// Key is a comparable value equal for two JWT sections with the same
// settings (a reload compares it, with the introspection settings, to
// decide whether the tenant's key set and cache are kept).
func (j *JWT) Key() string {
	return fmt.Sprintf("%q %q %q %q %t", j.Mode, j.JWKSURL, j.Algorithms, j.Types, j.Types == nil) // nil: the default types, []: any
}

// DefaultJWT is the jwt section when absent: mode off, the default
// algorithms and types.
func DefaultJWT() JWT {
	return JWT{Mode: jwtaccess.ModeOff, Algorithms: DefaultJWTAlgorithms(), Types: DefaultJWTTypes()}
}

// DefaultJWTAlgorithms are jwt.algorithms when absent.
func DefaultJWTAlgorithms() []string { return []string{"RS256", "PS256", "ES256", "EdDSA"} }

// DefaultJWTTypes are jwt.typ when absent (RFC 9068 §2.1).
func DefaultJWTTypes() []string { return []string{"at+jwt", "application/at+jwt"} }

// HasIntrospection reports whether the tenant has an introspection
// endpoint: always, unless jwt.mode is local and the section is absent.
func (t *Tenant) HasIntrospection() bool { return t.Introspection.URL != "" }

// jwt decodes parent.jwt with its defaults.
func (d *decoder) jwt(parent *object) JWT {
	o := d.object(parent.values["jwt"], join(parent.path, "jwt"), "mode", "jwks_url", "algorithms", "typ")
	j := DefaultJWT()
	if v, st := d.str(o, "mode"); st == set {
		if d.enum(join(o.path, "mode"), v, words(jwtaccess.Modes())...) {
			j.Mode = JWTMode(v)
		}
	}
	if v, st := d.str(o, "jwks_url"); st == set && v != "" {
		d.checkURL(join(o.path, "jwks_url"), v)
		j.JWKSURL = v
	}
	if algs, ok := d.signingAlgorithms(o, "algorithms", DefaultJWTAlgorithms()); ok {
		j.Algorithms = algs
	}
	if typs, st := d.strList(o, "typ"); st == set {
		lower := make([]string, len(typs))
		for i, t := range typs {
			lower[i] = strings.ToLower(t) // JOSE typ is compared case-insensitively (RFC 7515 §4.1.9)
		}
		d.uniqueStrings(join(o.path, "typ"), lower, "typ", nil)
		j.Types = append([]string{}, typs...) // [] (not nil): any typ
	}
	return j
}

// jwtTenant checks what a JWT mode requires of the rest of tenant t at
// path: an issuer (a JWT's iss must equal it), one the key set can be
// discovered from when jwt.jwks_url is empty, and an introspection
// section in local_then_introspect. hasIntrospection says the section is
// there.
func (d *decoder) jwtTenant(path string, t *Tenant, hasIntrospection bool) {
	if !t.JWT.On() {
		if !hasIntrospection {
			d.errorf(join(path, "introspection"), "required")
		}
		return
	}
	mode := t.JWT.Mode
	switch {
	case t.Issuer == "":
		d.errorf(join(path, "issuer"), "required with jwt.mode %s: a JWT's iss must equal it", mode)
	case t.JWT.JWKSURL == "" && introspection.MetadataURLs(t.Issuer) == nil:
		d.errorf(join(join(path, "jwt"), "jwks_url"), "required when issuer is not an http(s) URL without query or fragment (the key set is discovered from the issuer's metadata)")
	}
	if !hasIntrospection && mode == jwtaccess.ModeLocalThenIntrospect {
		d.errorf(join(path, "introspection"), "required with jwt.mode %s", mode)
	}
}

// jwtAudiences checks RFC 9068 §4 for every tenant with a JWT mode: the
// aud of a JWT must be checked, so the tenant's audiences, or else those
// of every (non-public) route of the tenant, must not be empty.
func (d *decoder) jwtAudiences(cfg *Config) {
	for i := range cfg.Tenants {
		t := &cfg.Tenants[i]
		if !t.JWT.On() || len(t.Audiences) > 0 {
			continue
		}
		var without []string
		for j, r := range cfg.Routes {
			if r.Tenant == t.Name && !r.Public && len(r.Audiences) == 0 {
				without = append(without, index("routes", j))
			}
		}
		if len(without) > 0 {
			if len(without) > 3 {
				without = append(without[:3], fmt.Sprintf("%d more", len(without)-3))
			}
			d.errorf(join(index("tenants", i), "audiences"),
				"required with jwt.mode %s (RFC 9068 §4: a JWT's aud must be checked): set the tenant's audiences, or audiences on each of its routes (none on %s)",
				t.JWT.Mode, strings.Join(without, ", "))
		}
	}
}
