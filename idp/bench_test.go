package idp

import (
	"context"
	"net/http"
	"testing"
	"time"
)

// BenchmarkVerify compares a cached check with a full verification of the
// same token (parse, RS256 or ES256 signature, claims), and an
// introspection cache hit with a round trip to an identity provider on
// loopback.
func BenchmarkVerify(b *testing.B) {
	rs, es := newRSAKey(b, "rs-1", 0), newECKey(b, "es-1")
	f := newFakeIdP(b, rs, es)
	f.setIntrospect(func(string) (int, map[string]any) {
		return http.StatusOK, map[string]any{"active": true, "sub": "alice", "aud": testAudience,
			"scope": "docs:read", "exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Unix()}
	})
	v := mustVerifier(b, []Issuer{{Issuer: f.issuer, Audience: testAudience}},
		&Introspection{URL: f.issuer + "/introspect", ClientID: "mcpgate", ClientSecret: "s3cret", Audience: testAudience}, nil)
	ctx := context.Background()
	is := v.issuers[f.issuer]
	for _, k := range []*fakeKey{rs, es} {
		token := sign(b, k, f.claims(testAudience, time.Now()), nil)
		mustAccept(b, v, token)
		b.Run("cached/"+k.alg, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(ctx, token); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("full/"+k.alg, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := is.verify(ctx, token, time.Now()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	mustAccept(b, v, "opaque")
	b.Run("introspection/cached", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := v.Verify(ctx, "opaque"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("introspection/round-trip", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := v.introspect.verify(ctx, "opaque", time.Now()); err != nil {
				b.Fatal(err)
			}
		}
	})
}
