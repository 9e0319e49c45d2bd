package app

import (
	"errors"
	"fmt"

	"github.com/tokengate/tokengate/extauthz/check"
	"github.com/tokengate/tokengate/extauthz/claimheaders"
	"github.com/tokengate/tokengate/extauthz/decision"
	"github.com/tokengate/tokengate/extauthz/routing"
	"github.com/tokengate/tokengate/internal/config"
	"github.com/tokengate/tokengate/introspection"
)

// built is a snapshot with the resources it owns.
type built struct {
	snap    *check.Snapshot
	clients []*introspection.Client
}

// close releases the snapshot's idle connections; checks still using it
// keep working (closing idle connections does not break calls in flight).
func (b *built) close() {
	for _, c := range b.clients {
		c.Close()
	}
}

// checkBuildable reports the configuration problems that only building the
// runtime finds (for `tokengate validate`).
func checkBuildable(cfg *config.Config) error {
	b, err := build(cfg)
	if err != nil {
		return err
	}
	b.close()
	return nil
}

// build turns a validated configuration into a check snapshot, with one
// introspection client per tenant. Every error is reported, joined.
func build(cfg *config.Config) (*built, error) {
	var errs []error
	if cfg.Redis != nil {
		errs = append(errs, errors.New("redis: the shared cache is not supported by this version"))
	}
	if cfg.Admin != nil {
		errs = append(errs, errors.New("admin: the admin listener is not supported by this version"))
	}
	b := &built{}
	tenants := make(map[string]*check.Tenant, len(cfg.Tenants))
	for i := range cfg.Tenants {
		t := &cfg.Tenants[i]
		client, err := introspection.NewClient(clientOptions(t))
		if err != nil {
			errs = append(errs, fmt.Errorf("tenants[%d].introspection: %w", i, err))
			continue
		}
		b.clients = append(b.clients, client)
		tenants[t.Name] = &check.Tenant{
			Name:         t.Name,
			Introspector: introspection.Limit(client, t.MaxConcurrentIntrospections),
			Timeout:      t.Introspection.Timeout,
			Headers:      claimheaders.New(headerOptions(cfg, i)),
		}
	}
	if err := errors.Join(errs...); err != nil {
		b.close()
		return nil, err
	}
	routes := make([]check.Route, len(cfg.Routes))
	for i := range cfg.Routes {
		routes[i] = route(cfg, &cfg.Routes[i], tenants)
	}
	b.snap = check.NewSnapshot(routes)
	return b, nil
}

func clientOptions(t *config.Tenant) introspection.Options {
	in := &t.Introspection
	return introspection.Options{
		Tenant:             t.Name,
		URL:                in.URL,
		AuthMethod:         introspection.AuthMethod(in.AuthMethod),
		ClientID:           in.ClientID,
		ClientSecret:       in.ClientSecret,
		TokenTypeHint:      in.TokenTypeHint,
		Timeout:            in.Timeout,
		CAFile:             in.CAFile,
		InsecureSkipVerify: in.InsecureSkipVerify,
		Headers:            in.Headers,
	}
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
		}
	}
	return cr
}
