package app

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/tokengate/tokengate/extauthz/check"
	"github.com/tokengate/tokengate/extauthz/claimheaders"
	"github.com/tokengate/tokengate/extauthz/decision"
	"github.com/tokengate/tokengate/extauthz/dpop"
	"github.com/tokengate/tokengate/extauthz/routing"
	"github.com/tokengate/tokengate/internal/config"
	"github.com/tokengate/tokengate/internal/events"
	"github.com/tokengate/tokengate/internal/tenant"
)

// built is a check snapshot with the runtimes of its tenants (their
// introspection chains and the parts that outlive a reload, see
// internal/tenant).
type built struct {
	snap    *check.Snapshot
	tenants map[string]*tenant.Runtime
	// events are the tenants with revocation events on (events.go).
	events []events.Tenant
}

// release lets go of the snapshot's runtimes (their clients' idle
// connections, their cache stores' place in the shared sweeper), except
// the parts that next, the snapshot that stays in use, took over; next may
// be nil. Checks still using the snapshot keep working (calls in flight
// are not cut).
func (b *built) release(next *built) {
	for name, rt := range b.tenants {
		var keep *tenant.Runtime
		if next != nil {
			keep = next.tenants[name]
		}
		if keep == nil || keep.Store() != rt.Store() {
			rt.Store().Close()
		}
		rt.Release(keep)
	}
}

// close releases everything: the snapshot is no longer used and nothing
// took its parts over.
func (b *built) close() { b.release(nil) }

// checkBuildable reports the configuration problems that only building the
// runtime finds (for `tokengate validate`).
func checkBuildable(cfg *config.Config) error {
	b, err := build(cfg, nil, tenant.Env{})
	if err != nil {
		return err
	}
	b.close()
	return nil
}

// build turns a validated configuration into a check snapshot: each
// tenant's runtime (tenant.Build: its client behind the decorator chain,
// taking over prev's client, cache store and breaker where the settings
// allow; prev may be nil), its claim headers, and the routes. Every error
// is reported, joined; prev is not modified, and a failed build releases
// what it made.
func build(cfg *config.Config, prev *built, env tenant.Env) (*built, error) {
	var errs []error
	if cfg.Redis != nil {
		if _, err := redisTLS(cfg.Redis); err != nil { // for validate; Start uses it
			errs = append(errs, err)
		}
	}
	b := &built{tenants: make(map[string]*tenant.Runtime, len(cfg.Tenants))}
	for i := range cfg.Tenants {
		t := &cfg.Tenants[i]
		var old *tenant.Runtime
		if prev != nil {
			old = prev.tenants[t.Name]
		}
		rt, err := tenant.Build(t, old, env)
		if err != nil {
			errs = append(errs, fmt.Errorf("tenants[%d].introspection: %w", i, err))
			continue
		}
		b.tenants[t.Name] = rt
	}
	if err := errors.Join(errs...); err != nil {
		b.release(prev) // what prev still uses stays open
		return nil, err
	}
	tenants := make(map[string]*check.Tenant, len(cfg.Tenants))
	for i := range cfg.Tenants {
		t := &cfg.Tenants[i]
		rt := b.tenants[t.Name]
		sc := &t.SenderConstraint
		verifier, err := dpop.NewVerifier(dpop.Options{Algorithms: sc.DPoPAlgorithms, MaxAge: sc.DPoPMaxAge, Leeway: t.Leeway, Origin: sc.Origin})
		if err != nil { // the config's validation refuses what NewVerifier does
			errs = append(errs, fmt.Errorf("tenants[%d].sender_constraint: %w", i, err))
			continue
		}
		ct := &check.Tenant{
			Name:         t.Name,
			Introspector: rt.Introspector(),
			Headers:      claimheaders.New(headerOptions(cfg, i)),
			DPoP:         verifier,
			Replay:       check.Replay{Local: rt.ReplayCache(), Shared: env.SharedReplay},
			JWTMode:      t.JWT.Mode,
		}
		if sc.CertificateHeader != "" {
			ct.CertificateHeader = http.CanonicalHeaderKey(sc.CertificateHeader)
		}
		tenants[t.Name] = ct
	}
	if err := errors.Join(errs...); err != nil {
		b.release(prev)
		return nil, err
	}
	routes := make([]check.Route, len(cfg.Routes))
	for i := range cfg.Routes {
		routes[i] = route(cfg, &cfg.Routes[i], tenants)
	}
	b.snap = check.NewSnapshot(routes)
	var err error
	if b.events, err = eventTenants(cfg, b, env); err != nil {
		b.release(prev)
		return nil, err
	}
	return b, nil
}

// headerOptions maps tenant i's claims to headers, and also strips the
// headers every other tenant sets, so none can be spoofed on this tenant's
// routes either.
func headerOptions(cfg *config.Config, i int) claimheaders.Options {
	t := &cfg.Tenants[i]
	o := claimheaders.Options{ClaimsHeader: t.ClaimsHeader, StripAuthorization: t.StripAuthorization}
	for _, ch := range t.ClaimsToHeaders {
		o.Claims = append(o.Claims, claimheaders.ClaimHeader{Claim: ch.Claim, Header: ch.Header})
	}
	for j := range cfg.Tenants {
		if j == i {
			continue
		}
		other := &cfg.Tenants[j]
		for _, ch := range other.ClaimsToHeaders {
			o.AlsoRemove = append(o.AlsoRemove, ch.Header)
		}
		if other.ClaimsHeader != "" {
			o.AlsoRemove = append(o.AlsoRemove, other.ClaimsHeader)
		}
	}
	return o
}

func route(cfg *config.Config, r *config.Route, tenants map[string]*check.Tenant) check.Route {
	cr := check.Route{
		Rule:   routing.Rule{Name: r.Name, Hosts: r.Hosts, PathPrefix: r.PathPrefix, Methods: r.Methods},
		Public: r.Public,
		Tenant: tenants[r.Tenant],
		// Compiled when the configuration was loaded: a snapshot swaps
		// in with its conditions ready.
		Conditions: r.Conditions,
		Shadow:     r.Shadow,
	}
	for i := range cfg.Tenants {
		t := &cfg.Tenants[i]
		if t.Name != r.Tenant {
			continue
		}
		audiences := t.Audiences
		if len(r.Audiences) > 0 {
			audiences = r.Audiences
		}
		cr.Policy = decision.Policy{
			Realm:      t.Name,
			Issuer:     t.Issuer,
			Leeway:     t.Leeway,
			TokenTypes: t.TokenTypes,
			Audiences:  audiences,
			Scopes:     r.Scopes,
			AnyScopes:  r.AnyScopes,
			Required:   decision.Constraint(t.SenderConstraint.Required),
			DPoPAlgs:   strings.Join(t.SenderConstraint.DPoPAlgorithms, " "),
			StepUp:     decision.StepUp{ACRValues: r.ACRValues, MaxAge: r.MaxAge},
		}
	}
	return cr
}
