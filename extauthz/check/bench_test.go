package check

import (
	"context"
	"testing"

	"github.com/tokengate/tokengate/extauthz/decision"
	"github.com/tokengate/tokengate/introspection"
)

// benchWorld serves GET https://api.acme.example/orders/1 for two tokens
// whose claims come from the cache: "bearer", unbound, and "dpop", bound
// to the world's ES256 key. Allows are not logged (info level, as in
// production).
func benchWorld(b *testing.B) *senderWorld {
	w := newSenderWorld(b, decision.RequireNone, nil)
	w.answer(b, "bearer", "", introspection.CacheHit)
	w.answer(b, "dpop", w.jktCnf(), introspection.CacheHit)
	w.log.Reset()
	return w
}

// BenchmarkCheckCachedBearer is a cached check of a bearer token: the
// baseline of BenchmarkCheckCachedDPoP.
func BenchmarkCheckCachedBearer(b *testing.B) {
	w := benchWorld(b)
	r := Request{Method: "GET", Host: senderHost, Path: "/orders/1", Authorization: "Bearer bearer"}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if out := w.c.Check(ctx, &r); !out.Decision.Allow {
			b.Fatal(out.Decision.Reason)
		}
	}
}

// BenchmarkCheckCachedDPoP is the same cached check with an ES256 DPoP
// proof: its verification (signature, claims, thumbprint), the binding and
// the jti recorded in the local replay cache. Every iteration needs a
// proof of its own (a jti is good once): they are signed before the timer
// starts.
func BenchmarkCheckCachedDPoP(b *testing.B) {
	w := benchWorld(b)
	proofs := make([][]string, b.N)
	for i := range proofs {
		proofs[i] = []string{w.key.Proof(b, "GET", senderHTU, "dpop")}
	}
	r := Request{Method: "GET", Host: senderHost, Path: "/orders/1", Authorization: "DPoP dpop"}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		r.DPoP = proofs[i]
		if out := w.c.Check(ctx, &r); !out.Decision.Allow {
			b.Fatal(out.Decision.Reason)
		}
	}
}
