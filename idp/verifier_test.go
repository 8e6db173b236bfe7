package idp

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate"
)

const testAudience = "https://mcp.example.com/mcp"

// fakeClock is a settable clock for tests.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newClock() *fakeClock { return &fakeClock{t: time.Now().Truncate(time.Second)} }

func mustVerifier(tb testing.TB, issuers []Issuer, in *Introspection, opts *Options) *Verifier {
	tb.Helper()
	v, err := New(issuers, in, opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { v.Close() })
	return v
}

func mustAccept(tb testing.TB, v *Verifier, token string) *mcpgate.Principal {
	tb.Helper()
	p, err := v.Verify(context.Background(), token)
	if err != nil {
		tb.Fatalf("Verify: %v", err)
	}
	return p
}

func mustRefuse(tb testing.TB, v *Verifier, token string) error {
	tb.Helper()
	p, err := v.Verify(context.Background(), token)
	if err == nil {
		tb.Fatalf("Verify accepted the token: %+v", p)
	}
	if !errors.Is(err, mcpgate.ErrUnauthenticated) {
		tb.Fatalf("Verify: %v, does not match ErrUnauthenticated (would be a 503, not a 401)", err)
	}
	return err
}

func TestJWTAccepted(t *testing.T) {
	rs, es := newRSAKey(t, "rs-1", 0), newECKey(t, "es-1")
	f := newFakeIdP(t, rs, es)
	clock := newClock()
	v := mustVerifier(t, []Issuer{{
		Issuer: f.issuer, Audience: testAudience, TokenType: "at+jwt",
		Claims: Claims{TenantClaim: "org_id", Scopes: map[string][]string{"admins": {"mcpgate:admin"}}},
	}}, nil, &Options{Now: clock.Now})

	for _, k := range []*fakeKey{rs, es} {
		t.Run(k.alg, func(t *testing.T) {
			c := f.claims(testAudience, clock.Now())
			c["org_id"] = "acme"
			c["groups"] = []any{"admins", "others"}
			p := mustAccept(t, v, sign(t, k, c, nil))
			want := mcpgate.Principal{Issuer: f.issuer, Subject: "alice", Tenant: "acme", ClientID: "app-1",
				TokenID: c["jti"].(string), Method: mcpgate.MethodJWT}
			if p.Issuer != want.Issuer || p.Subject != want.Subject || p.Tenant != want.Tenant ||
				p.ClientID != want.ClientID || p.TokenID != want.TokenID || p.Method != want.Method {
				t.Errorf("principal = %+v, want %+v", *p, want)
			}
			if got, want := strings.Join(p.Scopes, " "), "docs:read mcpgate:admin notes:write"; got != want {
				t.Errorf("scopes = %q, want %q", got, want)
			}
			if !p.Expires.Equal(time.Unix(c["exp"].(int64), 0)) {
				t.Errorf("expires = %v, want %v", p.Expires, c["exp"])
			}
		})
	}
	if n := f.jwksFetches.Load(); n != 1 {
		t.Errorf("JWKS fetched %d times, want 1", n)
	}
}

