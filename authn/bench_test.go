package authn

import (
	"context"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha512"
	"crypto/subtle"
	"slices"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/apikey"
)

// BenchmarkKeyCheck compares an API key check through the real SQLite store
// with the approach of the tutorial mcpgate started from: a PBKDF2-SHA512
// digest with 10,000 iterations computed on every request.
//
//	go test -run '^$' -bench KeyCheck -benchtime 2s ./authn/
func BenchmarkKeyCheck(b *testing.B) {
	ctx := context.Background()
	db := mustOpenSQLite(b, b.TempDir())
	key, _ := mustCreateKey(b, db, time.Now(), nil)

	b.Run("cached", func(b *testing.B) {
		v := NewKeyVerifier(db, nil)
		defer v.Close()
		if _, err := v.Verify(ctx, key); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		defer reportCPU(b, cpuTime())
		for b.Loop() {
			if _, err := v.Verify(ctx, key); err != nil {
				b.Fatal(err)
			}
		}
	})

	b.Run("store", func(b *testing.B) {
		v := NewKeyVerifier(db, &KeyVerifierOptions{CacheSize: -1})
		defer v.Close()
		b.ReportAllocs()
		defer reportCPU(b, cpuTime())
		for b.Loop() {
			if _, err := v.Verify(ctx, key); err != nil {
				b.Fatal(err)
			}
		}
	})

	b.Run("seed-pbkdf2", func(b *testing.B) {
		// The seed stored salt and PBKDF2 output per key and recomputed
		// the digest of the presented key on every request.
		salt := make([]byte, 16)
		rand.Read(salt)
		stored, err := pbkdf2.Key(sha512.New, key, salt, 10_000, 64)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		defer reportCPU(b, cpuTime())
		for b.Loop() {
			got, err := pbkdf2.Key(sha512.New, key, salt, 10_000, 64)
			if err != nil || subtle.ConstantTimeCompare(got, stored) != 1 {
				b.Fatal("pbkdf2 check failed")
			}
		}
	})

	b.Run("parse-and-hash-only", func(b *testing.B) {
		_, secret, _ := apikey.Parse(key)
		hash := apikey.Hash(secret)
		b.ReportAllocs()
		defer reportCPU(b, cpuTime())
		for b.Loop() {
			_, s, err := apikey.Parse(key)
			if err != nil || !apikey.Verify(hash, s) {
				b.Fatal("failed")
			}
		}
	})
}

// BenchmarkKeyCheckParallel measures the cached check under contention from
// every core, where the read lock of the cache is shared.
func BenchmarkKeyCheckParallel(b *testing.B) {
	ctx := context.Background()
	s := newMemStore()
	key, _ := mustCreateKey(b, s, time.Now(), nil)
	v := NewKeyVerifier(s, nil)
	defer v.Close()
	v.Verify(ctx, key)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := v.Verify(ctx, key); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// reportCPU reports the process CPU time per operation since start.
func reportCPU(b *testing.B, start time.Duration) {
	if start > 0 && b.N > 0 {
		b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
	}
}

// BenchmarkKeyRefusal measures what a client probing for key ids can see:
// how long the refusal of a known id with a wrong secret takes against
// that of an unknown id, each presented again every 3 seconds (a prober
// spacing its requests), through the real SQLite store. It reports the
// median of the single checks; the two should not differ.
//
//	go test -run '^$' -bench KeyRefusal -benchtime 20000x ./authn/
func BenchmarkKeyRefusal(b *testing.B) {
	ctx := context.Background()
	db := mustOpenSQLite(b, b.TempDir())
	key, _ := mustCreateKey(b, db, time.Now(), nil)
	unknown, _, _, err := apikey.Generate()
	if err != nil {
		b.Fatal(err)
	}
	for _, probe := range []struct{ name, key string }{
		{"wrong-secret", wrongSecret(b, key)},
		{"unknown-id", unknown},
	} {
		b.Run(probe.name, func(b *testing.B) {
			clock := newFakeClock()
			v := NewKeyVerifier(db, &KeyVerifierOptions{Now: clock.Now, TouchInterval: -1})
			defer v.Close()
			v.Verify(ctx, probe.key)
			times := make([]time.Duration, 0, b.N)
			for b.Loop() {
				clock.Advance(3 * time.Second)
				start := time.Now()
				if _, err := v.Verify(ctx, probe.key); err == nil {
					b.Fatal("probe accepted")
				}
				times = append(times, time.Since(start))
			}
			slices.Sort(times)
			b.ReportMetric(float64(times[len(times)/2].Nanoseconds())/1e3, "median-µs")
		})
	}
}
