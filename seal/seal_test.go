package seal_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/mcpgate/mcpgate/seal"
)

func key(b byte) []byte { return bytes.Repeat([]byte{b}, seal.KeySize) }

func TestSealOpen(t *testing.T) {
	old, cur := seal.Keys{Current: key(1)}, seal.Keys{Current: key(2), Previous: key(1)}
	plain, aad := []byte("an identity provider's refresh token"), []byte("row alice")

	s, err := cur.Seal(plain, aad)
	if err != nil {
		t.Fatal(err)
	}
	if !seal.Sealed(s) || bytes.Contains(s, plain) {
		t.Fatalf("sealed value %q", s)
	}
	if s2, _ := cur.Seal(plain, aad); bytes.Equal(s, s2) {
		t.Error("two seals of one value are equal: the nonce is not random")
	}
	got, current, err := cur.Open(s, aad)
	if err != nil || !bytes.Equal(got, plain) || !current {
		t.Fatalf("Open = %q, %v, %v", got, current, err)
	}

	// During a rotation, a value sealed with the previous key opens, and
	// says it is not current.
	fromOld, _ := old.Seal(plain, aad)
	if got, current, err := cur.Open(fromOld, aad); err != nil || !bytes.Equal(got, plain) || current {
		t.Errorf("Open of a value of the previous key = %q, %v, %v", got, current, err)
	}

	refused := []struct {
		name   string
		keys   seal.Keys
		stored []byte
		aad    []byte
		want   error
	}{
		{"another row", cur, s, []byte("row mallory"), seal.ErrOpen},
		{"another key", seal.Keys{Current: key(3)}, s, aad, seal.ErrOpen},
		{"truncated", cur, s[:len(seal.Prefix)+4], aad, seal.ErrOpen},
		{"tampered", cur, append(bytes.Clone(s[:len(s)-1]), s[len(s)-1]^1), aad, seal.ErrOpen},
		{"not sealed", cur, plain, aad, seal.ErrOpen},
		{"no key", seal.Keys{}, s, aad, seal.ErrNoKey},
	}
	for _, tt := range refused {
		if _, _, err := tt.keys.Open(tt.stored, tt.aad); !errors.Is(err, tt.want) {
			t.Errorf("%s: Open error %v, want %v", tt.name, err, tt.want)
		}
	}
	if _, err := (seal.Keys{}).Seal(plain, aad); !errors.Is(err, seal.ErrNoKey) {
		t.Errorf("Seal without a key: %v", err)
	}
}

func TestKeysCheck(t *testing.T) {
	for _, tt := range []struct {
		name string
		k    seal.Keys
		ok   bool
	}{
		{"none", seal.Keys{}, true},
		{"current", seal.Keys{Current: key(1)}, true},
		{"rotating", seal.Keys{Current: key(1), Previous: key(2)}, true},
		{"short", seal.Keys{Current: []byte("short")}, false},
		{"previous alone", seal.Keys{Previous: key(2)}, false},
	} {
		if err := tt.k.Check(); (err == nil) != tt.ok {
			t.Errorf("%s: Check = %v", tt.name, err)
		}
	}
}
