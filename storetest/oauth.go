package storetest

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate"
)

// RunOAuth runs the conformance suite of mcpgate.OAuthStore. open must
// return a new, empty store; the suite does not close it.
func RunOAuth(t *testing.T, open func(t *testing.T) mcpgate.OAuthStore) {
	t.Helper()
	t.Run("Clients", func(t *testing.T) { testOAuthClients(t, open(t)) })
	t.Run("AuthRequests", func(t *testing.T) { testAuthRequests(t, open(t)) })
	t.Run("Grants", func(t *testing.T) { testGrants(t, open(t)) })
	t.Run("RefreshTokens", func(t *testing.T) { testRefreshTokens(t, open(t)) })
	t.Run("SigningKeys", func(t *testing.T) { testSigningKeys(t, open(t)) })
	t.Run("SingleUse", func(t *testing.T) { testSingleUse(t, open(t)) })
}

// testSingleUse redeems one code and uses one refresh token from many
// goroutines at once: exactly one may win each.
func testSingleUse(t *testing.T, s mcpgate.OAuthStore) {
	ctx := t.Context()
	r := &mcpgate.AuthRequest{ID: "r", ClientID: "c", RedirectURI: "https://c/cb", CodeChallenge: "x", CreatedAt: base, ExpiresAt: base.Add(time.Hour)}
	if err := s.CreateAuthRequest(ctx, r); err != nil {
		t.Fatal(err)
	}
	r.Subject, r.CodeHash = "alice", digest("code")
	if err := s.ApproveAuthRequest(ctx, r); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateRefreshToken(ctx, &mcpgate.RefreshToken{Hash: digest("rt"), Family: "f", ClientID: "c", Subject: "alice", CreatedAt: base, ExpiresAt: base.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	const n = 8
	var (
		wg                 sync.WaitGroup
		mu                 sync.Mutex
		codeWins, rtWins   int
		codeOther, rtOther []error
	)
	for range n {
		wg.Add(2)
		go func() {
			defer wg.Done()
			_, err := s.RedeemCode(ctx, digest("code"), base, nil)
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				codeWins++
			} else if !errors.Is(err, mcpgate.ErrConflict) {
				codeOther = append(codeOther, err)
			}
		}()
		go func() {
			defer wg.Done()
			_, err := s.UseRefreshToken(ctx, digest("rt"), base)
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				rtWins++
			} else if !errors.Is(err, mcpgate.ErrConflict) {
				rtOther = append(rtOther, err)
			}
		}()
	}
	wg.Wait()
	if codeWins != 1 || len(codeOther) > 0 {
		t.Errorf("RedeemCode: %d winners (want 1), other errors %v", codeWins, codeOther)
	}
	if rtWins != 1 || len(rtOther) > 0 {
		t.Errorf("UseRefreshToken: %d winners (want 1), other errors %v", rtWins, rtOther)
	}
}

