package claimheaders

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
)

// decimal rewrites a JSON number in plain decimal notation without exponent
// and without losing digits: 1e3 → 1000, 1.50 → 1.5, 2.0 → 2, 1.5e-3 → 0.0015.
// It works on the digits as text, so large integers stay exact.
func decimal(num string) (string, bool) {
	if !isJSONNumber(num) {
		return "", false
	}
	neg := strings.HasPrefix(num, "-")
	num = strings.TrimPrefix(num, "-")
	mant, exp := num, 0
	if i := strings.IndexAny(num, "eE"); i >= 0 {
		e, err := strconv.Atoi(strings.TrimPrefix(num[i+1:], "+"))
		if err != nil || e > 1000 || e < -1000 { // absurd exponents: not sent
			return "", false
		}
		mant, exp = num[:i], e
	}
	intPart, frac, _ := strings.Cut(mant, ".")
	digits := intPart + frac
	point := len(intPart) + exp // position of the decimal point in digits
	switch {
	case point <= 0:
		digits = strings.Repeat("0", 1-point) + digits
		point = 1
	case point > len(digits):
		digits += strings.Repeat("0", point-len(digits))
	}
	whole := strings.TrimLeft(digits[:point], "0")
	if whole == "" {
		whole = "0"
	}
	fraction := strings.TrimRight(digits[point:], "0")
	out := whole
	if fraction != "" {
		out += "." + fraction
	}
	if neg && out != "0" {
		out = "-" + out
	}
	return out, true
}

func isJSONNumber(s string) bool {
	var n json.Number
	return s != "" && json.Unmarshal([]byte(s), &n) == nil && string(n) == s
}

func compact(dst *strings.Builder, raw []byte) error {
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return err
	}
	dst.Write(buf.Bytes())
	return nil
}
