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
