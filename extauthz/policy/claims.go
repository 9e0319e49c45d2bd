package policy

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"

	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"

	"github.com/tokengate/tokengate/introspection"
)

// claimsValue is c converted to CEL once, to the leaves (see celValue),
// and the size of its largest string, list or map (see celValue): the
// conversion is kept while the token is cached (Conditions.claimsEntry).
type claimsValue struct {
	val  ref.Val
	size int
}

// newClaimsValue converts c (claimsMap) to a CEL map.
func newClaimsValue(c *introspection.Claims) claimsValue {
	v, size := celValue(claimsMap(c))
	return claimsValue{val: v, size: size}
}

// celValue converts a claimsMap value to CEL, lists and maps included, so
// that reading a claim converts nothing (a map of Go values is converted
// again on every read), and says the size of the largest string (in
// bytes), list or map (elements, and the longest key) in it: the sizes
// the cost estimate of an expression assumed (fastBound).
func celValue(v any) (ref.Val, int) {
	switch x := v.(type) {
	case nil:
		return types.NullValue, 0
	case bool:
		return types.Bool(x), 0
	case int64:
		return types.Int(x), 0
	case float64:
		return types.Double(x), 0
	case string:
		return types.String(x), len(x)
	case []any:
		elems, size := make([]ref.Val, len(x)), len(x)
		for i, e := range x {
			var n int
			elems[i], n = celValue(e)
			size = max(size, n)
		}
		return types.NewRefValList(types.DefaultTypeAdapter, elems), size
	case map[string]any:
		m, size := make(map[ref.Val]ref.Val, len(x)), len(x)
		for k, e := range x {
			ev, n := celValue(e)
			m[types.String(k)] = ev
			size = max(size, n, len(k))
		}
		return types.NewRefValMap(types.DefaultTypeAdapter, m), size
	}
	return types.DefaultTypeAdapter.NativeToValue(v), math.MaxInt // never: unknown size
}

// claimsMap is every claim of c as Go values CEL adapts: strings,
// booleans, lists ([]any), maps (map[string]any), and numbers as int
// (int64) when integral and within int64, else double (float64), so that
// both `claims.exp > 1700000000` and `claims.level >= 1.5` type-check
// and compare as written. A claim whose JSON cannot be read (never, for
// parsed claims) is left out: reading it then fails the expression.
func claimsMap(c *introspection.Claims) map[string]any {
	raw := c.RawClaims()
	m := make(map[string]any, len(raw))
	for name, v := range raw {
		if x, ok := jsonValue(v); ok {
			m[name] = x
		}
	}
	return m
}

// jsonValue decodes one JSON value with numbers kept exact.
func jsonValue(raw json.RawMessage) (any, bool) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, false
	}
	return convert(v), true
}

// convert turns json.Number into int64 or float64, inside lists and maps
// too; null stays nil (CEL's null).
func convert(v any) any {
	switch x := v.(type) {
	case json.Number:
		return number(x)
	case []any:
		for i := range x {
			x[i] = convert(x[i])
		}
		return x
	case map[string]any:
		for k := range x {
			x[k] = convert(x[k])
		}
		return x
	}
	return v
}

func number(n json.Number) any {
	if i, err := strconv.ParseInt(string(n), 10, 64); err == nil {
		return i
	}
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil || math.IsInf(f, 0) {
		return string(n) // beyond float64: compared as written, never as a wrong number
	}
	if f == math.Trunc(f) && f >= math.MinInt64 && f < math.MaxInt64 {
		return int64(f) // 1e3, 2.0: integral
	}
	return f
}
