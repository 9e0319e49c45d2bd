package httpsyntax

import "testing"

func TestIsToken(t *testing.T) {
	for s, want := range map[string]bool{
		"x-auth-subject": true, "GET": true, "a!#$%&'*+-.^_`|~9": true,
		"": false, "a b": false, "a:b": false, "a\"b": false, "ä": false, "a\n": false, "(x)": false,
	} {
		if got := IsToken(s); got != want {
			t.Errorf("IsToken(%q) = %v", s, got)
		}
	}
}

func TestIsSafeValue(t *testing.T) {
	for s, want := range map[string]bool{
		"plain": true, "with\ttab": true, "": true, "ünï": true,
		"cr\r": false, "lf\n": false, "nul\x00": false, "del\x7f": false, "esc\x1b": false,
	} {
		if got := IsSafeValue(s); got != want {
			t.Errorf("IsSafeValue(%q) = %v", s, got)
		}
	}
}

func TestASCIICaseOnly(t *testing.T) {
	for in, want := range map[string]string{
		"": "", "abc": "abc", "ABC-Def.9": "abc-def.9", "\u212Aiosk": "\u212Aiosk", "\u00c9T\u00c9": "\u00c9t\u00c9", "\xff\xfeA": "\xff\xfea",
	} {
		if got := ToLower(in); got != want {
			t.Errorf("ToLower(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{
		"": "", "GET": "GET", "post": "POST", "po\u017Ft": "PO\u017FT", "\u00e9t\u00e9": "\u00e9T\u00e9",
	} {
		if got := ToUpper(in); got != want {
			t.Errorf("ToUpper(%q) = %q, want %q", in, got, want)
		}
	}
	for _, c := range []struct {
		a, b string
		want bool
	}{
		{"Bearer", "bEARER", true}, {"access_token", "ACCESS_TOKEN", true}, {"", "", true},
		{"access_token", "acce\u017f\u017f_to\u212aen", false}, {"k", "\u212A", false}, {"\u00e9", "\u00c9", false},
		{"ab", "abc", false}, {"a-b", "a_b", false}, {"@", "`", false}, {"[", "{", false},
	} {
		if got := EqualFold(c.a, c.b); got != c.want {
			t.Errorf("EqualFold(%q, %q) = %v", c.a, c.b, got)
		}
	}
}
