package storetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate"
)

// RunUsers runs the conformance suite for mcpgate.UserStore. open must
// return a new, empty store and close it when the test ends.
//
// Beyond the interface comments, stores must: match names exactly (case
// matters), keep PasswordHash byte for byte, keep Scopes in order, read
// times back in UTC at Precision, list users ordered by name byte by byte
// (upper case first) including disabled ones, and refuse an empty name or
// password hash.
func RunUsers(t *testing.T, open func(t *testing.T) mcpgate.UserStore) {
	t.Helper()
	t.Run("RoundTrip", func(t *testing.T) { testUserRoundTrip(t, open(t)) })
	t.Run("Conflict", func(t *testing.T) { testUserConflict(t, open(t)) })
	t.Run("NotFound", func(t *testing.T) { testUserNotFound(t, open(t)) })
	t.Run("List", func(t *testing.T) { testUserList(t, open(t)) })
	t.Run("Invalid", func(t *testing.T) { testUserInvalid(t, open(t)) })
	t.Run("ConcurrentCreate", func(t *testing.T) { testUserConcurrentCreate(t, open(t)) })
}

const userHash = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"

func diffUser(got, want *mcpgate.User) string {
	switch {
	case got.Name != want.Name:
		return fmt.Sprintf("Name %q, want %q", got.Name, want.Name)
	case got.Tenant != want.Tenant:
		return fmt.Sprintf("Tenant %q, want %q", got.Tenant, want.Tenant)
	case got.PasswordHash != want.PasswordHash:
		return fmt.Sprintf("PasswordHash %q, want %q", got.PasswordHash, want.PasswordHash)
	case !slices.Equal(got.Scopes, want.Scopes):
		return fmt.Sprintf("Scopes %q, want %q", got.Scopes, want.Scopes)
	case !sameTime(got.CreatedAt, want.CreatedAt) || got.CreatedAt.Location() != time.UTC:
		return fmt.Sprintf("CreatedAt %v, want %v in UTC", got.CreatedAt, want.CreatedAt)
	case !sameTime(got.DisabledAt, want.DisabledAt) || (!got.DisabledAt.IsZero() && got.DisabledAt.Location() != time.UTC):
		return fmt.Sprintf("DisabledAt %v, want %v in UTC", got.DisabledAt, want.DisabledAt)
	}
	return ""
}

func testUserRoundTrip(t *testing.T, s mcpgate.UserStore) {
	ctx := t.Context()
	users := []*mcpgate.User{
		{Name: "alice", PasswordHash: userHash, CreatedAt: base},
		{Name: "bob", Tenant: "acme", PasswordHash: userHash + "x", Scopes: []string{"notes:write", "docs:read"},
			CreatedAt: base.Add(time.Second), DisabledAt: base.Add(time.Hour + 123456789)},
		{Name: "Zoë O'Brien", PasswordHash: userHash, Scopes: []string{"a"}, CreatedAt: base},
	}
	for _, u := range users {
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatalf("CreateUser(%q): %v", u.Name, err)
		}
	}
	for _, want := range users {
		got, err := s.User(ctx, want.Name)
		if err != nil {
			t.Fatalf("User(%q): %v", want.Name, err)
		}
		if d := diffUser(got, want); d != "" {
			t.Errorf("User(%q): %s", want.Name, d)
		}
	}

	// A zero CreatedAt is filled in.
	before := time.Now().Add(-time.Second)
	u := &mcpgate.User{Name: "carol", PasswordHash: userHash}
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	got, err := s.User(ctx, "carol")
	if err != nil {
		t.Fatal(err)
	}
	if got.CreatedAt.Before(before) || got.CreatedAt.After(time.Now().Add(time.Second)) {
		t.Errorf("CreatedAt %v, want about now", got.CreatedAt)
	}
	if !got.DisabledAt.IsZero() {
		t.Errorf("DisabledAt %v, want zero", got.DisabledAt)
	}
}

