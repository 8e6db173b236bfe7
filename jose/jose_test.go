package jose

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate"
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

// signRaw signs header and payload exactly as given, for tokens Sign never
// makes: an attacker holds no key, but an issuer's bug or a token of
// another profile may carry such headers and claims.
func signRaw(tb testing.TB, k *Key, header, payload map[string]any) string {
	tb.Helper()
	enc := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			tb.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	in := enc(header) + "." + enc(payload)
	digest := sha256.Sum256([]byte(in))
	sig, err := rsa.SignPKCS1v15(rand.Reader, k.private, crypto.SHA256, digest[:])
	if err != nil {
		tb.Fatal(err)
	}
	return in + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// TestVerifyRefusesUnknownCritAndBadDates: a crit header names extensions
// the recipient must understand (RFC 7515 §4.1.11), and mcpgate
// understands none; exp, nbf and iat are NumericDates (RFC 7519 §2), never
// strings; and a token may not live longer than MaxLifetime.
func TestVerifyRefusesUnknownCritAndBadDates(t *testing.T) {
	k := mustKey(t, "k1")
	ks, err := NewKeySet(k)
	if err != nil {
		t.Fatal(err)
	}
	header := func(edit func(map[string]any)) map[string]any {
		h := map[string]any{"alg": RS256, "typ": TypeAccessToken, "kid": "k1"}
		if edit != nil {
			edit(h)
		}
		return h
	}
	payload := func(edit func(map[string]any)) map[string]any {
		p := map[string]any{"iss": "https://as.example", "sub": "alice", "aud": "https://rs.example/mcp", "jti": "j1",
			"iat": now.Unix(), "exp": now.Add(10 * time.Minute).Unix()}
		if edit != nil {
			edit(p)
		}
		return p
	}
	if _, err := ks.Verify(signRaw(t, k, header(nil), payload(nil)), opts()); err != nil {
		t.Fatalf("the unedited token is refused: %v", err)
	}
	for _, tc := range []struct {
		name          string
		header, claim func(map[string]any)
	}{
		{"crit names an unknown extension", func(h map[string]any) { h["crit"] = []any{"urn:example:x"}; h["urn:example:x"] = true }, nil},
		{"crit names a registered header", func(h map[string]any) { h["crit"] = []any{"kid"} }, nil},
		{"crit empty", func(h map[string]any) { h["crit"] = []any{} }, nil},
		{"crit not a list", func(h map[string]any) { h["crit"] = "b64" }, nil},
		{"exp a string", nil, func(p map[string]any) { p["exp"] = fmt.Sprint(now.Add(10 * time.Minute).Unix()) }},
		{"exp a boolean", nil, func(p map[string]any) { p["exp"] = true }},
		{"nbf a string", nil, func(p map[string]any) { p["nbf"] = fmt.Sprint(now.Unix()) }},
		{"iat a string", nil, func(p map[string]any) { p["iat"] = fmt.Sprint(now.Unix()) }},
		{"lives longer than the default 24h", nil, func(p map[string]any) { p["exp"] = now.Add(24*time.Hour + time.Second).Unix() }},
		{"no iat, expires beyond 24h from now", nil, func(p map[string]any) { delete(p, "iat"); p["exp"] = now.Add(25 * time.Hour).Unix() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok := signRaw(t, k, header(tc.header), payload(tc.claim))
			if c, err := ks.Verify(tok, opts()); !errors.Is(err, ErrInvalid) {
				t.Errorf("Verify = %+v, %v; want ErrInvalid", c, err)
			}
		})
	}
	t.Run("MaxLifetime set", func(t *testing.T) {
		o := opts()
		o.MaxLifetime = time.Hour
		tok := signRaw(t, k, header(nil), payload(func(p map[string]any) { p["exp"] = now.Add(61 * time.Minute).Unix() }))
		if _, err := ks.Verify(tok, o); !errors.Is(err, ErrInvalid) {
			t.Errorf("a token living 61m with MaxLifetime 1h: %v, want ErrInvalid", err)
		}
		tok = signRaw(t, k, header(nil), payload(func(p map[string]any) { p["exp"] = now.Add(time.Hour).Unix() }))
		if _, err := ks.Verify(tok, o); err != nil {
			t.Errorf("a token living exactly 1h with MaxLifetime 1h: %v", err)
		}
	})
}

// TestRemoteVerifyRefusesUnknownCritAndBadDates applies the same header
// and claim rules to another issuer's tokens.
func TestRemoteVerifyRefusesUnknownCritAndBadDates(t *testing.T) {
	k := mustKey(t, "k1")
	ks, err := NewKeySet(k)
	if err != nil {
		t.Fatal(err)
	}
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(ks.JWKS())
	}))
	defer jwks.Close()
	remote, err := NewRemoteKeySet(jwks.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer remote.Close()
	o := ForeignVerifyOptions{Algorithms: []string{RS256}, Issuer: "https://as.example", Audience: "https://rs.example/mcp",
		Leeway: 30 * time.Second, Now: func() time.Time { return now }}
	header := func(edit func(map[string]any)) map[string]any {
		h := map[string]any{"alg": RS256, "typ": TypeAccessToken, "kid": "k1"}
		if edit != nil {
			edit(h)
		}
		return h
	}
	payload := func(edit func(map[string]any)) map[string]any {
		p := map[string]any{"iss": "https://as.example", "sub": "alice", "aud": "https://rs.example/mcp",
			"iat": now.Unix(), "exp": now.Add(10 * time.Minute).Unix()}
		if edit != nil {
			edit(p)
		}
		return p
	}
	if _, err := remote.Verify(t.Context(), signRaw(t, k, header(nil), payload(nil)), o); err != nil {
		t.Fatalf("the unedited token is refused: %v", err)
	}
	for _, tc := range []struct {
		name          string
		header, claim func(map[string]any)
	}{
		{"crit names an unknown extension", func(h map[string]any) { h["crit"] = []any{"urn:example:x"}; h["urn:example:x"] = true }, nil},
		{"crit empty", func(h map[string]any) { h["crit"] = []any{} }, nil},
		{"exp a string", nil, func(p map[string]any) { p["exp"] = fmt.Sprint(now.Add(10 * time.Minute).Unix()) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok := signRaw(t, k, header(tc.header), payload(tc.claim))
			if c, err := remote.Verify(t.Context(), tok, o); !errors.Is(err, ErrInvalid) {
				t.Errorf("Verify = %+v, %v; want ErrInvalid", c, err)
			}
		})
	}
}