// TestJWTRefused is the list of forged, misdirected and stale tokens that
// must be refused, each with a 401 (an error matching ErrUnauthenticated).
func TestJWTRefused(t *testing.T) {
	rs := newRSAKey(t, "rs-1", 0)
	es := newECKey(t, "es-1")
	mismatch := &fakeKey{kid: "rs-mismatch", alg: "RS256", jwkAlg: "RS384", rsa: testRSAKey(t, 1)}
	f := newFakeIdP(t, rs, es, mismatch)
	other := newFakeIdP(t, newRSAKey(t, "rs-1", 2))
	clock := newClock()
	now := clock.Now()
	v := mustVerifier(t, []Issuer{
		{Issuer: f.issuer, Audience: testAudience, MaxTokenLifetime: time.Hour},
		{Issuer: other.issuer, Audience: testAudience},
	}, nil, &Options{Now: clock.Now})

	with := func(edit func(c map[string]any)) map[string]any {
		c := f.claims(testAudience, now)
		edit(c)
		return c
	}
	pubDER, _ := x509.MarshalPKIXPublicKey(&rs.rsa.PublicKey)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	valid := sign(t, rs, f.claims(testAudience, now), nil)
	huge := sign(t, rs, with(func(c map[string]any) { c["pad"] = strings.Repeat("x", MaxTokenBytes) }), nil)

	for _, tc := range []struct {
		name  string
		token string
	}{
		{"wrong issuer", sign(t, rs, with(func(c map[string]any) { c["iss"] = "https://evil.example" }), nil)},
		{"issuer of another trusted idp, signed by this one", sign(t, rs, with(func(c map[string]any) { c["iss"] = other.issuer }), nil)},
		{"issuer with a trailing slash", sign(t, rs, with(func(c map[string]any) { c["iss"] = f.issuer + "/" }), nil)},
		{"wrong audience", sign(t, rs, with(func(c map[string]any) { c["aud"] = "https://other.example.com/mcp" }), nil)},
		{"audience of another resource only", sign(t, rs, with(func(c map[string]any) { c["aud"] = []any{testAudience + "/other", "https://mcp.example.com"} }), nil)},
		{"no audience", sign(t, rs, with(func(c map[string]any) { delete(c, "aud") }), nil)},
		{"expired", sign(t, rs, with(func(c map[string]any) {
			c["iat"], c["exp"] = now.Add(-20*time.Minute).Unix(), now.Add(-time.Minute).Unix()
		}), nil)},
		{"no exp", sign(t, rs, with(func(c map[string]any) { delete(c, "exp") }), nil)},
		{"not yet valid", sign(t, rs, with(func(c map[string]any) { c["nbf"] = now.Add(5 * time.Minute).Unix() }), nil)},
		{"issued in the future", sign(t, rs, with(func(c map[string]any) { c["iat"] = now.Add(5 * time.Minute).Unix() }), nil)},
		{"lives longer than allowed", sign(t, rs, with(func(c map[string]any) { c["exp"] = now.Add(2 * time.Hour).Unix() }), nil)},
		{"exp a string", sign(t, rs, with(func(c map[string]any) { c["exp"] = fmt.Sprint(now.Add(5 * time.Minute).Unix()) }), nil)},
		{"crit names an unknown extension", sign(t, rs, f.claims(testAudience, now), func(h map[string]any) { h["crit"] = []any{"urn:example:x"}; h["urn:example:x"] = 1 })},
		{"alg none", sign(t, rs, f.claims(testAudience, now), func(h map[string]any) { h["alg"] = "none" })},
		{"alg none, signature kept", strings.TrimSuffix(sign(t, rs, f.claims(testAudience, now), func(h map[string]any) { h["alg"] = "none" }), ".") + "." + strings.Split(valid, ".")[2]},
		{"HS256 keyed with the RSA public key (PEM)", signHS256(rs, f.claims(testAudience, now), pubPEM)},
		{"HS256 keyed with the RSA public key (DER)", signHS256(rs, f.claims(testAudience, now), pubDER)},
		{"HS256 keyed with the RSA modulus", signHS256(rs, f.claims(testAudience, now), rs.rsa.N.Bytes())},
		{"JWK alg differs from the header", sign(t, mismatch, f.claims(testAudience, now), nil)},
		{"ES256 header on an RSA key", sign(t, &fakeKey{kid: "rs-1", alg: "ES256", ec: es.ec}, f.claims(testAudience, now), nil)},
		{"signature broken by edited claims", editClaims(valid, with(func(c map[string]any) { c["sub"] = "admin" }))},
		{"scope added", editClaims(valid, with(func(c map[string]any) { c["scope"] = "mcpgate:admin" }))},
		{"signed by another idp's key", sign(t, &fakeKey{kid: "rs-1", alg: "RS256", rsa: testRSAKey(t, 2)}, f.claims(testAudience, now), nil)},
		{"no kid", sign(t, rs, f.claims(testAudience, now), func(h map[string]any) { delete(h, "kid") })},
		{"typ of an identity assertion", sign(t, rs, f.claims(testAudience, now), func(h map[string]any) { h["typ"] = "mcpgate-id+jwt" })},
		{"typ of a logout token", sign(t, rs, f.claims(testAudience, now), func(h map[string]any) { h["typ"] = "logout+jwt" })},
		{"larger than 16 KiB", huge},
		{"not a JWT", "opaque-token-without-introspection"},
		{"two segments", strings.Join(strings.Split(valid, ".")[:2], ".")},
		{"empty", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := mustRefuse(t, v, tc.token)
			t.Logf("refused: %v", err)
		})
	}
	if n := f.jwksFetches.Load(); n > 2 {
		t.Errorf("JWKS of the issuer fetched %d times, want at most 2", n)
	}
}

