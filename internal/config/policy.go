package config

import (
	"time"

	"github.com/tokengate/tokengate/extauthz/policy"
)

// A route's policy keys (the contract's "Route policy"): acr_values and
// max_age (RFC 9470 step-up), when (CEL conditions, compiled here, so that
// a configuration that loads has only conditions that evaluate) and
// enforce (false: shadow mode).

// celCompiler builds the CEL environment once per load, on the first
// route with conditions.
type celCompiler struct {
	c   *policy.Compiler
	err error
}

func (cc *celCompiler) get() (*policy.Compiler, error) {
	if cc.c == nil && cc.err == nil {
		cc.c, cc.err = policy.NewCompiler()
	}
	return cc.c, cc.err
}

// routePolicy decodes o's acr_values, max_age, when and enforce into r
// (whose Name and Public are decoded).
func (d *decoder) routePolicy(o *object, r *Route, cc *celCompiler) {
	at := func(key string) string { return join(o.path, key) }
	if list, st := d.strList(o, "acr_values"); st == set && len(list) > 0 {
		d.uniqueStrings(at("acr_values"), list, "acr value", isACRValue)
		d.notPublic(at("acr_values"), r.Public)
		r.ACRValues = list
	}
	if v, st := d.duration(o, "max_age"); st == set && v != 0 {
		if v%time.Second != 0 {
			d.errorf(at("max_age"), "must be whole seconds (the challenge's max_age is in seconds), not %s", v)
		}
		d.notPublic(at("max_age"), r.Public)
		r.MaxAge = v
	}
	if v, st := d.boolean(o, "enforce"); st == set && !v {
		d.notPublic(at("enforce"), r.Public)
		r.Shadow = true
	}
	list, st := d.strList(o, "when")
	if st != set || len(list) == 0 {
		return
	}
	d.notPublic(at("when"), r.Public)
	r.When = list
	comp, err := cc.get()
	if err != nil {
		d.errorf(at("when"), "%v", err)
		return
	}
	conds, errs := comp.Compile(list)
	for _, e := range errs {
		p := index(at("when"), e.Index)
		msg := e.Message
		if d.fromEnv[p] { // CEL's messages quote the source, which may hold a secret
			msg = "not a valid boolean CEL expression (details withheld: the value came from the environment)"
		}
		d.errorf(p, "route %s: %s: %s", d.q(join(o.path, "name"), r.Name), d.q(p, list[e.Index]), msg)
	}
	r.Conditions = conds
}

// isACRValue: an acr value goes quoted into the step-up challenge's
// space-separated acr_values, so it has no space, quote, backslash or
// control character (printable ASCII otherwise).
func isACRValue(v string) bool {
	if v == "" {
		return false
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; c <= ' ' || c >= 0x7f || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}
