package main

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/sqlite"
)

// TestKeysComplete: keys create --json for scripts, the Claude Code snippet
// without the key in it, unknown scopes refused with a suggestion, and
// revoke and rotate taking the whole key as people paste it.
func TestKeysComplete(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	migrate(t, data)

	res := mcpgateCLI(t, data, "keys", "create", "--name", "ci", "--scope", "docs:read", "--expires", "90d", "--json")
	if res.code != 0 {
		t.Fatalf("keys create --json: exit %d: %s", res.code, res.stderr)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(res.stdout), &got); err != nil {
		t.Fatalf("keys create --json printed %q: %v", res.stdout, err)
	}
	for _, k := range []string{"id", "key", "name", "subject", "scopes", "expires", "url"} {
		if _, ok := got[k]; !ok {
			t.Errorf("keys create --json has no %q: %s", k, res.stdout)
		}
	}
	if len(got) != 7 || !keyRe.MatchString(got["key"].(string)) || got["subject"] != "ci" || got["expires"] == nil {
		t.Errorf("keys create --json = %s", res.stdout)
	}

	res = mcpgateCLI(t, data, "keys", "create", "--name", "laptop")
	key := keyRe.FindString(res.stdout)
	claude := res.stdout[strings.Index(res.stdout, "Claude Code"):strings.Index(res.stdout, "Claude Desktop")]
	if key == "" || strings.Contains(claude, key) || !strings.Contains(claude, "$MCPGATE_KEY") {
		t.Errorf("the Claude Code snippet should read the key from $MCPGATE_KEY, not contain it:\n%s", claude)
	}

	for _, tc := range []struct{ scope, want string }{
		{"docs:raed", `did you mean "docs:read"?`},
		{"notes:writ", `did you mean "notes:write"?`},
		{"mcpgate:admn", `did you mean "mcpgate:admin"?`},
		{"billing", "not a scope of this gateway"},
	} {
		res := mcpgateCLI(t, data, "keys", "create", "--name", "typo", "--scope", tc.scope)
		if res.code != exitUsage || !strings.Contains(res.stderr, tc.want) {
			t.Errorf("--scope %s: exit %d, stderr %q; want %d and %q", tc.scope, res.code, res.stderr, exitUsage, tc.want)
		}
	}
	if res := mcpgateCLI(t, data, "keys", "create", "--name", "admin", "--scope", "mcpgate:admin"); res.code != 0 {
		t.Errorf("--scope mcpgate:admin: exit %d: %s", res.code, res.stderr)
	}

	res = mcpgateCLI(t, data, "keys", "rotate", key, "--grace", "0s")
	if res.code != 0 || !strings.Contains(res.stdout, "Key "+key[5:17]+" now expires") {
		t.Errorf("keys rotate with the whole key: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	leaked := got["key"].(string)
	res = mcpgateCLI(t, data, "keys", "revoke", leaked)
	if res.code != 0 || !strings.Contains(res.stdout, "Revoked key "+got["id"].(string)) {
		t.Errorf("keys revoke with the whole key: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	if res := mcpgateCLI(t, data, "keys", "revoke", "mcpg_nope"); res.code != exitError || !strings.Contains(res.stderr, "no key") {
		t.Errorf("keys revoke of an unknown key: exit %d: %s", res.code, res.stderr)
	}
}

// TestUsersComplete: users passwd, disable, enable and remove, the last
// two ending every app the user approved, and users list --json.
func TestUsersComplete(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	addUser(t, data, "alice", alicePassword, "--scope", "notes:read")
	addUser(t, data, "bob", alicePassword)
	if res := mcpgateCLI(t, data, "users", "add", "carol", "--scope", "notes:raed"); res.code != exitUsage || !strings.Contains(res.stderr, `did you mean "notes:read"?`) {
		t.Errorf("users add with a misspelt scope: exit %d: %s", res.code, res.stderr)
	}
	res := mcpgateCLI(t, data, "clients", "add", "--name", "app", "--redirect-uri", "http://127.0.0.1:9/cb")
	clientID := regexp.MustCompile(`Registered client (\S+) `).FindStringSubmatch(res.stdout)
	if clientID == nil {
		t.Fatalf("clients add: %s%s", res.stdout, res.stderr)
	}
	// Approvals as the consent page records them.
	db, err := sqlite.Open(t.Context(), data)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, g := range []*mcpgate.Grant{
		{ID: "g-alice", Subject: "alice", ClientID: clientID[1], Scopes: []string{"notes:read"}},
		{ID: "g-bob", Subject: "bob", ClientID: clientID[1], Scopes: []string{"notes:read"}},
	} {
		if err := db.SaveGrant(t.Context(), g); err != nil {
			t.Fatal(err)
		}
	}
	revoked := func(id string) bool {
		t.Helper()
		g, err := db.Grant(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		return !g.RevokedAt.IsZero()
	}
	list := func() map[string]userView {
		t.Helper()
		res := mcpgateCLI(t, data, "users", "list", "--json")
		var views []userView
		if err := json.Unmarshal([]byte(res.stdout), &views); err != nil {
			t.Fatalf("users list --json printed %q: %v", res.stdout, err)
		}
		m := map[string]userView{}
		for _, v := range views {
			m[v.Name] = v
		}
		return m
	}
	if got := list(); len(got) != 2 || got["alice"].Status != "active" || len(got["alice"].Scopes) != 1 {
		t.Errorf("users list --json = %+v", got)
	}

	// Sign-in sessions as the login pages record them: each command that
	// ends a user's sessions ends only that user's.
	signIn := func(id, subject string) []byte {
		t.Helper()
		h := sha256.Sum256([]byte(id))
		if err := db.CreateSigninSession(t.Context(), &mcpgate.SigninSession{IDHash: h[:], Subject: subject, Method: "password",
			ExpiresAt: time.Now().Add(time.Hour)}, 0); err != nil {
			t.Fatal(err)
		}
		return h[:]
	}
	signedIn := func(hash []byte) bool {
		t.Helper()
		_, err := db.SigninSession(t.Context(), hash)
		if err != nil && !errors.Is(err, mcpgate.ErrNotFound) {
			t.Fatal(err)
		}
		return err == nil
	}
	alice1, alice2, bob1 := signIn("a1", "alice"), signIn("a2", "alice"), signIn("b1", "bob")

	cmd := exec.Command(binPath, "--data", data, "users", "passwd", "alice")
	cmd.Env = cleanEnv()
	cmd.Stdin = strings.NewReader("a whole new passphrase\n")
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "Set the password of alice; ended 2 sign-in session(s)") {
		t.Errorf("users passwd: %v\n%s", err, out)
	}
	if signedIn(alice1) || signedIn(alice2) || !signedIn(bob1) {
		t.Errorf("after users passwd alice: alice signed in %v %v (want false), bob %v (want true)", signedIn(alice1), signedIn(alice2), signedIn(bob1))
	}
	alice3 := signIn("a3", "alice")
	if u, _ := db.User(t.Context(), "alice"); u == nil || u.PasswordHash == "" || revoked("g-alice") {
		t.Errorf("users passwd without --revoke-apps: user %+v, grant revoked %v", u, revoked("g-alice"))
	}

	if res := mcpgateCLI(t, data, "users", "disable", "alice"); res.code != 0 || !strings.Contains(res.stdout, "1 app(s)") {
		t.Errorf("users disable: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	if signedIn(alice3) || !signedIn(bob1) {
		t.Errorf("users disable alice: alice still signed in %v, bob %v (want false, true)", signedIn(alice3), signedIn(bob1))
	}
	if !revoked("g-alice") || revoked("g-bob") {
		t.Errorf("users disable alice: alice's grant revoked %v (want true), bob's %v (want false)", revoked("g-alice"), revoked("g-bob"))
	}
	if got := list()["alice"]; got.Status != "disabled" || got.Disabled == nil {
		t.Errorf("after disable: %+v", got)
	}
	if res := mcpgateCLI(t, data, "users", "enable", "alice"); res.code != 0 {
		t.Errorf("users enable: exit %d: %s", res.code, res.stderr)
	}
	if got := list()["alice"]; got.Status != "active" || got.Disabled != nil {
		t.Errorf("after enable: %+v", got)
	}

	if res := mcpgateCLI(t, data, "users", "remove", "bob"); res.code != 0 || !strings.Contains(res.stdout, "Removed bob; 1 app(s)") {
		t.Errorf("users remove: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	if !revoked("g-bob") {
		t.Error("users remove bob left bob's grant")
	}
	if signedIn(bob1) {
		t.Error("users remove bob left bob signed in")
	}
	if got := list(); len(got) != 1 {
		t.Errorf("after remove: %+v", got)
	}
	for _, args := range [][]string{{"users", "remove", "bob"}, {"users", "disable", "nobody"}, {"users", "enable", "nobody"}} {
		if res := mcpgateCLI(t, data, args...); res.code != exitError || !strings.Contains(res.stderr, "no user") {
			t.Errorf("%v: exit %d: %s", args, res.code, res.stderr)
		}
	}
}

// TestUsersFederatedSubject: a federated subject has no user row, yet
// users disable ends its sign-in sessions, app approvals and provider
// tokens and records it disabled (listed as such, never a password
// account), users enable lifts that, and users add cannot take the name.
func TestUsersFederatedSubject(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	migrate(t, data)
	const sub = "oidc:AAAAAAAAAAAAAAAA:alice"
	db, err := sqlite.Open(t.Context(), data)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	h := sha256.Sum256([]byte("session of alice"))
	if err := db.CreateSigninSession(t.Context(), &mcpgate.SigninSession{IDHash: h[:], Subject: sub, Method: mcpgate.MethodFederated,
		ExpiresAt: time.Now().Add(time.Hour)}, 0); err != nil {
		t.Fatal(err)
	}
	res := mcpgateCLI(t, data, "clients", "add", "--name", "app", "--redirect-uri", "http://127.0.0.1:9/cb")
	clientID := regexp.MustCompile(`Registered client (\S+) `).FindStringSubmatch(res.stdout)
	if clientID == nil {
		t.Fatalf("clients add: %s%s", res.stdout, res.stderr)
	}
	if err := db.SaveGrant(t.Context(), &mcpgate.Grant{ID: "g-fed", Subject: sub, ClientID: clientID[1], Scopes: []string{"notes:read"}}); err != nil {
		t.Fatal(err)
	}
	if err := db.SaveIdPTokens(t.Context(), &mcpgate.IdPTokens{Subject: sub, Issuer: "https://idp.example.com",
		AccessToken: []byte("sealed"), UpdatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}

	res = mcpgateCLI(t, data, "users", "disable", sub)
	if res.code != 0 || !strings.Contains(res.stdout, "ended 1 sign-in session(s), disconnected 1 app(s) they approved, deleted their identity provider tokens") {
		t.Fatalf("users disable %s: exit %d\n%s%s", sub, res.code, res.stdout, res.stderr)
	}
	if _, err := db.SigninSession(t.Context(), h[:]); !errors.Is(err, mcpgate.ErrNotFound) {
		t.Errorf("session after disable: %v", err)
	}
	if g, err := db.Grant(t.Context(), "g-fed"); err != nil || g.RevokedAt.IsZero() {
		t.Errorf("grant after disable: %+v, %v", g, err)
	}
	if _, err := db.IdPTokens(t.Context(), sub); !errors.Is(err, mcpgate.ErrNotFound) {
		t.Errorf("provider tokens after disable: %v", err)
	}
	res = mcpgateCLI(t, data, "users", "list")
	if !regexp.MustCompile(regexp.QuoteMeta(sub) + `\s.*signs in at an identity provider.*disabled`).MatchString(res.stdout) {
		t.Errorf("users list does not show the disabled federated subject:\n%s", res.stdout)
	}
	// Disabling again keeps it disabled.
	if res := mcpgateCLI(t, data, "users", "disable", sub); res.code != 0 {
		t.Errorf("users disable again: exit %d: %s", res.code, res.stderr)
	}
	if u, err := db.User(t.Context(), sub); err != nil || u.DisabledAt.IsZero() {
		t.Errorf("mark after a second disable: %+v, %v", u, err)
	}

	cmd := exec.Command(binPath, "--data", data, "users", "add", sub)
	cmd.Env = cleanEnv()
	cmd.Stdin = strings.NewReader("a password for the mark\n")
	if r := runCmd(t, cmd); r.code != exitUsage || !strings.Contains(r.stderr, "identity provider") {
		t.Errorf("users add %s: exit %d: %s", sub, r.code, r.stderr)
	}

	if res := mcpgateCLI(t, data, "users", "enable", sub); res.code != 0 || !strings.Contains(res.stdout, "Enabled") {
		t.Errorf("users enable: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	if _, err := db.User(t.Context(), sub); !errors.Is(err, mcpgate.ErrNotFound) {
		t.Errorf("mark after enable: %v", err)
	}
	if res := mcpgateCLI(t, data, "users", "enable", sub); res.code != 0 || !strings.Contains(res.stdout, "is not disabled") {
		t.Errorf("users enable of an enabled subject: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
}