func testUserConflict(t *testing.T, s mcpgate.UserStore) {
	ctx := t.Context()
	if err := s.CreateUser(ctx, &mcpgate.User{Name: "alice", PasswordHash: userHash, CreatedAt: base}); err != nil {
		t.Fatal(err)
	}
	err := s.CreateUser(ctx, &mcpgate.User{Name: "alice", Tenant: "other", PasswordHash: "$other", CreatedAt: base})
	if !errors.Is(err, mcpgate.ErrConflict) {
		t.Fatalf("second CreateUser(alice) = %v, want ErrConflict", err)
	}
	got, err := s.User(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if got.PasswordHash != userHash || got.Tenant != "" {
		t.Errorf("conflicting create changed the user: %+v", got)
	}
	// Names match exactly: another case is another user.
	if err := s.CreateUser(ctx, &mcpgate.User{Name: "Alice", PasswordHash: userHash, CreatedAt: base}); err != nil {
		t.Errorf("CreateUser(Alice) beside alice: %v", err)
	}
}

func testUserNotFound(t *testing.T, s mcpgate.UserStore) {
	ctx := t.Context()
	if err := s.CreateUser(ctx, &mcpgate.User{Name: "alice", PasswordHash: userHash, CreatedAt: base}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"", "bob", "ALICE", "alice ", "alic", "alice%", "a%", "_lice", "alice' OR '1'='1"} {
		if u, err := s.User(ctx, name); !errors.Is(err, mcpgate.ErrNotFound) {
			t.Errorf("User(%q) = %v, %v; want ErrNotFound", name, u, err)
		}
	}
}

func testUserList(t *testing.T, s mcpgate.UserStore) {
	ctx := t.Context()
	got, err := s.ListUsers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Fatalf("ListUsers on an empty store = %d users", len(got))
	}
	for i, name := range []string{"mallory", "alice", "trent", "bob", "Zed"} {
		u := &mcpgate.User{Name: name, PasswordHash: userHash, CreatedAt: base.Add(time.Duration(i) * time.Minute)}
		if name == "trent" {
			u.DisabledAt = base.Add(time.Hour)
		}
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	got, err = s.ListUsers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, u := range got {
		names = append(names, u.Name)
	}
	if want := []string{"Zed", "alice", "bob", "mallory", "trent"}; !slices.Equal(names, want) {
		t.Fatalf("ListUsers names = %q, want %q", names, want)
	}
	if got[4].DisabledAt.IsZero() {
		t.Error("ListUsers lost trent's DisabledAt")
	}
}

func testUserInvalid(t *testing.T, s mcpgate.UserStore) {
	ctx := t.Context()
	for _, u := range []*mcpgate.User{
		{Name: "", PasswordHash: userHash},
		{Name: "nohash"},
	} {
		if err := s.CreateUser(ctx, u); err == nil {
			t.Errorf("CreateUser(%+v) succeeded", u)
		}
	}
	if _, err := s.User(ctx, "nohash"); !errors.Is(err, mcpgate.ErrNotFound) {
		t.Errorf("user without a hash was stored: %v", err)
	}
}

func testUserConcurrentCreate(t *testing.T, s mcpgate.UserStore) {
	ctx := t.Context()
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			errs[i] = s.CreateUser(ctx, &mcpgate.User{Name: "race", Tenant: fmt.Sprint(i), PasswordHash: userHash, CreatedAt: base})
		})
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, mcpgate.ErrConflict):
			t.Errorf("concurrent CreateUser: %v, want nil or ErrConflict", err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d of %d concurrent creates of one name succeeded, want 1", ok, n)
	}
}

// RunUserAdmin runs the conformance suite for mcpgate.UserAdminStore. open
// must return a new, empty store and close it when the test ends.
//
// Beyond the interface comments, stores must change only the named user
// (names match exactly) and refuse an empty password hash.
func RunUserAdmin(t *testing.T, open func(t *testing.T) mcpgate.UserAdminStore) {
	t.Helper()
	t.Run("Delete", func(t *testing.T) { testUserDelete(t, open(t)) })
	t.Run("SetPassword", func(t *testing.T) { testUserSetPassword(t, open(t)) })
	t.Run("SetDisabled", func(t *testing.T) { testUserSetDisabled(t, open(t)) })
}

// createUsers stores alice and Alice, so that each test can check that a
// change to one leaves the other alone.
func createUsers(t *testing.T, s mcpgate.UserStore) {
	t.Helper()
	for _, name := range []string{"alice", "Alice"} {
		if err := s.CreateUser(t.Context(), &mcpgate.User{Name: name, Tenant: "acme", PasswordHash: userHash, Scopes: []string{"a"}, CreatedAt: base}); err != nil {
			t.Fatal(err)
		}
	}
}

