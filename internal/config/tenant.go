package config

import (
	"strings"

	"github.com/tokengate/tokengate/httpsyntax"

	"gopkg.in/yaml.v3"
)

// tenants decodes the tenants list. A missing tenant is an error only when
// a route needs one (see routes).
func (d *decoder) tenants(root *object) []Tenant {
	n := root.values["tenants"]
	if n == nil {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		d.errorf("tenants", "must be a list, not %s", kindName(n))
		return nil
	}
	return namedEntries(d, n, "tenants", "tenant", d.tenant, func(t Tenant) string { return t.Name })
}

func (d *decoder) tenant(n *yaml.Node, path string) Tenant {
	o := d.listEntry(n, path, "name", "issuer", "introspection", "audiences", "leeway", "token_types",
		"cache", "max_concurrent_introspections", "circuit_breaker", "claims_to_headers", "claims_header", "strip_authorization",
		"sender_constraint", "jwt", "events")
	t := Tenant{
		Leeway:                      d.durationDefault(o, "leeway", DefaultLeeway, false),
		MaxConcurrentIntrospections: d.intMin(o, "max_concurrent_introspections", DefaultMaxConcurrentIntrospections, 1),
	}
	t.Name = d.name(o, tenantNameChar, "[a-z0-9-]+")
	if iss, st := d.str(o, "issuer"); st == set {
		if strings.TrimSpace(iss) != iss || !httpsyntax.IsSafeValue(iss) {
			d.errorf(join(path, "issuer"), "must not have surrounding spaces or control characters")
		}
		t.Issuer = iss
	}
	t.JWT = d.jwt(o) // jwt.go
	if o.has("introspection") {
		t.Introspection = d.introspection(o)
	}
	if !o.invalid {
		d.jwtTenant(path, &t, o.has("introspection")) // optional only with jwt.mode local
	}
	if auds, st := d.strList(o, "audiences"); st == set && len(auds) > 0 {
		d.uniqueStrings(join(path, "audiences"), auds, "audience", nil)
		t.Audiences = auds
	}
	t.TokenTypes = DefaultTokenTypes()
	if tts, st := d.strList(o, "token_types"); st == set {
		p := join(path, "token_types")
		if len(tts) == 0 {
			d.errorf(p, "must not be empty (leave it out for the default [%s])", strings.Join(DefaultTokenTypes(), ", "))
		}
		lower := make([]string, len(tts))
		for i, tt := range tts {
			lower[i] = strings.ToLower(tt)
		}
		d.uniqueStrings(p, lower, "token type", nil)
		t.TokenTypes = tts
	}
	t.Cache = d.cache(o)
	t.CircuitBreaker = d.circuitBreaker(o)
	t.StripAuthorization, _ = d.boolean(o, "strip_authorization")
	t.SenderConstraint = d.senderConstraint(o)
	t.Events = d.events(o) // events.go
	if !o.invalid {
		d.eventsTenant(path, &t)
	}
	d.claims(o, &t)
	return t
}

func (d *decoder) cache(parent *object) Cache {
	o := d.object(parent.values["cache"], join(parent.path, "cache"), "max_ttl", "negative_ttl", "max_entries")
	return Cache{
		MaxTTL:      d.durationDefault(o, "max_ttl", DefaultCacheMaxTTL, true),
		NegativeTTL: d.durationDefault(o, "negative_ttl", DefaultCacheNegativeTTL, false),
		MaxEntries:  d.intMin(o, "max_entries", DefaultCacheMaxEntries, 1),
	}
}

// claims decodes claims_to_headers (in file order) and claims_header.
func (d *decoder) claims(o *object, t *Tenant) {
	headers := map[string]string{} // header -> path that set it
	if v, st := d.str(o, "claims_header"); st == set && v != "" {
		p := join(o.path, "claims_header")
		if h, ok := d.upstreamHeader(p, v); ok {
			t.ClaimsHeader = h
			headers[h] = p
		}
	}
	pairs, _ := d.pairs(o, "claims_to_headers")
	for _, p := range pairs {
		if p.key == "" {
			d.errorf(p.path, "claim name must not be empty")
			continue
		}
		h, ok := d.upstreamHeader(p.path, p.value)
		if !ok {
			continue
		}
		if other, dup := headers[h]; dup {
			d.errorf(p.path, "header %s is also set by %s", d.q(p.path, h), other)
			continue
		}
		headers[h] = p.path
		t.ClaimsToHeaders = append(t.ClaimsToHeaders, ClaimHeader{Claim: p.key, Header: h})
	}
}