func digest(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// lastChange returns the newest change of the feed.
func lastChange(t *testing.T, s mcpgate.OAuthStore) mcpgate.Change {
	t.Helper()
	cs, err := s.ChangesSince(t.Context(), 0)
	if err != nil || len(cs) == 0 {
		t.Fatalf("ChangesSince = %v, %v; want a change", cs, err)
	}
	return cs[len(cs)-1]
}

func testOAuthClients(t *testing.T, s mcpgate.OAuthStore) {
	ctx := t.Context()
	a := &mcpgate.Client{ID: "a", Name: "App A", RedirectURIs: []string{"https://a.example/cb", "http://127.0.0.1/cb"},
		SecretHash: digest("secret"), GrantTypes: []string{"authorization_code", "refresh_token"}, Scopes: []string{"x"},
		Subject: "svc", Tenant: "t", Source: "cli", Introspection: true, CreatedAt: base}
	b := &mcpgate.Client{ID: "b", RedirectURIs: []string{"https://b.example/cb"}, Source: "dcr", CreatedAt: base.Add(time.Second)}
	for _, c := range []*mcpgate.Client{a, b} {
		if err := s.CreateClient(ctx, c); err != nil {
			t.Fatalf("CreateClient(%s): %v", c.ID, err)
		}
	}
	if err := s.CreateClient(ctx, &mcpgate.Client{ID: "a", CreatedAt: base}); !errors.Is(err, mcpgate.ErrConflict) {
		t.Errorf("CreateClient of an existing id = %v, want ErrConflict", err)
	}
	got, err := s.Client(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != a.Name || !slices.Equal(got.RedirectURIs, a.RedirectURIs) || !bytes.Equal(got.SecretHash, a.SecretHash) ||
		!slices.Equal(got.GrantTypes, a.GrantTypes) || !slices.Equal(got.Scopes, a.Scopes) || got.Subject != "svc" ||
		got.Tenant != "t" || got.Source != "cli" || !got.Introspection || !got.CreatedAt.Equal(base.Truncate(Precision)) || !got.RevokedAt.IsZero() {
		t.Errorf("Client = %+v, want %+v", got, a)
	}
	if got, _ := s.Client(ctx, "b"); got.SecretHash != nil || got.Introspection {
		t.Errorf("public client has SecretHash %x, Introspection %v", got.SecretHash, got.Introspection)
	}
	if _, err := s.Client(ctx, "zz"); !errors.Is(err, mcpgate.ErrNotFound) {
		t.Errorf("Client(unknown) = %v, want ErrNotFound", err)
	}
	list, err := s.ListClients(ctx)
	if err != nil || len(list) != 2 || list[0].ID != "b" {
		t.Errorf("ListClients = %v, %v; want b, a", list, err)
	}

	g := &mcpgate.Grant{ID: "g", Subject: "alice", ClientID: "a", Resource: "r", CreatedAt: base}
	if err := s.SaveGrant(ctx, g); err != nil {
		t.Fatal(err)
	}
	rt := &mcpgate.RefreshToken{Hash: digest("rt"), Family: "f", GrantID: "g", ClientID: "a", Subject: "alice", CreatedAt: base, ExpiresAt: base.Add(time.Hour)}
	if err := s.CreateRefreshToken(ctx, rt); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeClient(ctx, "a", base.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if c := lastChange(t, s); c.Kind != mcpgate.ChangeClient || c.ID != "a" {
		t.Errorf("change after RevokeClient = %+v", c)
	}
	if got, _ := s.Client(ctx, "a"); got.RevokedAt.IsZero() {
		t.Error("client not revoked")
	}
	if got, _ := s.Grant(ctx, "g"); got.RevokedAt.IsZero() {
		t.Error("grant of a revoked client not revoked")
	}
	if got, _ := s.RefreshTokenByHash(ctx, digest("rt")); got.RevokedAt.IsZero() {
		t.Error("refresh token of a revoked client not revoked")
	}
	if err := s.RevokeClient(ctx, "zz", base); !errors.Is(err, mcpgate.ErrNotFound) {
		t.Errorf("RevokeClient(unknown) = %v, want ErrNotFound", err)
	}
}

func testAuthRequests(t *testing.T, s mcpgate.OAuthStore) {
	ctx := t.Context()
	r := &mcpgate.AuthRequest{ID: "r1", ClientID: "c", RedirectURI: "https://c.example/cb", State: "st", Scopes: []string{"x", "y"},
		Resource: "https://rs/mcp", CodeChallenge: "ch", CreatedAt: base, ExpiresAt: base.Add(10 * time.Minute)}
	if err := s.CreateAuthRequest(ctx, r); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateAuthRequest(ctx, r); !errors.Is(err, mcpgate.ErrConflict) {
		t.Errorf("CreateAuthRequest twice = %v, want ErrConflict", err)
	}
	got, err := s.AuthRequest(ctx, "r1")
	if err != nil || got.State != "st" || got.CodeChallenge != "ch" || !slices.Equal(got.Scopes, r.Scopes) || got.CodeHash != nil ||
		!got.ExpiresAt.Equal(r.ExpiresAt.Truncate(Precision)) {
		t.Fatalf("AuthRequest = %+v, %v", got, err)
	}
	if _, err := s.RedeemCode(ctx, digest("code"), base, nil); !errors.Is(err, mcpgate.ErrNotFound) {
		t.Errorf("RedeemCode before approval = %v, want ErrNotFound", err)
	}
	r.Subject, r.Tenant, r.GrantID, r.Scopes, r.CodeHash, r.ExpiresAt = "alice", "t", "g", []string{"x"}, digest("code"), base.Add(time.Minute)
	if err := s.ApproveAuthRequest(ctx, r); err != nil {
		t.Fatal(err)
	}
	if err := s.ApproveAuthRequest(ctx, r); !errors.Is(err, mcpgate.ErrNotFound) {
		t.Errorf("ApproveAuthRequest twice = %v, want ErrNotFound", err)
	}
	// A redemption its check refuses leaves the code as it was, used or not.
	errRefused := errors.New("refused")
	refuse := func(*mcpgate.AuthRequest) error { return errRefused }
	if got, err := s.RedeemCode(ctx, digest("code"), base, refuse); !errors.Is(err, errRefused) || got != nil {
		t.Errorf("RedeemCode refused by its check = %+v, %v; want nil and the check's error", got, err)
	}
	var checked mcpgate.AuthRequest
	red, err := s.RedeemCode(ctx, digest("code"), base.Add(time.Second), func(r *mcpgate.AuthRequest) error {
		checked = *r
		return nil
	})
	if checked.ID != "r1" || checked.CodeChallenge != "ch" || !checked.UsedAt.IsZero() {
		t.Errorf("check saw %+v, want the unused request r1", checked)
	}
	if err != nil || red.ID != "r1" || red.Subject != "alice" || red.GrantID != "g" || !slices.Equal(red.Scopes, []string{"x"}) {
		t.Fatalf("RedeemCode = %+v, %v", red, err)
	}
	if _, err := s.RedeemCode(ctx, digest("code"), base.Add(2*time.Second), refuse); !errors.Is(err, errRefused) {
		t.Errorf("RedeemCode of a used code refused by its check = %v, want the check's error", err)
	}
	again, err := s.RedeemCode(ctx, digest("code"), base.Add(2*time.Second), nil)
	if !errors.Is(err, mcpgate.ErrConflict) || again == nil || again.ID != "r1" {
		t.Errorf("RedeemCode twice = %+v, %v; want the request and ErrConflict", again, err)
	}
	if err := s.DeleteAuthRequest(ctx, "r1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AuthRequest(ctx, "r1"); !errors.Is(err, mcpgate.ErrNotFound) {
		t.Errorf("AuthRequest after delete = %v", err)
	}
	if err := s.DeleteAuthRequest(ctx, "r1"); !errors.Is(err, mcpgate.ErrNotFound) {
		t.Errorf("DeleteAuthRequest twice = %v", err)
	}
}

func testGrants(t *testing.T, s mcpgate.OAuthStore) {
	ctx := t.Context()
	g1 := &mcpgate.Grant{ID: "g1", Subject: "alice", Tenant: "t", ClientID: "c", Scopes: []string{"x"}, Resource: "r", CreatedAt: base}
	g2 := &mcpgate.Grant{ID: "g2", Subject: "alice", ClientID: "d", Resource: "r", KeyID: "k1", CreatedAt: base.Add(time.Second)}
	g3 := &mcpgate.Grant{ID: "g3", Subject: "bob", ClientID: "c", Resource: "r", CreatedAt: base}
	for _, g := range []*mcpgate.Grant{g1, g2, g3} {
		if err := s.SaveGrant(ctx, g); err != nil {
			t.Fatal(err)
		}
	}
	g1.Scopes = []string{"x", "y"}
	g1.LastUsed = base.Add(time.Hour)
	if err := s.SaveGrant(ctx, g1); err != nil {
		t.Fatal(err)
	}
	got, err := s.ActiveGrant(ctx, "alice", "c", "r")
	if err != nil || got.ID != "g1" || !slices.Equal(got.Scopes, []string{"x", "y"}) || !got.LastUsed.Equal(g1.LastUsed.Truncate(Precision)) || got.Tenant != "t" {
		t.Errorf("ActiveGrant = %+v, %v", got, err)
	}
	if _, err := s.ActiveGrant(ctx, "alice", "c", "other"); !errors.Is(err, mcpgate.ErrNotFound) {
		t.Errorf("ActiveGrant for another resource = %v", err)
	}
	list, err := s.ListGrants(ctx, "alice")
	if err != nil || len(list) != 2 || list[0].ID != "g2" {
		t.Errorf("ListGrants = %v, %v; want g2, g1", list, err)
	}
	if got, err := s.Grant(ctx, "g2"); err != nil || got.KeyID != "k1" {
		t.Errorf("Grant(g2).KeyID = %+v, %v; want k1", got, err)
	}
	if got.KeyID != "" {
		t.Errorf("ActiveGrant(g1).KeyID = %q, want empty", got.KeyID)
	}
	rt := &mcpgate.RefreshToken{Hash: digest("rt1"), Family: "f", GrantID: "g1", ClientID: "c", Subject: "alice", CreatedAt: base, ExpiresAt: base.Add(time.Hour)}
	if err := s.CreateRefreshToken(ctx, rt); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeGrant(ctx, "bob", "g1", base); !errors.Is(err, mcpgate.ErrNotFound) {
		t.Errorf("RevokeGrant of another subject's grant = %v, want ErrNotFound", err)
	}
	if err := s.RevokeGrant(ctx, "alice", "g1", base.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if c := lastChange(t, s); c.Kind != mcpgate.ChangeGrant || c.ID != "g1" {
		t.Errorf("change after RevokeGrant = %+v", c)
	}
	if got, _ := s.RefreshTokenByHash(ctx, digest("rt1")); got.RevokedAt.IsZero() {
		t.Error("refresh token of a revoked grant not revoked")
	}
	if list, _ := s.ListGrants(ctx, "alice"); len(list) != 1 || list[0].ID != "g2" {
		t.Errorf("ListGrants after revocation = %v", list)
	}
	if g, err := s.Grant(ctx, "g1"); err != nil || !g.RevokedAt.Equal(base.Add(time.Minute).Truncate(Precision)) {
		t.Errorf("Grant(revoked) = %+v, %v", g, err)
	}
	if err := s.RevokeGrantByID(ctx, "g3", base); err != nil {
		t.Fatal(err)
	}
	if c := lastChange(t, s); c.Kind != mcpgate.ChangeGrant || c.ID != "g3" {
		t.Errorf("change after RevokeGrantByID = %+v", c)
	}
	if _, err := s.Grant(ctx, "zz"); !errors.Is(err, mcpgate.ErrNotFound) {
		t.Errorf("Grant(unknown) = %v", err)
	}
}

func testRefreshTokens(t *testing.T, s mcpgate.OAuthStore) {
	ctx := t.Context()
	rt := &mcpgate.RefreshToken{Hash: digest("a"), Family: "f", GrantID: "g", ClientID: "c", Subject: "alice", Tenant: "t",
		Scopes: []string{"x"}, Resource: "r", CreatedAt: base, ExpiresAt: base.Add(time.Hour)}
	if err := s.CreateRefreshToken(ctx, rt); err != nil {
		t.Fatal(err)
	}
	got, err := s.UseRefreshToken(ctx, digest("a"), base.Add(time.Second))
	if err != nil || got.Family != "f" || got.Subject != "alice" || got.Tenant != "t" || !slices.Equal(got.Scopes, []string{"x"}) || got.Resource != "r" {
		t.Fatalf("UseRefreshToken = %+v, %v", got, err)
	}
	again, err := s.UseRefreshToken(ctx, digest("a"), base.Add(2*time.Second))
	if !errors.Is(err, mcpgate.ErrConflict) || again == nil || again.GrantID != "g" {
		t.Errorf("UseRefreshToken twice = %+v, %v; want the token and ErrConflict", again, err)
	}
	if _, err := s.UseRefreshToken(ctx, digest("zz"), base); !errors.Is(err, mcpgate.ErrNotFound) {
		t.Errorf("UseRefreshToken(unknown) = %v", err)
	}
	next := *rt
	next.Hash = digest("b")
	if err := s.CreateRefreshToken(ctx, &next); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeTokenFamily(ctx, "f", base.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if c := lastChange(t, s); c.Kind != mcpgate.ChangeToken || c.ID != "f" {
		t.Errorf("change after RevokeTokenFamily = %+v", c)
	}
	if got, _ := s.RefreshTokenByHash(ctx, digest("b")); got == nil || got.RevokedAt.IsZero() {
		t.Error("token of a revoked family not revoked")
	}
	// Creating a token clears those a day past expiry.
	late := *rt
	late.Hash, late.CreatedAt, late.ExpiresAt = digest("late"), base.Add(49*time.Hour), base.Add(50*time.Hour)
	if err := s.CreateRefreshToken(ctx, &late); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RefreshTokenByHash(ctx, digest("a")); !errors.Is(err, mcpgate.ErrNotFound) {
		t.Errorf("token expired two days ago still stored: %v", err)
	}
	if _, err := s.RefreshTokenByHash(ctx, digest("late")); err != nil {
		t.Errorf("new token: %v", err)
	}
	if err := s.RevokeAccessToken(ctx, "jti-1", base); err != nil {
		t.Fatal(err)
	}
	if c := lastChange(t, s); c.Kind != mcpgate.ChangeToken || c.ID != "jti-1" {
		t.Errorf("change after RevokeAccessToken = %+v", c)
	}
}

func testSigningKeys(t *testing.T, s mcpgate.OAuthStore) {
	ctx := t.Context()
	k1 := &mcpgate.SigningKey{ID: "k1", Algorithm: "RS256", PrivateKey: []byte{1, 2, 3}, CreatedAt: base}
	k2 := &mcpgate.SigningKey{ID: "k2", Algorithm: "RS256", PrivateKey: []byte{4, 5}, CreatedAt: base.Add(time.Hour)}
	for _, k := range []*mcpgate.SigningKey{k1, k2} {
		if err := s.AddSigningKey(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	keys, err := s.SigningKeys(ctx)
	if err != nil || len(keys) != 2 {
		t.Fatalf("SigningKeys = %v, %v", keys, err)
	}
	if keys[0].ID != "k2" || !keys[0].RetiredAt.IsZero() || !bytes.Equal(keys[0].PrivateKey, k2.PrivateKey) {
		t.Errorf("newest key = %+v", keys[0])
	}
	if keys[1].ID != "k1" || !keys[1].RetiredAt.Equal(k2.CreatedAt.Truncate(Precision)) {
		t.Errorf("older key = %+v, want retired at %v", keys[1], k2.CreatedAt)
	}
	if err := s.AddSigningKey(ctx, &mcpgate.SigningKey{ID: "k1", Algorithm: "RS256", PrivateKey: []byte{9}, CreatedAt: base}); !errors.Is(err, mcpgate.ErrConflict) {
		t.Errorf("AddSigningKey of an existing id = %v, want ErrConflict", err)
	}
	if err := s.UpdateSigningKey(ctx, "k1", []byte{1, 2, 3}, []byte{7, 7}); err != nil {
		t.Fatalf("UpdateSigningKey: %v", err)
	}
	if err := s.UpdateSigningKey(ctx, "k1", []byte{1, 2, 3}, []byte{8}); !errors.Is(err, mcpgate.ErrNotFound) {
		t.Errorf("UpdateSigningKey from a value already replaced = %v, want ErrNotFound", err)
	}
	if err := s.UpdateSigningKey(ctx, "nope", []byte{4, 5}, []byte{8}); !errors.Is(err, mcpgate.ErrNotFound) {
		t.Errorf("UpdateSigningKey of an unknown id = %v, want ErrNotFound", err)
	}
	keys, err = s.SigningKeys(ctx)
	if err != nil || len(keys) != 2 || !bytes.Equal(keys[1].PrivateKey, []byte{7, 7}) || !keys[1].RetiredAt.Equal(k2.CreatedAt.Truncate(Precision)) ||
		!bytes.Equal(keys[0].PrivateKey, k2.PrivateKey) {
		t.Errorf("after UpdateSigningKey: %+v, %v", keys, err)
	}
}
