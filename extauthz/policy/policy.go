// Package policy compiles and evaluates a route's `when` conditions: CEL
// expressions (cel.dev/cel-go), each of type bool, over the variables
// claims (the token's claims), request (the checked request), route and
// tenant (names). Expressions are parsed, type-checked and cost-estimated
// once, when the configuration is loaded (Compiler.Compile); a check only
// evaluates the compiled programs (Conditions.Eval), each under a runtime
// cost limit, so that no expression can make a check hang.
//
// Evaluation is fail-closed: false, an error (a missing claim, a type
// mismatch at run time) and an exceeded limit all mean "deny".
package policy

import (
	"fmt"
	"math"
	"strings"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/cost"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/interpreter"

	"github.com/tokengate/tokengate/extauthz/internal/memo"
)

// Limits of an expression. They are part of the contract of `when`: an
// expression past the compile-time ones is a configuration error, one past
// the runtime ones denies.
const (
	// MaxExpressionLength bounds an expression's size, in code points.
	MaxExpressionLength = 4096
	// MaxNesting bounds the parser's recursion (nested calls, operators,
	// parentheses).
	MaxNesting = 48
	// CostLimit bounds one evaluation's cost (CEL's cost units: roughly
	// one per operation, per list element visited by a macro, per ten
	// bytes of a string compared). Past it the evaluation stops: deny.
	CostLimit = 100_000
	// EstimatedCostLimit bounds the cost estimated at load time, with
	// every claim, header and list assumed at most maxSize long: an
	// expression past it is refused (a macro over a claim's list inside
	// another such macro, say) rather than left to hit CostLimit.
	EstimatedCostLimit = 10_000_000
	// maxSize is the size assumed of every string, list and map the
	// expression reads from claims or the request, for the estimate.
	maxSize = 10_000
	// maxComprehensionNesting bounds macros (all, exists, map, filter)
	// inside macros.
	maxComprehensionNesting = 2
	// maxRegexProgram bounds a pattern's compiled size (RE2 program
	// instructions).
	maxRegexProgram = 1000
	// interruptEvery: the context is checked every this many iterations
	// of a macro.
	interruptEvery = 100
	// claimsCacheEntries bounds the claims converted to CEL values kept
	// for a route (the token cache hands out the same claims while it
	// holds an answer).
	claimsCacheEntries = 1024
)

// Compiler compiles expressions in tokengate's CEL environment. It is
// safe for concurrent use.
type Compiler struct {
	env *cel.Env
}

