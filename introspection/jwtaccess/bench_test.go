package jwtaccess_test

import (
	"context"
	"testing"
)

// benchmarkVerify measures one uncached check of a valid token: parsing,
// header checks, key lookup in a warm JWKS cache, signature verification
// and claims parsing.
func benchmarkVerify(b *testing.B, token string) {
	e := newEnv(b, keySet()...)
	ctx := context.Background()
	if _, err := e.v.Verify(ctx, token); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.v.Verify(ctx, token); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyRS256(b *testing.B) {
	benchmarkVerify(b, valid(b))
}

func BenchmarkVerifyES256(b *testing.B) {
	benchmarkVerify(b, mint(b, ec1(), "ES256", header("ES256", "ec-1"), payload(nil)))
}

func BenchmarkVerifyEdDSA(b *testing.B) {
	benchmarkVerify(b, mint(b, ed1(), "EdDSA", header("EdDSA", "ed-1"), payload(nil)))
}