// TestMaxTokenLifetimeOption: an issuer or introspection endpoint without
// its own max_token_lifetime takes Options.MaxTokenLifetime (the gateway's
// --max-token-lifetime), and one with its own keeps it.
func TestMaxTokenLifetimeOption(t *testing.T) {
	rs := newRSAKey(t, "rs-1", 0)
	f := newFakeIdP(t, rs)
	ownKey := newRSAKey(t, "rs-2", 2)
	own := newFakeIdP(t, ownKey)
	clock := newClock()
	now := clock.Now()
	v := mustVerifier(t, []Issuer{
		{Issuer: f.issuer, Audience: testAudience},
		{Issuer: own.issuer, Audience: testAudience, MaxTokenLifetime: 3 * time.Hour},
	}, nil, &Options{Now: clock.Now, MaxTokenLifetime: time.Hour})
	lives := func(f *fakeIdP, k *fakeKey, d time.Duration) string {
		c := f.claims(testAudience, now)
		c["exp"] = now.Add(d).Unix()
		return sign(t, k, c, nil)
	}
	mustAccept(t, v, lives(f, rs, time.Hour))
	mustRefuse(t, v, lives(f, rs, 2*time.Hour))
	mustAccept(t, v, lives(own, ownKey, 2*time.Hour))
	mustRefuse(t, v, lives(own, ownKey, 4*time.Hour))
	if got, want := v.Horizon(), 3*time.Hour+DefaultLeeway; got != want {
		t.Errorf("Horizon = %s, want %s", got, want)
	}
}

func TestTokenTypeRequired(t *testing.T) {
	rs := newRSAKey(t, "rs-1", 0)
	f := newFakeIdP(t, rs)
	v := mustVerifier(t, []Issuer{{Issuer: f.issuer, Audience: testAudience, TokenType: "at+jwt"}}, nil, nil)
	mustRefuse(t, v, sign(t, rs, f.claims(testAudience, time.Now()), func(h map[string]any) { h["typ"] = "JWT" }))
	mustAccept(t, v, sign(t, rs, f.claims(testAudience, time.Now()), func(h map[string]any) { h["typ"] = "application/at+jwt" }))
}

func TestConfigRefused(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Issuer
	}{
		{"http on a public host", Issuer{Issuer: "http://idp.example.com", Audience: testAudience}},
		{"HS256 allowed", Issuer{Issuer: "https://idp.example.com", Audience: testAudience, Algorithms: []string{"RS256", "HS256"}}},
		{"none allowed", Issuer{Issuer: "https://idp.example.com", Audience: testAudience, Algorithms: []string{"none"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if v, err := New([]Issuer{tc.cfg}, nil, &Options{Timeout: 100 * time.Millisecond}); err == nil {
				v.Close()
				t.Fatal("New accepted the configuration")
			}
		})
	}
}