// NewCompiler builds the environment: CEL's standard library, the
// variables, and the parser's limits.
func NewCompiler() (*Compiler, error) {
	env, err := cel.NewEnv(
		cel.Types(cel.NativeTypeFor[Request](types.ParseStructTags(true), cel.NativeTypeAlias(requestTypeName))),
		cel.Variable("claims", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("request", cel.ObjectType(requestTypeName)),
		cel.Variable("route", cel.StringType),
		cel.Variable("tenant", cel.StringType),
		cel.ParserExpressionSizeLimit(MaxExpressionLength),
		cel.ParserRecursionLimit(MaxNesting),
		cel.CrossTypeNumericComparisons(true),
		cel.DefaultUTCTimeZone(true),
		cel.ExtendedValidations(),
		cel.ASTValidators(cel.ValidateComprehensionNestingLimit(maxComprehensionNesting)),
		cel.RegexProgramSizeLimit(maxRegexProgram),
	)
	if err != nil {
		return nil, fmt.Errorf("policy: CEL environment: %w", err)
	}
	reg, ok := env.CELTypeProvider().(*types.Registry)
	if !ok {
		return nil, fmt.Errorf("policy: CEL environment: type provider %T is not a registry", env.CELTypeProvider())
	}
	p := newRequestProvider(reg) // provider.go
	if env, err = env.Extend(cel.CustomTypeProvider(p), cel.CustomTypeAdapter(p)); err != nil {
		return nil, fmt.Errorf("policy: CEL environment: %w", err)
	}
	return &Compiler{env: env}, nil
}

// Error is what is wrong with one expression: Index is its place in the
// list, Message one line (CEL's own message, with the column when known).
type Error struct {
	Index   int
	Message string
}

func (e Error) Error() string { return fmt.Sprintf("when[%d]: %s", e.Index, e.Message) }

// Compile compiles every expression of sources. It returns every problem
// (several per expression when CEL finds several), and Conditions only
// when there is none; nil, nil for an empty list.
func (c *Compiler) Compile(sources []string) (*Conditions, []Error) {
	if len(sources) == 0 {
		return nil, nil
	}
	var errs []Error
	cs := &Conditions{claims: memo.New[claimsKey, claimsValue](claimsCacheEntries)}
	for i, src := range sources {
		prg, msgs := c.program(src)
		for _, m := range msgs {
			errs = append(errs, Error{Index: i, Message: m})
		}
		cs.list = append(cs.list, condition{source: src, prg: prg.prg, fast: prg.fast, bound: prg.bound})
		cs.uses = cs.uses.or(prg.uses)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return cs, nil
}

// compiled is one expression's programs (see condition).
type compiled struct {
	prg, fast cel.Program
	bound     int
	uses      Uses
}

func (c *Compiler) program(src string) (compiled, []string) {
	if strings.TrimSpace(src) == "" {
		return compiled{}, []string{"empty expression"}
	}
	ast, iss := c.env.Compile(src)
	if iss.Err() != nil {
		var msgs []string
		for _, e := range iss.Errors() {
			msg := oneLine(e.Message)
			switch loc := e.Location; {
			case loc == nil || loc.Line() <= 0:
			case loc.Line() == 1:
				msg = fmt.Sprintf("column %d: %s", loc.Column()+1, msg)
			default:
				msg = fmt.Sprintf("expression line %d, column %d: %s", loc.Line(), loc.Column()+1, msg)
			}
			msgs = append(msgs, msg)
		}
		return compiled{}, msgs
	}
	if t := ast.OutputType(); !t.IsExactType(cel.BoolType) {
		return compiled{}, []string{fmt.Sprintf("must be of type bool, not %s (compare the value: claims.x == true)", t)}
	}
	est, err := c.env.EstimateCost(ast, sizeBound{})
	switch {
	case err != nil:
		return compiled{}, []string{fmt.Sprintf("cost estimate: %s", oneLine(err.Error()))}
	case est.Max > EstimatedCostLimit:
		return compiled{}, []string{fmt.Sprintf("estimated cost %s exceeds the limit %d (a macro over claims inside another one?)", costString(est.Max), EstimatedCostLimit)}
	}
	prg, err := c.env.Program(ast,
		cel.CostLimit(CostLimit),
		cel.InterruptCheckFrequency(interruptEvery),
		cel.OptimizeRegex(interpreter.MatchesRegexOptimization),
	)
	if err != nil {
		return compiled{}, []string{oneLine(err.Error())}
	}
	uses, problems := inspect(ast.NativeRep().Expr())
	if problems != nil {
		return compiled{}, problems
	}
	out := compiled{prg: prg, uses: uses}
	if out.bound = c.fastBound(ast); out.bound > 0 { // fast.go
		out.fast, err = c.env.Program(ast,
			cel.EvalOptions(cel.OptOptimize),
			cel.OptimizeRegex(interpreter.MatchesRegexOptimization),
		)
		if err != nil {
			return compiled{}, []string{oneLine(err.Error())}
		}
	}
	return out, nil
}

func costString(n uint64) string {
	if n == math.MaxUint64 {
		return "unbounded"
	}
	return fmt.Sprint(n)
}

// oneLine keeps the first line of a message (CEL appends a source
// snippet with a caret on the following lines).
func oneLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return strings.TrimSpace(s)
}

// sizeBound makes the cost estimate assume every value of unknown size
// (a claim, a header, a path segment, a list or map of them) holds at
// most maxSize elements or bytes.
type sizeBound struct{}

func (sizeBound) EstimateSize(cost.AstNode) *cost.SizeEstimate {
	return &cost.SizeEstimate{Min: 0, Max: maxSize}
}

func (sizeBound) EstimateCallCost(string, string, *cost.AstNode, []cost.AstNode) *cost.CallEstimate {
	return nil
}
