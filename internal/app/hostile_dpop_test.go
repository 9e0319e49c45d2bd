package app

import (
	"strings"
	"testing"

	"github.com/tokengate/tokengate/extauthz/dpop/dpoptest"
)

// hostileDPoPCases are DPoP proofs a hostile client can send (see
// dpoptest.HostileProofs) with the DPoP or the Bearer scheme, each a 401
// invalid_dpop_proof decided before the token reaches the authorization
// server; and a proof that is fine for a token that is not DPoP-bound.
func hostileDPoPCases(t *testing.T) []hostileCase {
	t.Helper()
	const host, htu = "orders.acme.example", "https://orders.acme.example/orders"
	with := func(scheme string, dpop ...string) map[string]string {
		h := map[string]string{"authorization": scheme + " good"}
		for i, p := range dpop {
			h[[]string{"dpop", "DPoP", "DPOP"}[i]] = p
		}
		return h
	}
	var cases []hostileCase
	for _, h := range dpoptest.HostileProofs(t, "GET", htu, "good") {
		cases = append(cases, hostileCase{"DPoP: " + h.Name, httpAttrs("GET", host, "/orders", with("DPoP", h.Proof)), 401, "invalid_dpop_proof", false})
	}
	key := dpoptest.NewKey(t, "ES256")
	proof := key.Proof(t, "GET", htu, "good")
	return append(cases,
		hostileCase{"DPoP: a bad proof with the Bearer scheme", httpAttrs("GET", host, "/orders", with("Bearer", "e30.e30.e30")), 401, "invalid_dpop_proof", false},
		hostileCase{"DPoP: scheme without a proof", httpAttrs("GET", host, "/orders", with("DPoP")), 401, "invalid_dpop_proof", false},
		hostileCase{"DPoP: empty proof", httpAttrs("GET", host, "/orders", with("DPoP", "")), 401, "invalid_dpop_proof", false},
		hostileCase{"DPoP: header keys differing only in case", httpAttrs("GET", host, "/orders", with("DPoP", proof, proof)), 401, "invalid_dpop_proof", false},
		hostileCase{"DPoP: 1 MiB proof", httpAttrs("GET", host, "/orders", with("DPoP", strings.Repeat("a", 1<<20))), 401, "invalid_dpop_proof", false},
		hostileCase{"DPoP: invalid UTF-8 in the proof", httpAttrs("GET", host, "/orders", with("DPoP", proof[:20]+"é"+proof[20:])), 401, "invalid_dpop_proof", true},
		hostileCase{"DPoP: proof for another path", httpAttrs("GET", host, "/orders", with("DPoP", key.Proof(t, "GET", htu+"/..;/admin", "good"))), 401, "invalid_dpop_proof", false},
		hostileCase{"DPoP: valid proof, token not DPoP-bound", httpAttrs("GET", host, "/orders", with("DPoP", key.Proof(t, "GET", htu, "good"))), 401, "invalid_token", false},
	)
}
