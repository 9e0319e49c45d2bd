package tokenid

import "testing"

func TestOf(t *testing.T) {
	// sha256("abc") = ba7816bf8f01cfea...
	if got := Of("abc"); got != "ba7816bf8f01" || len(got) != Len {
		t.Fatalf("Of = %q", got)
	}
}