// TestUnknownKidFlood sends many tokens with made-up kids, concurrently:
// the issuer's JWKS is fetched at most once more per interval, and every
// token is refused.
func TestUnknownKidFlood(t *testing.T) {
	rs := newRSAKey(t, "rs-1", 0)
	f := newFakeIdP(t, rs)
	v := mustVerifier(t, []Issuer{{Issuer: f.issuer, Audience: testAudience}}, nil, &Options{UnknownKeyEvery: time.Minute})
	start := f.jwksFetches.Load()
	const n = 500
	var wg sync.WaitGroup
	var accepted atomic.Int32
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k := &fakeKey{kid: fmt.Sprintf("junk-%d", i), alg: "RS256", rsa: rs.rsa}
			if _, err := v.Verify(context.Background(), sign(t, k, f.claims(testAudience, time.Now()), nil)); err == nil {
				accepted.Add(1)
			}
		}()
	}
	wg.Wait()
	if accepted.Load() != 0 {
		t.Errorf("%d tokens with unknown kids accepted", accepted.Load())
	}
	if got := f.jwksFetches.Load() - start; got > 1 {
		t.Errorf("%d tokens with unknown kids caused %d JWKS fetches, want at most 1", n, got)
	}
	t.Logf("%d tokens with unknown kids: %d JWKS fetches", n, f.jwksFetches.Load()-start)
}

// TestKeyRotation: a token signed with a key the issuer has just added is
// accepted after one fetch of its JWKS.
func TestKeyRotation(t *testing.T) {
	old, next := newRSAKey(t, "k-1", 0), newRSAKey(t, "k-2", 1)
	f := newFakeIdP(t, old)
	v := mustVerifier(t, []Issuer{{Issuer: f.issuer, Audience: testAudience}}, nil, nil)
	mustAccept(t, v, sign(t, old, f.claims(testAudience, time.Now()), nil))
	before := f.jwksFetches.Load()
	f.setKeys(next, old)
	mustAccept(t, v, sign(t, next, f.claims(testAudience, time.Now()), nil))
	if got := f.jwksFetches.Load() - before; got != 1 {
		t.Errorf("rotation picked up with %d fetches, want 1", got)
	}
}

