package main

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mcpgate/mcpgate/oauth"
	"github.com/mcpgate/mcpgate/sqlite"
)

// storedSigningKeys returns the private keys as the SQLite store in data
// holds them.
func storedSigningKeys(t *testing.T, data string) [][]byte {
	t.Helper()
	db, err := sqlite.Open(context.Background(), data)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	keys, err := db.SigningKeys(context.Background())
	if err != nil || len(keys) == 0 {
		t.Fatalf("SigningKeys = %d keys, %v", len(keys), err)
	}
	var out [][]byte
	for _, k := range keys {
		out = append(out, k.PrivateKey)
	}
	return out
}

func mustNotBePKCS8(t *testing.T, keys [][]byte) {
	t.Helper()
	for _, k := range keys {
		if _, err := x509.ParsePKCS8PrivateKey(k); err == nil {
			t.Fatal("a signing key is stored as plain PKCS #8: a copy of the store can mint tokens")
		}
	}
}

// newKeyFile writes a fresh encryption key to a file and returns its
// file: reference.
func newKeyFile(t *testing.T) string {
	t.Helper()
	b := make([]byte, 32)
	rand.Read(b)
	path := filepath.Join(t.TempDir(), "kek")
	if err := os.WriteFile(path, []byte(base64.StdEncoding.EncodeToString(b)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return "file:" + path
}

// TestSigningKeysEncryptedAtRest: serve on a fresh data directory stores
// its signing key encrypted, with a key it creates once in encryption.key
// (0600); a server given another key refuses to start and says why.
func TestSigningKeysEncryptedAtRest(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	srv := startServer(t, data)
	mustNotBePKCS8(t, storedSigningKeys(t, data))
	if err := srv.stop(t); err != nil {
		t.Fatalf("serve: %v", err)
	}
	kf := filepath.Join(data, "encryption.key")
	fi, err := os.Stat(kf)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("encryption.key mode %v, want 0600", fi.Mode().Perm())
	}
	before, _ := os.ReadFile(kf)

	// Started again, it uses the same key.
	startServer(t, data).stop(t)
	if after, _ := os.ReadFile(kf); string(after) != string(before) {
		t.Error("encryption.key changed on the second start")
	}

	res := mcpgateCLI(t, data, "--listen", "127.0.0.1:0", "serve", "--encryption-key", newKeyFile(t))
	if res.code != exitUsage || !strings.Contains(res.stderr, "encrypted with another key") || !strings.Contains(res.stderr, "--encryption-key-previous") {
		t.Errorf("serve with the wrong key: exit %d\n%s", res.code, res.stderr)
	}
	res = mcpgateCLI(t, data, "clients", "list", "--encryption-key", newKeyFile(t))
	if res.code != exitUsage || !strings.Contains(res.stderr, "encrypted with another key") {
		t.Errorf("clients list with the wrong key: exit %d\n%s", res.code, res.stderr)
	}
	res = mcpgateCLI(t, data, "clients", "list", "--encryption-key", "file:"+filepath.Join(t.TempDir(), "missing"))
	if res.code != exitUsage || !strings.Contains(res.stderr, "--encryption-key") {
		t.Errorf("clients list with a missing key file: exit %d\n%s", res.code, res.stderr)
	}
}

// TestEncryptionKeyRotation: during the overlap a server reads keys under
// the previous key, oauth encrypt-keys re-encrypts them in place, and then
// only the new key opens them.
func TestEncryptionKeyRotation(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	startServer(t, data).stop(t)
	old := "file:" + filepath.Join(data, "encryption.key")
	next := newKeyFile(t)
	before := storedSigningKeys(t, data)

	startServer(t, data, "--encryption-key", next, "--encryption-key-previous", old).stop(t)
	res := mcpgateCLI(t, data, "oauth", "encrypt-keys", "--encryption-key", next, "--encryption-key-previous", old)
	if res.code != 0 || !strings.Contains(res.stdout, "Encrypted 1 signing key") {
		t.Fatalf("oauth encrypt-keys: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	after := storedSigningKeys(t, data)
	mustNotBePKCS8(t, after)
	if string(after[0]) == string(before[0]) {
		t.Error("the stored key did not change")
	}
	startServer(t, data, "--encryption-key", next).stop(t)
	if res := mcpgateCLI(t, data, "--listen", "127.0.0.1:0", "serve"); res.code != exitUsage || !strings.Contains(res.stderr, "encrypted with another key") {
		t.Errorf("serve with the replaced key after re-encryption: exit %d\n%s", res.code, res.stderr)
	}
}

// TestEncryptKeysConvertsPlaintext: a signing key stored unencrypted
// (before mcpgate encrypted them) is encrypted in place by oauth
// encrypt-keys, and the server still starts.
func TestEncryptKeysConvertsPlaintext(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	db, err := sqlite.Open(context.Background(), data)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := oauth.New(db, &oauth.Options{Resource: "http://127.0.0.1/mcp"}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	plain := storedSigningKeys(t, data)
	if _, err := x509.ParsePKCS8PrivateKey(plain[0]); err != nil {
		t.Fatalf("the old row is not plain PKCS #8: %v", err)
	}
	res := mcpgateCLI(t, data, "oauth", "encrypt-keys")
	if res.code != 0 || !strings.Contains(res.stdout, "Encrypted 1 signing key") {
		t.Fatalf("oauth encrypt-keys: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	mustNotBePKCS8(t, storedSigningKeys(t, data))
	if res := mcpgateCLI(t, data, "oauth", "encrypt-keys"); res.code != 0 || !strings.Contains(res.stdout, "Encrypted 0 signing key") {
		t.Errorf("oauth encrypt-keys again: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	startServer(t, data).stop(t)
}

// TestPostgresNeedsEncryptionKey: every replica on one Postgres store needs
// the same key, so serve exits 2 without one, before it connects.
func TestPostgresNeedsEncryptionKey(t *testing.T) {
	data := filepath.Join(t.TempDir(), "unused")
	res := mcpgateCLI(t, data, "--listen", "127.0.0.1:0", "--store", "postgres://postgres@127.0.0.1:1/none", "serve")
	if res.code != exitUsage || !strings.Contains(res.stderr, "--encryption-key") {
		t.Errorf("serve on Postgres without --encryption-key: exit %d\n%s", res.code, res.stderr)
	}
}
