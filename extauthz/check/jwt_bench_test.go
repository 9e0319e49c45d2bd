package check

import (
	"context"
	"fmt"
	"testing"

	"github.com/tokengate/tokengate/introspection/jwkstest"
	"github.com/tokengate/tokengate/introspection/jwtaccess"
)

// BenchmarkJWTLocalASCalls checks 1,000 distinct valid JWTs in jwt.mode
// local, each uncached (max_ttl 0), with an introspection endpoint
// configured, and reports the calls it got per 1,000 tokens: 0.
func BenchmarkJWTLocalASCalls(b *testing.B) {
	w := newJWTWorldTTL(b, jwtaccess.ModeLocal, true, 0)
	tokens := make([]string, 1000)
	for i := range tokens {
		tokens[i] = mintJWT(b, jwkstest.ECKey(), "ES256", "ec-1", jwtClaims(map[string]any{"jti": fmt.Sprint(i), "sub": fmt.Sprint("user-", i)}), nil)
	}
	ctx := context.Background()
	var calls int64
	b.ResetTimer()
	for b.Loop() {
		before := w.asCalls()
		for _, tok := range tokens {
			r := Request{Method: "GET", Path: "/api/x", Authorization: "Bearer " + tok}
			if out := w.c.Check(ctx, &r); !out.Decision.Allow || out.Path != PathLocal {
				b.Fatal(out.Decision.Reason, out.Path)
			}
		}
		calls += w.asCalls() - before
	}
	b.ReportMetric(float64(calls)/float64(b.N), "as_calls/1000_jwts")
}

// BenchmarkJWTLocalUncached is one check of a JWT in jwt.mode local with
// nothing cached (max_ttl 0): signature, claims and the decision, per
// algorithm.
func BenchmarkJWTLocalUncached(b *testing.B) {
	for _, alg := range []struct {
		name, kid string
		key       any
	}{
		{"RS256", "rsa-1", jwkstest.RSAKey()},
		{"ES256", "ec-1", jwkstest.ECKey()},
		{"EdDSA", "ed-1", jwkstest.EdKey()},
	} {
		b.Run(alg.name, func(b *testing.B) {
			w := newJWTWorldTTL(b, jwtaccess.ModeLocal, true, 0)
			tok := mintJWT(b, alg.key, alg.name, alg.kid, jwtClaims(nil), nil)
			r := Request{Method: "GET", Path: "/api/x", Authorization: "Bearer " + tok}
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if out := w.c.Check(ctx, &r); !out.Decision.Allow || out.Path != PathLocal {
					b.Fatal(out.Decision.Reason, out.Path)
				}
			}
			if w.asCalls() != 0 {
				b.Fatalf("%d calls to the authorization server", w.asCalls())
			}
		})
	}
}
