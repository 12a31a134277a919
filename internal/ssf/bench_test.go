package ssf

import (
	"context"
	"fmt"
	"testing"
)

// BenchmarkSign and BenchmarkVerify measure one SET's signing and
// verification (signature, claims, events, subject, replay check) for each
// algorithm family; verifying includes decoding the events.
func BenchmarkSign(b *testing.B) {
	for _, alg := range []string{"ES256", "RS256", "EdDSA"} {
		b.Run(alg, func(b *testing.B) {
			f := newFixture(b, alg)
			set := newSET()
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				set.JTI = fmt.Sprintf("jti-%d", i)
				if _, err := f.signer.Sign(set); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkVerify(b *testing.B) {
	ctx := context.Background()
	for _, alg := range []string{"ES256", "RS256", "EdDSA"} {
		b.Run(alg, func(b *testing.B) {
			f := newFixture(b, alg)
			tok := f.sign(b)
			b.ReportAllocs()
			for b.Loop() {
				set, err := f.verifier.Verify(ctx, tok)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := set.DecodeEvents(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
