package dpop

import (
	"context"
	"strconv"
	"testing"
	"time"
)

// BenchmarkVerifyProofES256 is the form check of one ES256 proof, the cost a
// DPoP request adds before introspection.
func BenchmarkVerifyProofES256(b *testing.B) {
	v := newTestVerifier(b, Options{})
	headers := []string{key(b, "ES256").proof(b, nil)}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(headers, testReq, testToken, testNow); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMemoryReplayCache records distinct jtis from parallel checks;
// their short ttl keeps the cache from filling, so each call also drops an
// expired entry.
func BenchmarkMemoryReplayCache(b *testing.B) {
	c := NewMemoryReplayCache(MemoryOptions{})
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		jti := strconv.FormatInt(time.Now().UnixNano(), 36) + "-"
		for i := 0; pb.Next(); i++ {
			if _, err := c.Seen(ctx, "acme", jti+strconv.Itoa(i), time.Millisecond); err != nil {
				b.Fatal(err)
			}
		}
	})
}
