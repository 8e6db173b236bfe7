package jose

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func mustKey(t testing.TB, kid string) *Key {
	t.Helper()
	der, err := GenerateRSAKey()
	if err != nil {
		t.Fatal(err)
	}
	k, err := ParseKey(kid, RS256, der)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

var now = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

func claims() *Claims {
	return &Claims{Issuer: "https://as.example", Subject: "alice", Audience: []string{"https://rs.example/mcp"}, ID: "j1",
		IssuedAt: now, Expires: now.Add(10 * time.Minute), ClientID: "c1", Scope: "a b", GrantID: "g1", Family: "f1", Tenant: "t1", KeyID: "k1"}
}

func opts() VerifyOptions {
	return VerifyOptions{Type: TypeAccessToken, Issuer: "https://as.example", Audience: "https://rs.example/mcp", Leeway: 30 * time.Second, Now: func() time.Time { return now }}
}

func TestSignVerify(t *testing.T) {
	k := mustKey(t, "k1")
	ks, err := NewKeySet(k)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := k.Sign(TypeAccessToken, claims())
	if err != nil {
		t.Fatal(err)
	}
	got, err := ks.Verify(tok, opts())
	if err != nil {
		t.Fatal(err)
	}
	want := claims()
	if got.Subject != want.Subject || got.GrantID != want.GrantID || got.Family != want.Family || got.Tenant != want.Tenant || got.KeyID != want.KeyID ||
		got.Scope != want.Scope || got.ClientID != want.ClientID || !got.Expires.Equal(want.Expires) || got.Audience[0] != want.Audience[0] {
		t.Errorf("claims = %+v, want %+v", got, want)
	}

	other := mustKey(t, "k2")
	otherTok, _ := other.Sign(TypeAccessToken, claims())
	if _, err := ks.Verify(otherTok, opts()); !errors.Is(err, ErrUnknownKey) || !errors.Is(err, ErrInvalid) {
		t.Errorf("unknown kid: %v, want ErrUnknownKey and ErrInvalid", err)
	}
	forged := mustKey(t, "k1") // same kid, different key
	forgedTok, _ := forged.Sign(TypeAccessToken, claims())
	if _, err := ks.Verify(forgedTok, opts()); !errors.Is(err, ErrInvalid) {
		t.Errorf("wrong key with a known kid: %v", err)
	}
	typTok, _ := k.Sign("application/at+jwt", claims())
	if _, err := ks.Verify(typTok, opts()); err != nil {
		t.Errorf("typ application/at+jwt: %v", err)
	}
	if !strings.Contains(string(ks.JWKS()), `"kid":"k1"`) || strings.Contains(string(ks.JWKS()), `"d"`) {
		t.Errorf("JWKS = %s", ks.JWKS())
	}
}

func TestParseKeyRefusals(t *testing.T) {
	if _, err := ParseKey("k", "HS256", nil); err == nil {
		t.Error("HS256 accepted")
	}
	if _, err := ParseKey("k", RS256, []byte("junk")); err == nil {
		t.Error("junk DER accepted")
	}
}

func FuzzVerify(f *testing.F) {
	k := mustKey(f, "k1")
	ks, _ := NewKeySet(k)
	tok, _ := k.Sign(TypeAccessToken, claims())
	f.Add(tok)
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add("a.b.c")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ks.Verify(s, opts())
		if err == nil && s != tok {
			t.Fatalf("accepted a token that was not signed here: %q %+v", s, c)
		}
	})
}

// BenchmarkVerify compares a full RS256 verification with the SHA-256 the
// gateway's verified-token cache costs per hit.
func BenchmarkVerify(b *testing.B) {
	k := mustKey(b, "k1")
	ks, _ := NewKeySet(k)
	tok, _ := k.Sign(TypeAccessToken, claims())
	b.Run("rs256", func(b *testing.B) {
		for b.Loop() {
			if _, err := ks.Verify(tok, opts()); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("hash", func(b *testing.B) {
		for b.Loop() {
			TokenHash(tok)
		}
	})
}
