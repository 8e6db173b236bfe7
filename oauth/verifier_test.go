package oauth

import (
	"bytes"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/jose"
)

func b64(v any) string {
	b, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(b)
}

// publicKeyPEM fetches the server's JWKS and returns its first key as PEM,
// the "secret" of the HS256 key-confusion attack.
func (e *env) publicKeyPEM() ([]byte, string) {
	e.t.Helper()
	resp, err := http.Get(e.http.URL + PathJWKS)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var set struct {
		Keys []struct{ Kid, N, E string } `json:"keys"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil || len(set.Keys) == 0 {
		e.t.Fatalf("jwks: %v", err)
	}
	k := set.Keys[0]
	n, _ := base64.RawURLEncoding.DecodeString(k.N)
	ex, _ := base64.RawURLEncoding.DecodeString(k.E)
	pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(ex).Int64())}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		e.t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), k.Kid
}

func TestVerifyRefusals(t *testing.T) {
	e := newEnv(t, nil)
	c := e.addPublicClient("http://127.0.0.1/cb")
	good := e.exchange(c, e.code(authorizeParams(c)), nil).AccessToken
	if _, err := e.verify(good); err != nil {
		t.Fatalf("valid token: %v", err)
	}
	now := e.clock.Now()
	claims := map[string]any{
		"iss": e.srv.Issuer(), "sub": "alice", "aud": e.srv.Resource(), "jti": "j1", "client_id": c.ID,
		"scope": "notes:read notes:write", "iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(),
	}
	pubPEM, kid := e.publicKeyPEM()
	parts := strings.Split(good, ".")

	hs := func(secret []byte) string {
		in := b64(map[string]any{"alg": "HS256", "typ": "at+jwt", "kid": kid}) + "." + b64(claims)
		m := hmac.New(sha256.New, secret)
		m.Write([]byte(in))
		return in + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
	}
	sign := func(typ string, edit func(*jose.Claims)) string {
		cl := &jose.Claims{Issuer: e.srv.Issuer(), Subject: "alice", Audience: []string{e.srv.Resource()}, ID: "j2",
			ClientID: c.ID, IssuedAt: now, Expires: now.Add(5 * time.Minute)}
		if edit != nil {
			edit(cl)
		}
		tok, err := e.srv.signingKey().Sign(typ, cl)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	tests := map[string]string{
		"alg none":                   b64(map[string]any{"alg": "none", "typ": "at+jwt"}) + "." + b64(claims) + ".",
		"alg none with kid":          b64(map[string]any{"alg": "none", "typ": "at+jwt", "kid": kid}) + "." + b64(claims) + ".",
		"HS256 with the public key":  hs(pubPEM),
		"HS256 with the key's DER":   hs(mustPEMBytes(pubPEM)),
		"typ JWT":                    sign("JWT", nil),
		"no typ":                     sign("", nil),
		"another audience":           sign(jose.TypeAccessToken, func(c *jose.Claims) { c.Audience = []string{"https://other.example.com/mcp"} }),
		"no audience":                sign(jose.TypeAccessToken, func(c *jose.Claims) { c.Audience = nil }),
		"another issuer":             sign(jose.TypeAccessToken, func(c *jose.Claims) { c.Issuer = "https://evil.example.com" }),
		"no expiry":                  sign(jose.TypeAccessToken, func(c *jose.Claims) { c.Expires = time.Time{} }),
		"expired":                    sign(jose.TypeAccessToken, func(c *jose.Claims) { c.Expires = now.Add(-time.Minute) }),
		"not yet valid":              sign(jose.TypeAccessToken, func(c *jose.Claims) { c.NotBefore = now.Add(5 * time.Minute) }),
		"lives longer than 24h":      sign(jose.TypeAccessToken, func(c *jose.Claims) { c.Expires = now.Add(24*time.Hour + time.Minute) }),
		"tampered payload":           parts[0] + "." + b64(claims) + "." + parts[2],
		"signature of another token": strings.Join([]string{parts[0], parts[1], strings.Split(sign(jose.TypeAccessToken, nil), ".")[2]}, "."),
		"garbage":                    "not.a.jwt",
		"empty":                      "",
	}
	for name, tok := range tests {
		t.Run(name, func(t *testing.T) {
			if p, err := e.verify(tok); !errors.Is(err, mcpgate.ErrUnauthenticated) {
				t.Errorf("Verify = %+v, %v; want ErrUnauthenticated", p, err)
			}
		})
	}
	t.Run("lives longer than MaxTokenLifetime", func(t *testing.T) {
		short, err := New(e.store, &Options{Resource: e.srv.Resource(), Now: e.clock.Now, Logger: discardLogger(),
			AccessTokenTTL: 10 * time.Minute, MaxTokenLifetime: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := short.Verifier().Verify(t.Context(), good); err != nil {
			t.Errorf("a 10-minute token with MaxTokenLifetime 1h: %v", err)
		}
		long := sign(jose.TypeAccessToken, func(c *jose.Claims) { c.Expires = now.Add(2 * time.Hour) })
		if _, err := short.Verifier().Verify(t.Context(), long); !errors.Is(err, mcpgate.ErrUnauthenticated) {
			t.Errorf("a 2-hour token with MaxTokenLifetime 1h: %v, want ErrUnauthenticated", err)
		}
		if _, err := New(e.store, &Options{Resource: e.srv.Resource(), AccessTokenTTL: 2 * time.Hour, MaxTokenLifetime: time.Hour}); err == nil {
			t.Error("New accepted an AccessTokenTTL longer than MaxTokenLifetime")
		}
	})
	t.Run("expired by the clock", func(t *testing.T) {
		e.clock.Add(10*time.Minute + 31*time.Second)
		if _, err := e.verify(good); !errors.Is(err, mcpgate.ErrUnauthenticated) {
			t.Errorf("Verify after expiry = %v", err)
		}
	})
}

func mustPEMBytes(p []byte) []byte {
	b, _ := pem.Decode(p)
	return b.Bytes
}

// TestRevokedGrant: revoking a grant from the connected-apps page stops its
// tokens at once, here and (through ApplyChange) on another server.
func TestRevokedGrant(t *testing.T) {
	e := newEnv(t, nil)
	replica, err := New(e.store, &Options{Resource: e.srv.Resource(), Now: e.clock.Now, Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	c := e.addPublicClient("http://127.0.0.1/cb")
	tr := e.exchange(c, e.code(authorizeParams(c)), nil)
	p, err := e.verify(tr.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := replica.Verifier().Verify(t.Context(), tr.AccessToken); err != nil {
		t.Fatalf("replica: %v", err)
	}
	grants, err := e.srv.Grants().ListGrants(t.Context(), "alice")
	if err != nil || len(grants) != 1 || grants[0].ID != p.GrantID {
		t.Fatalf("ListGrants = %v, %v", grants, err)
	}
	if err := e.srv.Grants().RevokeGrant(t.Context(), "bob", p.GrantID, e.clock.Now()); !errors.Is(err, mcpgate.ErrNotFound) {
		t.Errorf("RevokeGrant of another subject = %v, want ErrNotFound", err)
	}
	if err := e.srv.Grants().RevokeGrant(t.Context(), "alice", p.GrantID, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := e.verify(tr.AccessToken); err == nil {
		t.Error("token of a revoked grant verifies")
	}
	if r := e.refresh(c, tr.RefreshToken); r.Error != "invalid_grant" {
		t.Errorf("refresh of a revoked grant: %q", r.Error)
	}
	// The replica learns it from the change feed.
	changes, err := e.store.ChangesSince(t.Context(), 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, ch := range changes {
		replica.ApplyChange(ch)
	}
	if _, err := replica.Verifier().Verify(t.Context(), tr.AccessToken); err == nil {
		t.Error("replica accepts a token of a revoked grant after ApplyChange")
	}
	// Subject revocation: tokens issued before it stop working.
	tr2 := e.exchange(c, e.code(authorizeParams(c)), nil)
	e.srv.ApplyChange(mcpgate.Change{Kind: mcpgate.ChangeSubject, ID: "acme/alice", At: e.clock.Now()})
	if _, err := e.verify(tr2.AccessToken); err == nil {
		t.Error("token of a revoked subject verifies")
	}
	// A revocation scoped to another issuer leaves this server's tokens
	// alone; one scoped to this server's issuer applies.
	e.clock.Add(time.Second)
	tr3 := e.exchange(c, e.code(authorizeParams(c)), nil)
	e.clock.Add(time.Second)
	e.srv.ApplyChange(mcpgate.Change{Kind: mcpgate.ChangeSubject, ID: mcpgate.IssuerChangeID("https://idp.example.com", "acme/alice"), At: e.clock.Now()})
	if _, err := e.verify(tr3.AccessToken); err != nil {
		t.Errorf("a revocation for another issuer stopped this server's token: %v", err)
	}
	e.srv.ApplyChange(mcpgate.Change{Kind: mcpgate.ChangeSubject, ID: mcpgate.IssuerChangeID(e.srv.Issuer(), "acme/alice"), At: e.clock.Now()})
	if _, err := e.verify(tr3.AccessToken); err == nil {
		t.Error("a revocation scoped to this server's issuer did not apply")
	}
}

func TestSigningKeyRotation(t *testing.T) {
	e := newEnv(t, nil)
	c := e.addPublicClient("http://127.0.0.1/cb")
	old := e.exchange(c, e.code(authorizeParams(c)), nil).AccessToken
	_, oldKid := e.publicKeyPEM()
	kid, err := e.srv.RotateSigningKey(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if kid == oldKid {
		t.Fatal("rotation kept the kid")
	}
	fresh := e.exchange(c, e.code(authorizeParams(c)), nil).AccessToken
	header, _ := base64.RawURLEncoding.DecodeString(strings.Split(fresh, ".")[0])
	if !strings.Contains(string(header), kid) || !strings.Contains(string(header), `"typ":"at+jwt"`) {
		t.Errorf("new token header %s, want kid %s and typ at+jwt", header, kid)
	}
	for name, tok := range map[string]string{"old": old, "new": fresh} {
		if _, err := e.verify(tok); err != nil {
			t.Errorf("%s token after rotation: %v", name, err)
		}
	}
	if n := len(e.srv.keySet().JWKS()); n == 0 || strings.Count(string(e.srv.keySet().JWKS()), `"kid"`) != 2 {
		t.Errorf("JWKS during overlap: %s", e.srv.keySet().JWKS())
	}
	// A server started later sees both keys too, and signs with the new one.
	other, err := New(e.store, &Options{Resource: e.srv.Resource(), Now: e.clock.Now, Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Verifier().Verify(t.Context(), old); err != nil {
		t.Errorf("restarted server, old token: %v", err)
	}
	if other.signingKey().ID != kid {
		t.Errorf("restarted server signs with %s, want %s", other.signingKey().ID, kid)
	}
	// Once the old key's tokens have expired it leaves the JWKS.
	e.clock.Add(11 * time.Minute)
	if err := e.srv.loadKeys(t.Context(), false); err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(string(e.srv.keySet().JWKS()), `"kid"`); got != 1 {
		t.Errorf("JWKS after overlap has %d keys, want 1", got)
	}
}

func TestEncryptedSigningKey(t *testing.T) {
	kek := make([]byte, 32)
	kek[0] = 7
	e := newEnv(t, func(o *Options) { o.KeyEncryptionKey = kek })
	keys, err := e.store.SigningKeys(t.Context())
	if err != nil || len(keys) != 1 || !strings.HasPrefix(string(keys[0].PrivateKey), encPrefix) {
		t.Fatalf("stored key is not sealed: %v", err)
	}
	if _, err := New(e.store, &Options{Resource: e.srv.Resource(), Logger: discardLogger()}); err == nil {
		t.Error("New without the key encryption key succeeded")
	}
	wrong := make([]byte, 32)
	if _, err := New(e.store, &Options{Resource: e.srv.Resource(), KeyEncryptionKey: wrong, Logger: discardLogger()}); err == nil {
		t.Error("New with a wrong key encryption key succeeded")
	}
	if _, err := New(e.store, &Options{Resource: e.srv.Resource(), KeyEncryptionKey: kek, Logger: discardLogger()}); err != nil {
		t.Errorf("New with the key encryption key: %v", err)
	}
}

// BenchmarkVerifier compares a cached verification (the common case: a
// client reuses its token) with a full RS256 one.
func BenchmarkVerifier(b *testing.B) {
	e := newEnv(b, nil)
	c := e.addPublicClient("http://127.0.0.1/cb")
	tok := e.exchange(c, e.code(authorizeParams(c)), nil).AccessToken
	v := e.srv.Verifier()
	b.Run("cached", func(b *testing.B) {
		for b.Loop() {
			if _, err := v.Verify(b.Context(), tok); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("uncached", func(b *testing.B) {
		for b.Loop() {
			e.srv.verified.clear()
			if _, err := v.Verify(b.Context(), tok); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func TestRevocationsPrune(t *testing.T) {
	r := newRevocations(10 * time.Minute)
	old := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range pruneAt {
		r.apply(mcpgate.Change{Kind: mcpgate.ChangeToken, ID: fmt.Sprint("old", i), At: old})
	}
	r.apply(mcpgate.Change{Kind: mcpgate.ChangeToken, ID: "recent", At: old.Add(time.Minute)})
	if !r.token("old1") {
		t.Fatal("pruned before the horizon passed")
	}
	r.apply(mcpgate.Change{Kind: mcpgate.ChangeToken, ID: "new", At: old.Add(time.Hour)})
	if r.token("old1") || !r.token("new") {
		t.Error("entries past the horizon kept, or the new one lost")
	}
	if got := len(r.tokens); got != 1 {
		t.Errorf("%d entries after pruning, want 1", got)
	}
}

// TestRotationByAnotherProcess: a server picks up a key rotated by another
// process (the CLI) for signing and for verifying.
func TestRotationByAnotherProcess(t *testing.T) {
	e := newEnv(t, nil)
	cli, err := New(e.store, &Options{Resource: e.srv.Resource(), Now: e.clock.Now, Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	kid, err := cli.RotateSigningKey(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	// A token signed with the new key verifies on the running server.
	c := e.addPublicClient("http://127.0.0.1/cb")
	fresh, err := cli.signingKey().Sign(jose.TypeAccessToken, &jose.Claims{Issuer: e.srv.Issuer(), Subject: "alice",
		Audience: []string{e.srv.Resource()}, ID: "j", ClientID: c.ID, IssuedAt: e.clock.Now(), Expires: e.clock.Now().Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	e.srv.keysMu.Lock()
	e.srv.keysLoaded = time.Time{} // as if the reload interval had passed
	e.srv.keysMu.Unlock()
	if _, err := e.verify(fresh); err != nil {
		t.Errorf("token of the rotated key: %v", err)
	}
	// And the running server signs with it.
	e.srv.keysMu.Lock()
	e.srv.keysLoaded = time.Time{}
	e.srv.keysMu.Unlock()
	tok := e.exchange(c, e.code(authorizeParams(c)), nil).AccessToken
	header, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
	if !strings.Contains(string(header), kid) {
		t.Errorf("token header %s, want kid %s", header, kid)
	}
}

// TestEncryptSigningKeys: keys stored before a key encryption key was
// configured keep working and are encrypted in place; a rotation of the
// key encryption key reads both during the overlap and re-encrypts with
// the new one; tokens signed before either still verify.
func TestEncryptSigningKeys(t *testing.T) {
	kek1, kek2 := make([]byte, 32), make([]byte, 32)
	kek1[0], kek2[0] = 1, 2
	e := newEnv(t, nil) // a store from before encryption: the key is plain PKCS #8
	c := e.addPublicClient("http://127.0.0.1/cb")
	tok := e.exchange(c, e.code(authorizeParams(c)), nil).AccessToken
	stored := func() []byte {
		t.Helper()
		keys, err := e.store.SigningKeys(t.Context())
		if err != nil || len(keys) != 1 {
			t.Fatalf("SigningKeys = %d keys, %v", len(keys), err)
		}
		return keys[0].PrivateKey
	}
	plain := stored()
	if _, err := x509.ParsePKCS8PrivateKey(plain); err != nil {
		t.Fatalf("the key before encryption is not plain PKCS #8: %v", err)
	}
	open := func(kek, prev []byte) (*Server, error) {
		return New(e.store, &Options{Resource: e.srv.Resource(), Now: e.clock.Now, Logger: discardLogger(),
			KeyEncryptionKey: kek, PreviousKeyEncryptionKey: prev})
	}
	mustOpen := func(kek, prev []byte) *Server {
		t.Helper()
		s, err := open(kek, prev)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	mustEncrypt := func(s *Server, want int) {
		t.Helper()
		if n, err := s.EncryptSigningKeys(t.Context()); err != nil || n != want {
			t.Fatalf("EncryptSigningKeys = %d, %v; want %d", n, err, want)
		}
	}
	verifies := func(s *Server) {
		t.Helper()
		if _, err := s.Verifier().Verify(t.Context(), tok); err != nil {
			t.Errorf("a token signed before: %v", err)
		}
	}

	s1 := mustOpen(kek1, nil) // an unencrypted key is still read
	mustEncrypt(s1, 1)
	if b := stored(); !strings.HasPrefix(string(b), encPrefix) || bytes.Contains(b, plain) {
		t.Fatalf("the key after EncryptSigningKeys is not encrypted")
	}
	mustEncrypt(s1, 0)
	verifies(mustOpen(kek1, nil))
	if _, err := open(nil, nil); !errors.Is(err, ErrKeyDecryption) {
		t.Errorf("New without a key encryption key: %v, want ErrKeyDecryption", err)
	}

	// Rotation: kek2 replaces kek1.
	if _, err := open(kek2, nil); !errors.Is(err, ErrKeyDecryption) {
		t.Errorf("New with only the new key before re-encryption: %v, want ErrKeyDecryption", err)
	}
	s2 := mustOpen(kek2, kek1)
	verifies(s2)
	mustEncrypt(s2, 1)
	verifies(mustOpen(kek2, nil))
	if _, err := open(kek1, nil); !errors.Is(err, ErrKeyDecryption) {
		t.Errorf("New with the replaced key after re-encryption: %v, want ErrKeyDecryption", err)
	}
	if _, err := open(nil, kek1); err == nil {
		t.Error("New with a previous key and no current one succeeded")
	}
}
