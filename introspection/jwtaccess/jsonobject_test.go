package jwtaccess

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckObject(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		json string
		ok   bool
	}{
		{`{}`, true},
		{` {"a":1} `, true},
		{`{"a":{"a":1},"b":[{"a":1},{"a":2}]}`, true},       // one key per object
		{`{"a":"{\"a\":1,\"a\":2}","b":"]}[{"}`, true},      // brackets and quotes inside strings
		{`{"a\\":1,"a":2}`, true},                           // "a\" is not "a"
		{`{"a":"x\\","b":"\"","c":["\\\"",{"d":1}]}`, true}, // escaped backslashes and quotes
		{`{"a":1,"a":1}`, false},                            // the same key twice
		{`{"a":1,"A":1}`, false},                            // equal but for case
		{`{"k":1,"\u212a":1}`, false},                       // KELVIN SIGN lowercases to k
		{`{"a":1,"\u0061":1}`, false},                       // equal after unescaping
		{`{"x":{"a":1,"b":{"c":1,"c":2}}}`, false},          // nested
		{`{"x":[{"a":1,"a":2}]}`, false},                    // in an array
		{`[{"a":1}]`, false},                                // not an object
		{`"{}"`, false},                                     // not an object
		{`{"a":1}{}`, false},                                // data after it
		{`{"a":1`, false},                                   // cut short
		{`{"a":1,}`, false},                                 // not JSON
		{``, false},
		{`{"a":` + strings.Repeat("[", maxDepth) + strings.Repeat("]", maxDepth) + `}`, false},
		{`{"a":` + strings.Repeat("[", maxDepth-2) + strings.Repeat("]", maxDepth-2) + `}`, true},
	} {
		if err := checkObject([]byte(tc.json), nil); (err == nil) != tc.ok {
			t.Errorf("checkObject(%s) = %v, want ok %v", tc.json, err, tc.ok)
		}
	}
}

func TestCheckObjectTopKeys(t *testing.T) {
	t.Parallel()
	var keys []string
	refuse := errors.New("refused")
	err := checkObject([]byte(`{"a":{"b":1},"\u0063":[{"d":2}],"e":0}`), func(k string) error {
		keys = append(keys, k)
		if k == "e" {
			return refuse
		}
		return nil
	})
	if !errors.Is(err, refuse) || strings.Join(keys, ",") != "a,c,e" {
		t.Errorf("top keys %q, error %v", keys, err)
	}
}
