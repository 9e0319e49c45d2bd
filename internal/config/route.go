package config

import (
	"github.com/tokengate/tokengate/httpsyntax"

	"gopkg.in/yaml.v3"
)

// routes decodes the routes list; at least one route is required.
func (d *decoder) routes(root *object, tenants map[string]bool) []Route {
	n := root.values["routes"]
	var out []Route
	switch {
	case n == nil:
		d.errorf("routes", "no routes configured: at least one route is required")
	case n.Kind != yaml.SequenceNode:
		d.errorf("routes", "must be a list, not %s", kindName(n))
	case len(n.Content) == 0:
		d.errorf("routes", "no routes configured: at least one route is required")
	}
	if n != nil && n.Kind == yaml.SequenceNode {
		cc := &celCompiler{}
		out = namedEntries(d, n, "routes", "route", func(e *yaml.Node, path string) Route { return d.route(e, path, tenants, cc) },
			func(r Route) string { return r.Name })
	}
	return out
}

func (d *decoder) route(n *yaml.Node, path string, tenants map[string]bool, cc *celCompiler) Route {
	o := d.listEntry(n, path, "name", "tenant", "hosts", "path_prefix", "methods", "scopes",
		"any_scopes", "audiences", "public", "acr_values", "max_age", "when", "enforce")
	at := func(key string) string { return join(path, key) }
	r := Route{PathPrefix: DefaultPathPrefix}
	r.Public, _ = d.boolean(o, "public")

	r.Name = d.name(o, routeNameChar, "[A-Za-z0-9._-]+")

	tenant, st := d.str(o, "tenant")
	switch {
	case st == set && tenant != "" && !tenants[tenant]:
		d.errorf(at("tenant"), "unknown tenant %s", d.q(at("tenant"), tenant))
	case st != invalid && tenant == "" && !r.Public && !o.invalid:
		d.errorf(at("tenant"), "required unless public is true")
	}
	r.Tenant = tenant

	if hosts, st := d.strList(o, "hosts"); st == set && len(hosts) > 0 {
		r.Hosts = make([]string, len(hosts))
		for i, h := range hosts {
			r.Hosts[i] = httpsyntax.ToLower(h) // ASCII only: no Unicode folding (U+212A is not "k")
			d.checkHost(index(at("hosts"), i), r.Hosts[i])
		}
		d.uniqueStrings(at("hosts"), r.Hosts, "host", func(string) bool { return true })
	}
	if p, st := d.str(o, "path_prefix"); st == set && p != "" {
		d.checkPathPrefix(at("path_prefix"), p)
		r.PathPrefix = p
	}
	if methods, st := d.strList(o, "methods"); st == set && len(methods) > 0 {
		r.Methods = make([]string, len(methods))
		for i, m := range methods {
			r.Methods[i] = httpsyntax.ToUpper(m) // ASCII only: U+017F is not "S"
		}
		d.uniqueStrings(at("methods"), r.Methods, "method", httpsyntax.IsToken)
	}
	r.Scopes = d.scopes(o, "scopes", r.Public)
	r.AnyScopes = d.scopes(o, "any_scopes", r.Public)
	if auds, st := d.strList(o, "audiences"); st == set && len(auds) > 0 {
		d.uniqueStrings(at("audiences"), auds, "audience", nil)
		d.notPublic(at("audiences"), r.Public)
		r.Audiences = auds
	}
	d.routePolicy(o, &r, cc) // policy.go: acr_values, max_age, when, enforce
	return r
}

func (d *decoder) scopes(o *object, key string, public bool) []string {
	list, st := d.strList(o, key)
	if st != set || len(list) == 0 {
		return nil
	}
	d.uniqueStrings(join(o.path, key), list, "scope", isScopeToken)
	d.notPublic(join(o.path, key), public)
	return list
}

func (d *decoder) notPublic(path string, public bool) {
	if public {
		d.errorf(path, "not allowed on a public route (public routes need no token)")
	}
}
