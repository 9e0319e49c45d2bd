package dpop

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestNewVerifierRefusesBadOptions(t *testing.T) {
	for _, o := range []Options{
		{Algorithms: []string{"none"}},
		{Algorithms: []string{"HS256"}},
		{Algorithms: []string{"ES256", "es256"}},
		{Algorithms: []string{"RSA-OAEP"}},
		{MaxAge: -time.Second},
		{Leeway: -time.Second},
		{Origin: "api.example.com"},
		{Origin: "ftp://api.example.com"},
		{Origin: "https://"},
		{Origin: "https://api.example.com/base"},
		{Origin: "https://api.example.com?q"},
		{Origin: "https://user@api.example.com"},
		{Origin: "https://api.example.com:99999"},
		{Origin: "https://api.example.com:x"},
		{Origin: "https://[::1"},
	} {
		if _, err := NewVerifier(o); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
}

func TestNewVerifierDefaults(t *testing.T) {
	v := newTestVerifier(t, Options{})
	if got := v.Algorithms(); !slices.Equal(got, DefaultAlgorithms) {
		t.Fatalf("algorithms %v", got)
	}
	v.Algorithms()[0] = "changed" // the caller's copy
	if v.Algorithms()[0] != "ES256" || DefaultAlgorithms[0] != "ES256" {
		t.Fatal("Algorithms shares its slice")
	}
	v = newTestVerifier(t, Options{Algorithms: []string{"PS256", "ES256", "PS256"}, Leeway: time.Second, MaxAge: time.Minute})
	if got := strings.Join(v.Algorithms(), " "); got != "PS256 ES256" {
		t.Fatalf("algorithms %q", got)
	}
	if v.ReplayWindow() != 62*time.Second {
		t.Fatalf("replay window %v", v.ReplayWindow())
	}
	for _, origin := range []string{"https://api.example.com", "https://api.example.com/", "HTTP://API.example.com:8080", "https://[::1]:8443"} {
		if _, err := NewVerifier(Options{Origin: origin}); err != nil {
			t.Errorf("origin %q: %v", origin, err)
		}
	}
}