// TestUnreachable: an issuer or introspection endpoint that does not answer
// makes its tokens fail closed with a refusal (401, not 503) within the
// timeout, and the log gets one warning, not one per request.
func TestUnreachable(t *testing.T) {
	hang := make(chan struct{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	slow := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	})}
	go slow.Serve(ln)
	t.Cleanup(func() { close(hang); slow.Close() })
	url := "http://" + ln.Addr().String()

	var logs bytes.Buffer
	var logMu sync.Mutex
	logger := slog.New(slog.NewTextHandler(&lockedWriter{w: &logs, mu: &logMu}, nil))
	const timeout = 300 * time.Millisecond
	start := time.Now()
	v := mustVerifier(t, []Issuer{{Issuer: url, Audience: testAudience}},
		&Introspection{URL: url + "/introspect", ClientID: "mcpgate", ClientSecret: "s3cret", Audience: testAudience},
		&Options{Timeout: timeout, Logger: logger, DiscoveryRetry: time.Millisecond})
	if d := time.Since(start); d > 3*timeout {
		t.Errorf("New took %v with an unreachable issuer, want about %v", d, timeout)
	}
	rs := newRSAKey(t, "k", 0)
	jwt := sign(t, rs, map[string]any{"iss": url, "aud": testAudience, "sub": "a", "exp": time.Now().Add(time.Minute).Unix()}, nil)
	for i := range 8 {
		for _, tok := range []string{jwt, fmt.Sprintf("opaque-%d", i)} {
			start := time.Now()
			err := mustRefuse(t, v, tok)
			if d := time.Since(start); d > timeout+500*time.Millisecond {
				t.Errorf("refusal took %v, want within the %v timeout: %v", d, timeout, err)
			}
		}
	}
	logMu.Lock()
	out := logs.String()
	logMu.Unlock()
	if n := strings.Count(out, "does not answer"); n != 2 {
		t.Errorf("%d warnings for two unreachable endpoints over 16 requests, want 2:\n%s", n, out)
	}
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestRevocation(t *testing.T) {
	rs := newRSAKey(t, "rs-1", 0)
	f := newFakeIdP(t, rs)
	g := newFakeIdP(t, newRSAKey(t, "rs-1", 1))
	clock := newClock()
	v := mustVerifier(t, []Issuer{
		{Issuer: f.issuer, Audience: testAudience},
		{Issuer: g.issuer, Audience: testAudience},
	}, nil, &Options{Now: clock.Now})
	gk := g.keysCopy()[0]
	tokenF := func(edit func(map[string]any)) string {
		c := f.claims(testAudience, clock.Now())
		if edit != nil {
			edit(c)
		}
		return sign(t, rs, c, nil)
	}
	change := func(kind, issuer, value string) mcpgate.Change {
		return mcpgate.Change{Kind: kind, ID: mcpgate.IssuerChangeID(issuer, value), At: clock.Now()}
	}

	t.Run("jti of one issuer", func(t *testing.T) {
		tok := tokenF(func(c map[string]any) { c["jti"] = "j-1" })
		gTok := sign(t, gk, map[string]any{"iss": g.issuer, "aud": testAudience, "sub": "alice", "jti": "j-1",
			"iat": clock.Now().Unix(), "exp": clock.Now().Add(time.Minute).Unix()}, nil)
		mustAccept(t, v, tok)
		mustAccept(t, v, gTok)
		v.Apply(change(mcpgate.ChangeToken, f.issuer, "j-1"))
		mustRefuse(t, v, tok)
		mustAccept(t, v, gTok) // the same jti of another issuer is another token
	})
	t.Run("subject of every issuer, until now", func(t *testing.T) {
		tok := tokenF(func(c map[string]any) { c["sub"] = "bob" })
		mustAccept(t, v, tok)
		v.Apply(change(mcpgate.ChangeSubject, "", "bob"))
		mustRefuse(t, v, tok)
		clock.Add(2 * time.Second)
		mustAccept(t, v, tokenF(func(c map[string]any) { c["sub"] = "bob" })) // issued after the revocation
	})
	t.Run("subject of another issuer", func(t *testing.T) {
		tok := tokenF(func(c map[string]any) { c["sub"] = "carol" })
		v.Apply(change(mcpgate.ChangeSubject, g.issuer, "carol"))
		mustAccept(t, v, tok)
	})
	t.Run("client", func(t *testing.T) {
		tok := tokenF(func(c map[string]any) { c["client_id"] = "app-9" })
		mustAccept(t, v, tok)
		v.Apply(change(mcpgate.ChangeClient, f.issuer, "app-9"))
		mustRefuse(t, v, tok)
		clock.Add(time.Second)
		mustRefuse(t, v, tokenF(func(c map[string]any) { c["client_id"] = "app-9" }))
	})
	t.Run("expires with the tokens it covers", func(t *testing.T) {
		v.Apply(change(mcpgate.ChangeClient, f.issuer, "app-10"))
		clock.Add(v.Horizon())
		mustAccept(t, v, tokenF(func(c map[string]any) { c["client_id"] = "app-10" }))
		old := change(mcpgate.ChangeClient, f.issuer, "app-11")
		old.At = clock.Now().Add(-v.Horizon())
		v.Apply(old)
		mustAccept(t, v, tokenF(func(c map[string]any) { c["client_id"] = "app-11" }))
	})
	t.Run("purges the cache", func(t *testing.T) {
		tok := tokenF(func(c map[string]any) { c["jti"] = "j-purge" })
		mustAccept(t, v, tok)
		n := v.cached()
		v.Apply(change(mcpgate.ChangeToken, "", "j-purge"))
		if got := v.cached(); got != n-1 {
			t.Errorf("cache holds %d tokens after revoking one of %d", got, n)
		}
	})
}

