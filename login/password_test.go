package login

import (
	"errors"
	"regexp"
	"strings"
	"testing"
)

func TestHashPassword(t *testing.T) {
	h, err := HashPassword(alicePassword)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`).MatchString(h) {
		t.Fatalf("hash %q is not the expected PHC form", h)
	}
	h2, err := HashPassword(alicePassword)
	if err != nil {
		t.Fatal(err)
	}
	if h == h2 {
		t.Error("two hashes of one password are equal: salt not random")
	}
	tests := []struct {
		pw   string
		want bool
	}{
		{alicePassword, true},
		{alicePassword + " ", false},
		{"Correct horse battery", false},
		{"", false},
		{strings.Repeat("x", MaxPasswordLen+1), false},
	}
	for _, tt := range tests {
		got, err := CheckPassword(h, tt.pw)
		if err != nil {
			t.Fatalf("CheckPassword(%.20q): %v", tt.pw, err)
		}
		if got != tt.want {
			t.Errorf("CheckPassword(%.20q) = %v, want %v", tt.pw, got, tt.want)
		}
	}
}

func TestHashPasswordLimits(t *testing.T) {
	tests := []struct {
		pw   string
		want error
	}{
		{"short", ErrPasswordTooShort},
		{"ééééééé", ErrPasswordTooShort}, // 14 bytes, 7 characters
		{strings.Repeat("x", MaxPasswordLen+1), ErrPasswordTooLong},
		{"éééééééé", nil},
	}
	for _, tt := range tests {
		_, err := HashPassword(tt.pw)
		if !errors.Is(err, tt.want) {
			t.Errorf("HashPassword(%.12q) error %v, want %v", tt.pw, err, tt.want)
		}
	}
}

// TestCheckPasswordKnownVector checks a hash made by the reference argon2
// CLI (echo -n password | argon2 somesalt -id -t 2 -m 16 -p 1 -l 32), so the
// PHC encoding interoperates with other implementations.
func TestCheckPasswordKnownVector(t *testing.T) {
	const h = "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"
	ok, err := CheckPassword(h, "password")
	if err != nil || !ok {
		t.Fatalf("CheckPassword(reference vector) = %v, %v; want true", ok, err)
	}
	if ok, _ := CheckPassword(h, "passwore"); ok {
		t.Fatal("wrong password accepted")
	}
}

func TestCheckPasswordBadHash(t *testing.T) {
	const salt, hash = "c29tZXNhbHQ", "CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"
	tests := []string{
		"",
		"plaintext",
		"$argon2i$v=19$m=65536,t=2,p=1$" + salt + "$" + hash,
		"$argon2id$v=16$m=65536,t=2,p=1$" + salt + "$" + hash,
		"$argon2id$m=65536,t=2,p=1$" + salt + "$" + hash,
		"$argon2id$v=19$m=65536,p=1,t=2$" + salt + "$" + hash,
		"$argon2id$v=19$m=4294967295,t=2,p=1$" + salt + "$" + hash,
		"$argon2id$v=19$m=65536,t=1000,p=1$" + salt + "$" + hash,
		"$argon2id$v=19$m=65536,t=0,p=1$" + salt + "$" + hash,
		"$argon2id$v=19$m=65536,t=2,p=0$" + salt + "$" + hash,
		"$argon2id$v=19$m=65536,t=+2,p=1$" + salt + "$" + hash,
		"$argon2id$v=19$m=065536,t=2,p=1$" + salt + "$" + hash,
		"$argon2id$v=19$m=4,t=2,p=1$" + salt + "$" + hash,
		"$argon2id$v=19$m=65536,t=2,p=1$$" + hash,
		"$argon2id$v=19$m=65536,t=2,p=1$" + salt + "$",
		"$argon2id$v=19$m=65536,t=2,p=1$" + salt + "=$" + hash,
		"$argon2id$v=19$m=65536,t=2,p=1$" + salt + "$" + hash + "$",
		"$argon2id$v=19$m=65536,t=2,p=1$" + salt + "$" + hash[:10],
	}
	for _, h := range tests {
		ok, err := CheckPassword(h, "password")
		if ok || !errors.Is(err, ErrBadHash) {
			t.Errorf("CheckPassword(%q) = %v, %v; want false, ErrBadHash", h, ok, err)
		}
	}
}

// FuzzParsePHC checks that no stored hash string makes the parser panic or
// accept costs beyond its bounds, and that what it accepts round-trips.
func FuzzParsePHC(f *testing.F) {
	f.Add("$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc")
	f.Add("$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$")
	f.Add("$argon2id$v=19$m=1,t=1,p=1$$")
	f.Add("$$$$$$")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := parsePHC(s)
		if err != nil {
			return
		}
		if p.memory > maxArgonMemory || p.time > maxArgonTime || p.threads > maxArgonThreads ||
			p.time == 0 || p.threads == 0 || len(p.hash) < minKeyLen || len(p.salt) < minSaltLen {
			t.Fatalf("accepted out-of-bounds hash %q: %+v", s, p)
		}
		if got := p.String(); got != s {
			t.Fatalf("accepted %q but it re-encodes as %q", s, got)
		}
	})
}
