package policy

import (
	celast "cel.dev/cel-go/common/ast"
)

// Uses says which fields of the request variable expressions read.
// Method, host and path cost nothing to provide; Segments and Headers are
// built for an evaluation only when an expression reads them.
type Uses struct {
	Segments, Headers bool
}

// inspect finds the request fields e reads (request.segments and
// request.headers, or every field when the request is used otherwise than
// through a field), and refuses a regular expression that is not a
// literal: matching is linear in the pattern times the text, so a pattern
// taken from a claim or a header could make one check run for minutes
// before any cost limit is charged.
func inspect(e celast.Expr) (Uses, []string) {
	var u Uses
	var problems []string
	idents, selects := 0, 0
	celast.PostOrderVisit(e, celast.NewExprVisitor(func(x celast.Expr) {
		switch x.Kind() {
		case celast.IdentKind:
			if x.AsIdent() == "request" {
				idents++
			}
		case celast.CallKind:
			if c := x.AsCall(); c.FunctionName() == "matches" {
				args := c.Args()
				if len(args) > 0 && args[len(args)-1].Kind() != celast.LiteralKind {
					problems = append(problems, "matches: the pattern must be a string literal")
				}
			}
		case celast.SelectKind:
			s := x.AsSelect()
			if op := s.Operand(); op.Kind() == celast.IdentKind && op.AsIdent() == "request" {
				selects++
				switch s.FieldName() {
				case "segments":
					u.Segments = true
				case "headers":
					u.Headers = true
				}
			}
		}
	}))
	if idents > selects {
		u = Uses{Segments: true, Headers: true}
	}
	return u, problems
}

func (u Uses) or(v Uses) Uses {
	return Uses{Segments: u.Segments || v.Segments, Headers: u.Headers || v.Headers}
}
