package check

import (
	"context"
	"testing"

	"github.com/tokengate/tokengate/extauthz/decision"
	"github.com/tokengate/tokengate/extauthz/dpop/dpoptest"
	"github.com/tokengate/tokengate/introspection"
)

// FuzzDPoPHeader: whatever the DPoP header holds, a check is a decision,
// never a panic, and a proof refused for its form never lets the token
// reach the authorization server.
func FuzzDPoPHeader(f *testing.F) {
	w := newSenderWorld(f, decision.RequireNone, nil)
	w.answer(f, "bound", w.jktCnf(), introspection.CacheMiss)
	f.Add(w.key.Proof(f, "GET", senderHTU, "bound"))
	for _, h := range dpoptest.HostileProofs(f, "GET", senderHTU, "bound") {
		f.Add(h.Proof)
	}
	f.Fuzz(func(t *testing.T, proof string) {
		before := w.as.Total()
		out := w.c.Check(context.Background(), dpopReq("bound", proof))
		introspected := w.as.Total() != before
		switch r := out.Decision.Reason; {
		case !introspected && r != decision.InvalidDPoPProof:
			t.Fatalf("%q without introspection", r)
		case r == decision.Allowed, r == decision.InvalidToken, r == decision.InvalidDPoPProof && introspected: // a replay
		case r != decision.InvalidDPoPProof:
			t.Fatalf("reason %q for proof %q", r, proof)
		}
	})
}
