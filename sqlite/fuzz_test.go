package sqlite_test

import (
	"crypto/sha256"
	"errors"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/mcpgate/mcpgate"
)

// FuzzKeyRoundTrip stores keys with arbitrary text and checks that what
// comes back is exactly what went in, or that CreateKey refused it.
func FuzzKeyRoundTrip(f *testing.F) {
	f.Add("k1", "name", "alice", "acme", "notes:read notes:write")
	f.Add("k'; DROP TABLE api_keys; --", "\x00", "ü", "", `"[]"`)
	f.Add("id", "", "", "", "a\xffb [ ] \\")
	db := mustOpen(f, f.TempDir())
	f.Cleanup(func() { db.Close() })
	h := sha256.Sum256([]byte("secret"))
	f.Fuzz(func(t *testing.T, id, name, subject, tenant, scopes string) {
		k := &mcpgate.APIKey{ID: id, Name: name, Subject: subject, Tenant: tenant,
			Scopes: strings.Fields(scopes), Hash: h[:]}
		err := db.CreateKey(t.Context(), k)
		if errors.Is(err, mcpgate.ErrConflict) || (err != nil && id == "") {
			return
		}
		if err != nil {
			if !validScopes(k.Scopes) {
				return // refused as documented
			}
			t.Fatalf("CreateKey(%+v): %v", k, err)
		}
		got, err := db.Key(t.Context(), id)
		if err != nil {
			t.Fatalf("Key(%q) after CreateKey: %v", id, err)
		}
		if got.ID != id || got.Name != name || got.Subject != subject || got.Tenant != tenant ||
			!slices.Equal(got.Scopes, k.Scopes) {
			t.Fatalf("round trip: got %+v, want %+v", got, k)
		}
	})
}

func validScopes(scopes []string) bool {
	for _, s := range scopes {
		if strings.ContainsRune(s, 0) || !utf8.ValidString(s) {
			return false
		}
	}
	return true
}