func (f *fakeIdP) keysCopy() []*fakeKey {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*fakeKey(nil), f.keys...)
}

func (v *Verifier) cached() int {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return len(v.cache)
}

func TestCacheBoundedAndSingleflight(t *testing.T) {
	f := newFakeIdP(t)
	clock := newClock()
	var calls atomic.Int32
	release := make(chan struct{})
	f.setIntrospect(func(token string) (int, map[string]any) {
		calls.Add(1)
		if token == "slow" {
			<-release
		}
		return http.StatusOK, map[string]any{"active": true, "sub": "u-" + token, "aud": testAudience,
			"exp": clock.Now().Add(time.Hour).Unix(), "iat": clock.Now().Unix()}
	})
	v := mustVerifier(t, nil, &Introspection{URL: f.issuer + "/introspect", ClientID: "mcpgate", ClientSecret: "s3cret",
		Audience: testAudience}, &Options{Now: clock.Now, CacheSize: 8})

	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() { defer wg.Done(); mustAccept(t, v, "slow") }()
	}
	time.Sleep(50 * time.Millisecond)
	close(release)
	wg.Wait()
	if n := calls.Load(); n != 1 {
		t.Errorf("50 concurrent first uses of one token: %d introspections, want 1", n)
	}
	for i := range 100 {
		mustAccept(t, v, fmt.Sprintf("t-%d", i))
	}
	if n := v.cached(); n > 8 {
		t.Errorf("cache holds %d tokens, bound is 8", n)
	}
}

func TestIntrospection(t *testing.T) {
	f := newFakeIdP(t)
	clock := newClock()
	active := map[string]bool{"good": true, "other-aud": true, "dpop": true}
	f.setIntrospect(func(token string) (int, map[string]any) {
		if !active[token] {
			return http.StatusOK, map[string]any{"active": false}
		}
		r := map[string]any{"active": true, "sub": "alice", "client_id": "app-1", "scope": "docs:read",
			"aud": []any{testAudience}, "iss": f.issuer, "exp": clock.Now().Add(10 * time.Minute).Unix(),
			"iat": clock.Now().Unix(), "token_type": "Bearer"}
		switch token {
		case "other-aud":
			r["aud"] = "https://other.example.com/mcp"
		case "dpop":
			r["token_type"] = "DPoP"
		}
		return http.StatusOK, r
	})
	v := mustVerifier(t, nil, &Introspection{URL: f.issuer + "/introspect", ClientID: "mcpgate", ClientSecret: "s3cret",
		Audience: testAudience, CacheTTL: time.Minute}, &Options{Now: clock.Now})

	p := mustAccept(t, v, "good")
	if p.Issuer != f.issuer || p.Subject != "alice" || p.Method != mcpgate.MethodIntrospection || !p.HasScope("docs:read") {
		t.Errorf("principal = %+v", *p)
	}
	for range 10 {
		mustAccept(t, v, "good")
	}
	if n := f.introspections.Load(); n != 1 {
		t.Errorf("11 uses of one token: %d introspections, want 1", n)
	}
	clock.Add(61 * time.Second)
	mustAccept(t, v, "good")
	if n := f.introspections.Load(); n != 2 {
		t.Errorf("after cache_ttl: %d introspections, want 2", n)
	}
	active["good"] = false // revoked at the provider
	clock.Add(61 * time.Second)
	mustRefuse(t, v, "good")

	mustRefuse(t, v, "other-aud")
	mustRefuse(t, v, "dpop")
	before := f.introspections.Load()
	mustRefuse(t, v, "junk")
	mustRefuse(t, v, "junk")
	if n := f.introspections.Load() - before; n != 1 {
		t.Errorf("an inactive token used twice: %d introspections, want 1 (negative cache)", n)
	}

	bad := mustVerifier(t, nil, &Introspection{URL: f.issuer + "/introspect", ClientID: "mcpgate", ClientSecret: "wrong",
		Audience: testAudience}, nil)
	mustRefuse(t, bad, "good")
}