// Every refusal names its reason, for the audit log and mcpgate audit.
func TestVerifyNamesTheReason(t *testing.T) {
	k := mustKey(t, "k1")
	ks, err := NewKeySet(k)
	if err != nil {
		t.Fatal(err)
	}
	sign := func(edit func(*Claims), typ string) string {
		c := claims()
		if edit != nil {
			edit(c)
		}
		tok, err := k.Sign(typ, c)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	other := mustKey(t, "k2")
	otherTok, _ := other.Sign(TypeAccessToken, claims())
	for _, tc := range []struct {
		name, token, want string
	}{
		{"expired", sign(func(c *Claims) { c.IssuedAt = now.Add(-time.Hour); c.Expires = now.Add(-time.Minute) }, TypeAccessToken), mcpgate.ReasonExpired},
		{"not yet valid", sign(func(c *Claims) { c.IssuedAt = now.Add(time.Hour); c.Expires = now.Add(2 * time.Hour) }, TypeAccessToken), mcpgate.ReasonExpired},
		{"another audience", sign(func(c *Claims) { c.Audience = []string{"https://other.example/mcp"} }, TypeAccessToken), mcpgate.ReasonWrongAudience},
		{"another issuer", sign(func(c *Claims) { c.Issuer = "https://evil.example" }, TypeAccessToken), mcpgate.ReasonWrongIssuer},
		{"another typ", sign(nil, "JWT"), mcpgate.ReasonWrongType},
		{"unknown key", otherTok, mcpgate.ReasonBadSignature},
		{"lives too long", sign(func(c *Claims) { c.Expires = now.Add(48 * time.Hour) }, TypeAccessToken), mcpgate.ReasonTooLong},
		{"garbage", "not.a.jwt", mcpgate.ReasonMalformed},
	} {
		_, err := ks.Verify(tc.token, opts())
		if got := mcpgate.Reason(err); got != tc.want || !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: reason %q (%v), want %q", tc.name, got, err, tc.want)
		}
	}
}
