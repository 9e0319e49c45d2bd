package decision

import (
	"net/http"
	"testing"
	"time"
)

// TestDecideRevoked: the marker verdict decides right after active and
// before exp/nbf and the rest; without it, nothing changes.
func TestDecideRevoked(t *testing.T) {
	expired := good()
	expired.Expiry = now.Add(-time.Hour)
	inactive := good()
	inactive.Active = false
	wrongIssuer := good()
	wrongIssuer.Issuer = "https://evil.example"
	for _, tc := range []struct {
		name string
		c    func() Decision
		want Reason
	}{
		{"revoked", func() Decision { return Decide(policy(), good(), now, Binding{Revoked: true}) }, Revoked},
		{"not revoked", func() Decision { return Decide(policy(), good(), now, Binding{}) }, Allowed},
		{"inactive first", func() Decision { return Decide(policy(), inactive, now, Binding{Revoked: true}) }, Inactive},
		{"before exp", func() Decision { return Decide(policy(), expired, now, Binding{Revoked: true}) }, Revoked},
		{"before iss", func() Decision { return Decide(policy(), wrongIssuer, now, Binding{Revoked: true}) }, Revoked},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := tc.c()
			if d.Reason != tc.want {
				t.Fatalf("reason %q, want %q", d.Reason, tc.want)
			}
			if tc.want == Revoked && (d.Allow || d.Status != http.StatusUnauthorized || d.Error != "invalid_token" || d.Description == "" || d.Realm != "acme") {
				t.Errorf("revoked decision %+v", d)
			}
		})
	}
}
