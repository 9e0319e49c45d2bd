package config

import "reflect"

// Changes names what a new configuration changes in tenants and routes, for
// the reload's log line. Names are in the new (for added and changed) or
// old (for removed) file's order.
type Changes struct {
	TenantsAdded, TenantsRemoved, TenantsChanged []string
	RoutesAdded, RoutesRemoved, RoutesChanged    []string
	// RouteOrder says the routes are the same but in another order (first
	// match wins, so the order matters).
	RouteOrder bool
	// Other says something outside tenants and routes changed (the
	// listeners' TLS files, forwarded_headers, ...).
	Other bool
}

// Diff compares two validated configurations.
func Diff(old, next *Config) Changes {
	var c Changes
	c.TenantsAdded, c.TenantsRemoved, c.TenantsChanged = diffNamed(old.Tenants, next.Tenants, func(t Tenant) string { return t.Name })
	oldRoutes, nextRoutes := withoutPrograms(old.Routes), withoutPrograms(next.Routes)
	c.RoutesAdded, c.RoutesRemoved, c.RoutesChanged = diffNamed(oldRoutes, nextRoutes, func(r Route) string { return r.Name })
	if len(c.RoutesAdded)+len(c.RoutesRemoved)+len(c.RoutesChanged) == 0 && !reflect.DeepEqual(oldRoutes, nextRoutes) {
		c.RouteOrder = true
	}
	oldRest, nextRest := *old, *next
	oldRest.Tenants, oldRest.Routes, nextRest.Tenants, nextRest.Routes = nil, nil, nil, nil
	c.Other = !reflect.DeepEqual(oldRest, nextRest)
	return c
}

// withoutPrograms is routes without their compiled conditions (programs that
// never compare equal, even compiled from the same text): When, the text,
// stands for them.
func withoutPrograms(routes []Route) []Route {
	out := make([]Route, len(routes))
	for i, r := range routes {
		r.Conditions = nil
		out[i] = r
	}
	return out
}

// Empty reports whether nothing changed.
func (c Changes) Empty() bool {
	return len(c.TenantsAdded)+len(c.TenantsRemoved)+len(c.TenantsChanged)+
		len(c.RoutesAdded)+len(c.RoutesRemoved)+len(c.RoutesChanged) == 0 && !c.RouteOrder && !c.Other
}

func diffNamed[T any](old, next []T, name func(T) string) (added, removed, changed []string) {
	before := make(map[string]*T, len(old))
	for i := range old {
		before[name(old[i])] = &old[i]
	}
	seen := make(map[string]bool, len(next))
	for i := range next {
		n := name(next[i])
		seen[n] = true
		prev, ok := before[n]
		switch {
		case !ok:
			added = append(added, n)
		case !reflect.DeepEqual(*prev, next[i]):
			changed = append(changed, n)
		}
	}
	for i := range old {
		if n := name(old[i]); !seen[n] {
			removed = append(removed, n)
		}
	}
	return added, removed, changed
}
