package policy

import (
	"context"
	"fmt"
	"sync/atomic"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/interpreter"

	"github.com/tokengate/tokengate/extauthz/internal/memo"
	"github.com/tokengate/tokengate/introspection"
)

// requestTypeName is the CEL type of the request variable.
const requestTypeName = "tokengate.Request"

// Request is the checked request as an expression sees it.
type Request struct {
	Method string `cel:"method"` // uppercase
	Host   string `cel:"host"`   // lowercase, without port
	Path   string `cel:"path"`   // normalized, without query
	// Segments are the path's non-empty segments; nil: split from Path
	// when an expression reads them.
	Segments []string          `cel:"segments"`
	Headers  map[string]string `cel:"headers"` // lowercase names; no authorization, dpop, cookie

	// Path's segments, split by segments() (provider.go).
	split  bool
	segs   []string
	segBuf [8]string
}

// Input is what one evaluation reads. Claims must not be nil.
type Input struct {
	Claims  *introspection.Claims
	Request *Request
	Route   string
	Tenant  string
}

// Conditions are a route's compiled `when` expressions. They are
// immutable once compiled (but for caches of converted values) and safe
// for concurrent use.
type Conditions struct {
	list []condition
	// claims caches the claims converted to a CEL map, by the claims
	// object (immutable, and handed out again while the token is cached).
	claims *memo.Cache[claimsKey, claimsValue]
	// uses says which request fields an expression reads.
	uses Uses
	// names are the route and tenant names as CEL values, converted once.
	names atomic.Pointer[names]
}

type condition struct {
	source string
	// prg evaluates under the runtime cost limit, watching the context.
	prg cel.Program
	// fast, when not nil, evaluates without either: its cost is bounded
	// by the estimate when no input is larger than bound (fastBound).
	fast  cel.Program
	bound int
}

type claimsKey = *introspection.Claims

type names struct {
	route, tenant string
	rv, tv        ref.Val
}

// Len is the number of expressions.
func (cs *Conditions) Len() int { return len(cs.list) }

// Source is expression i as configured.
func (cs *Conditions) Source(i int) string { return cs.list[i].source }

// Uses says which fields of the request the expressions read, so that a
// caller builds only those (the headers map above all).
func (cs *Conditions) Uses() Uses { return cs.uses }

// Verdict is the result of an evaluation. OK: every expression was
// true. Else Index is the expression that denied, and Err why, when it
// did not evaluate to false (an error, the cost limit, a cancelled
// context); Err never holds a claim's or a header's value.
type Verdict struct {
	OK    bool
	Index int
	Err   error
}

// Eval evaluates the expressions in order; the first that is not true
// decides. ctx cancels a long evaluation. An expression runs without the
// runtime cost tracker only when its estimated cost, for inputs no larger
// than the actual ones, is within CostLimit (fastBound): the limit holds
// either way.
func (cs *Conditions) Eval(ctx context.Context, in *Input) Verdict {
	st := &evalState{cs: cs, claims: in.Claims, route: in.Route, tenant: in.Tenant, size: -1}
	if in.Request != nil {
		st.req, st.hasReq = *in.Request, true
	}
	for i := range cs.list {
		c := &cs.list[i]
		var out ref.Val
		var err error
		if c.fast != nil && ctx.Err() == nil && st.inputSize() <= c.bound {
			out, _, err = c.fast.Eval(st)
		} else {
			out, _, err = c.prg.ContextEval(ctx, st)
		}
		if err != nil {
			return Verdict{Index: i, Err: fmt.Errorf("policy: evaluating when[%d]: %w", i, err)}
		}
		if b, ok := out.(types.Bool); !ok || !bool(b) {
			if !ok { // type-checked as bool at load: cannot happen; fail closed
				return Verdict{Index: i, Err: fmt.Errorf("policy: when[%d] evaluated to a %s", i, out.Type().TypeName())}
			}
			return Verdict{Index: i}
		}
	}
	return Verdict{OK: true}
}

// evalState is one evaluation's activation: it resolves the variables
// from the input, converting the claims once per cached token and the
// route and tenant names once per route. One allocation per evaluation.
type evalState struct {
	cs            *Conditions
	claims        *introspection.Claims
	entry         *claimsValue
	cv            claimsValue
	req           Request
	hasReq        bool
	route, tenant string
	size          int // inputSize; -1 until computed
}

func (st *evalState) ResolveName(name string) (any, bool) {
	switch name {
	case "claims":
		return st.claimsEntry().val, true
	case "request":
		if !st.hasReq {
			return nil, false
		}
		return &st.req, true
	case "route":
		return st.cs.namesFor(st.route, st.tenant).rv, true
	case "tenant":
		return st.cs.namesFor(st.route, st.tenant).tv, true
	}
	return nil, false
}

func (st *evalState) Parent() interpreter.Activation { return nil }

func (st *evalState) claimsEntry() *claimsValue {
	if st.entry == nil {
		st.cv = st.cs.claimsValue(st.claims)
		st.entry = &st.cv
	}
	return st.entry
}

// claimsValue is c converted to CEL, from the cache when c was converted
// before.
func (cs *Conditions) claimsValue(c *introspection.Claims) claimsValue {
	if v, ok := cs.claims.Load(c); ok {
		return v
	}
	v := newClaimsValue(c)
	cs.claims.Store(c, v)
	return v
}

// namesFor is route and tenant as CEL values.
func (cs *Conditions) namesFor(route, tenant string) *names {
	if n := cs.names.Load(); n != nil && n.route == route && n.tenant == tenant {
		return n
	}
	n := &names{route: route, tenant: tenant, rv: types.String(route), tv: types.String(tenant)}
	cs.names.Store(n)
	return n
}
