package bearer

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	long := strings.Repeat("a", MaxTokenLength)
	tests := []struct {
		header string
		token  string
		result Result
	}{
		{"Bearer abc", "abc", OK},
		{"bearer abc", "abc", OK},
		{"BEARER abc", "abc", OK},
		{"BeArEr abc", "abc", OK},
		{"  Bearer abc  ", "abc", OK},
		{"\tBearer abc\t", "abc", OK},
		{"Bearer    abc", "abc", OK},
		{"Bearer A-Z.a_z~0+9/==", "A-Z.a_z~0+9/==", OK},
		{"Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln", "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln", OK},
		{"Bearer " + long, long, OK},
		{"", "", Missing},
		{"   ", "", Missing},
		{"Basic dXNlcjpwYXNz", "", Missing},
		{"Bearerabc", "", Missing},
		{"Bear abc", "", Missing},
		{"Token abc", "", Missing},
		{"abc", "", Missing},
		{"Bearer", "", Malformed},
		{"bearer   ", "", Malformed},
		{"Bearer a b", "", Malformed},
		{"Bearer abc, Bearer def", "", Malformed},
		{"Bearer abc,def", "", Malformed},
		{"Bearer\tabc", "", Malformed},
		{"Bearer \tabc", "", Malformed},
		{"Bearer abc\tdef", "", Malformed},
		{"Bearer ab\x00c", "", Malformed},
		{"Bearer ab\nc", "", Malformed},
		{"Bearer ab\x7fc", "", Malformed},
		{"Bearer abc=def", "", Malformed},
		{"Bearer ===", "", Malformed},
		{"Bearer ab\"c", "", Malformed},
		{"Bearer ab;c", "", Malformed},
		{"Bearer tökén", "", Malformed},
		{"Bearer ab%20c", "", Malformed},
		{"Bearer " + long + "a", "", Malformed},
		{"Bearer,abc", "", Malformed},
	}
	// The DPoP scheme (RFC 9449 §7.1) follows the same rules: every row
	// again with "DPoP" for the first "Bearer" (in any case), and what
	// only looks like it.
	for _, tt := range tests {
		if i := strings.Index(strings.ToLower(tt.header), "bearer"); i >= 0 {
			tt.header = tt.header[:i] + "DpoP" + tt.header[i+len("bearer"):]
			tests = append(tests, tt)
		}
	}
	tests = append(tests, []struct {
		header string
		token  string
		result Result
	}{{"DPo abc", "", Missing}, {"DPoP-Nonce abc", "", Missing}, {"D\u0131PoP abc", "", Missing}}...)
	for _, tt := range tests {
		token, scheme, result := Parse(tt.header)
		want := SchemeBearer
		switch {
		case tt.result == Missing:
			want = SchemeNone
		case strings.Contains(tt.header, "DpoP"):
			want = SchemeDPoP
		}
		if token != tt.token || result != tt.result || scheme != want {
			t.Errorf("Parse(%q) = %q, %v, %v; want %q, %v, %v", trunc(tt.header), trunc(token), scheme, result, trunc(tt.token), want, tt.result)
		}
	}
}

func trunc(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

func TestSchemeNames(t *testing.T) {
	if SchemeDPoP.String() != "DPoP" || SchemeBearer.String() != "Bearer" || SchemeNone.String() != "none" {
		t.Error("scheme names")
	}
}

func TestID(t *testing.T) {
	// sha256("abc") = ba7816bf8f01cfea...
	if got := ID("abc"); got != "ba7816bf8f01" {
		t.Fatalf("ID = %q", got)
	}
}
