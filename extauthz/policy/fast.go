package policy

import (
	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/cost"
)

// An expression runs without CEL's runtime cost tracker (and without
// watching the context: a bounded evaluation cannot hang) only when that
// is sound: its cost, estimated at load with every input (a claim, a list
// or map of claims, a request field, a header, the route and tenant names)
// at most bound long, is within CostLimit, and no input of the evaluation
// is longer than bound (evalState.inputSize). Any other evaluation runs
// under the tracker and its limit. The tracker costs several allocations
// and a few hundred nanoseconds per expression.

// fastBounds are the input sizes tried for an expression, largest first.
func fastBounds() [3]int { return [...]int{maxSize, 1000, 100} }

// fastBound is the largest of fastBounds for which ast's estimated cost is
// within CostLimit; 0: none (always evaluated under the tracker).
func (c *Compiler) fastBound(ast *cel.Ast) int {
	for _, b := range fastBounds() {
		est, err := c.env.EstimateCost(ast, inputBound{size: uint64(b)})
		if err == nil && est.Max <= CostLimit {
			return b
		}
	}
	return 0
}

// inputBound bounds the size of every value read from the variables
// (a node whose field path starts at one: claims.roles, its elements,
// request.headers, its keys and values) by size. Other nodes of unknown
// size, such as a function's result the estimator does not size, stay
// unknown: the estimate is then unbounded, and the expression is not
// evaluated without the tracker.
type inputBound struct{ size uint64 }

func (b inputBound) EstimateSize(n cost.AstNode) *cost.SizeEstimate {
	if p := n.Path(); len(p) > 0 {
		switch p[0] {
		case "claims", "request", "route", "tenant":
			return &cost.SizeEstimate{Min: 0, Max: b.size}
		}
	}
	return nil
}

func (inputBound) EstimateCallCost(string, string, *cost.AstNode, []cost.AstNode) *cost.CallEstimate {
	return nil
}

// inputSize is the size of the largest input of the evaluation, as
// inputBound measures: strings in bytes (CEL counts code points, never
// more), lists and maps in elements (and the longest key).
func (st *evalState) inputSize() int {
	if st.size >= 0 {
		return st.size
	}
	n := max(len(st.route), len(st.tenant), st.claimsEntry().size)
	if st.hasReq {
		r := &st.req
		// The path's segments are no longer, nor more, than the path.
		n = max(n, len(r.Method), len(r.Host), len(r.Path), len(r.Segments))
		for _, s := range r.Segments {
			n = max(n, len(s))
		}
		if st.cs.uses.Headers {
			n = max(n, len(r.Headers))
			for k, v := range r.Headers {
				n = max(n, len(k), len(v))
			}
		}
	}
	st.size = n
	return n
}
