package check

import (
	"context"
	"testing"

	"github.com/tokengate/tokengate/extauthz/decision"
	"github.com/tokengate/tokengate/introspection"
)

// subjectMarkers revokes one tenant's subject.
type subjectMarkers struct{ tenant, sub string }

func (m subjectMarkers) Revoked(tenant string, c *introspection.Claims) bool {
	return tenant == m.tenant && c.Subject == m.sub
}

// TestCheckRevoked: the markers' verdict is a 401 revoked after active
// (an inactive token stays inactive) and before exp.
func TestCheckRevoked(t *testing.T) {
	c := newChecker(answering(t, introspection.CacheHit, map[string]string{
		"u1":      `{"active":true,"scope":"read","sub":"u1"}`,
		"u1-old":  `{"active":true,"scope":"read","sub":"u1","exp":1000}`,
		"u2":      `{"active":true,"scope":"read","sub":"u2"}`,
		"u1-dead": `{"active":false,"sub":"u1"}`,
	}))
	c.revocations = subjectMarkers{"acme", "u1"}
	for tok, want := range map[string]decision.Reason{
		"u1": decision.Revoked, "u1-old": decision.Revoked, "u2": decision.Allowed, "u1-dead": decision.Inactive,
	} {
		out := c.Check(context.Background(), &Request{Path: "/api/x", Authorization: "Bearer " + tok})
		if out.Decision.Reason != want {
			t.Errorf("%s: reason %q, want %q", tok, out.Decision.Reason, want)
		}
		if want == decision.Revoked {
			if ch := out.Decision.Challenge(); ch != `Bearer realm="acme", error="invalid_token", error_description="the token was revoked by the authorization server"` || out.Decision.Status != 401 {
				t.Errorf("%s: %d %s", tok, out.Decision.Status, ch)
			}
		}
	}
}
