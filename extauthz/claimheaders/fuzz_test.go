package claimheaders

import (
	"encoding/json"
	"testing"
)

func FuzzFormatValue(f *testing.F) {
	for _, s := range []string{`"x"`, `1e3`, `-0.5e-2`, `[1,"a",null]`, `{"a":[1]}`, `"a\nb"`, `true`, `null`, `1e99999`, `[[["x"]]]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if !json.Valid(raw) {
			return // claims come from a parsed JSON object
		}
		v, ok := FormatValue(raw)
		if !ok {
			return
		}
		for i := 0; i < len(v); i++ {
			if c := v[i]; (c < 0x20 && c != '\t') || c == 0x7f {
				t.Fatalf("FormatValue(%s) = %q sends a control byte", raw, v)
			}
		}
	})
}