func mustUser(t *testing.T, s mcpgate.UserStore, name string) *mcpgate.User {
	t.Helper()
	u, err := s.User(t.Context(), name)
	if err != nil {
		t.Fatalf("User(%q): %v", name, err)
	}
	return u
}

func testUserDelete(t *testing.T, s mcpgate.UserAdminStore) {
	ctx := t.Context()
	createUsers(t, s)
	if err := s.DeleteUser(ctx, "alice"); err != nil {
		t.Fatalf("DeleteUser(alice): %v", err)
	}
	if _, err := s.User(ctx, "alice"); !errors.Is(err, mcpgate.ErrNotFound) {
		t.Errorf("User(alice) after DeleteUser = %v, want ErrNotFound", err)
	}
	if d := diffUser(mustUser(t, s, "Alice"), &mcpgate.User{Name: "Alice", Tenant: "acme", PasswordHash: userHash, Scopes: []string{"a"}, CreatedAt: base}); d != "" {
		t.Errorf("DeleteUser(alice) changed Alice: %s", d)
	}
	for _, name := range []string{"alice", "bob", "", "ALICE"} {
		if err := s.DeleteUser(ctx, name); !errors.Is(err, mcpgate.ErrNotFound) {
			t.Errorf("DeleteUser(%q) = %v, want ErrNotFound", name, err)
		}
	}
	// The name can be taken again.
	if err := s.CreateUser(ctx, &mcpgate.User{Name: "alice", PasswordHash: userHash, CreatedAt: base}); err != nil {
		t.Errorf("CreateUser(alice) after DeleteUser: %v", err)
	}
}

func testUserSetPassword(t *testing.T, s mcpgate.UserAdminStore) {
	ctx := t.Context()
	createUsers(t, s)
	if err := s.SetUserPassword(ctx, "alice", userHash+"new"); err != nil {
		t.Fatalf("SetUserPassword: %v", err)
	}
	want := &mcpgate.User{Name: "alice", Tenant: "acme", PasswordHash: userHash + "new", Scopes: []string{"a"}, CreatedAt: base}
	if d := diffUser(mustUser(t, s, "alice"), want); d != "" {
		t.Errorf("after SetUserPassword: %s", d)
	}
	if got := mustUser(t, s, "Alice").PasswordHash; got != userHash {
		t.Errorf("SetUserPassword(alice) changed Alice's hash to %q", got)
	}
	if err := s.SetUserPassword(ctx, "bob", userHash); !errors.Is(err, mcpgate.ErrNotFound) {
		t.Errorf("SetUserPassword(bob) = %v, want ErrNotFound", err)
	}
	if err := s.SetUserPassword(ctx, "alice", ""); err == nil {
		t.Error("SetUserPassword with an empty hash succeeded")
	}
	if got := mustUser(t, s, "alice").PasswordHash; got != userHash+"new" {
		t.Errorf("a refused SetUserPassword changed the hash to %q", got)
	}
}

func testUserSetDisabled(t *testing.T, s mcpgate.UserAdminStore) {
	ctx := t.Context()
	createUsers(t, s)
	at := base.Add(time.Hour + 123456789)
	if err := s.SetUserDisabled(ctx, "alice", at); err != nil {
		t.Fatalf("SetUserDisabled: %v", err)
	}
	want := &mcpgate.User{Name: "alice", Tenant: "acme", PasswordHash: userHash, Scopes: []string{"a"}, CreatedAt: base, DisabledAt: at}
	if d := diffUser(mustUser(t, s, "alice"), want); d != "" {
		t.Errorf("after SetUserDisabled: %s", d)
	}
	if !mustUser(t, s, "Alice").DisabledAt.IsZero() {
		t.Error("SetUserDisabled(alice) disabled Alice")
	}
	if err := s.SetUserDisabled(ctx, "alice", time.Time{}); err != nil {
		t.Fatalf("SetUserDisabled(zero): %v", err)
	}
	want.DisabledAt = time.Time{}
	if d := diffUser(mustUser(t, s, "alice"), want); d != "" {
		t.Errorf("after enabling: %s", d)
	}
	if err := s.SetUserDisabled(ctx, "bob", at); !errors.Is(err, mcpgate.ErrNotFound) {
		t.Errorf("SetUserDisabled(bob) = %v, want ErrNotFound", err)
	}
}
