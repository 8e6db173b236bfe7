package login

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestReadPassword(t *testing.T) {
	tests := []struct {
		name, in string
		want     string
		wantErr  error
	}{
		{"line", "correct horse\n", "correct horse", nil},
		{"crlf", "correct horse\r\n", "correct horse", nil},
		{"no newline", "correct horse", "correct horse", nil},
		{"only first line", "first line\nsecond line\n", "first line", nil},
		{"spaces kept", "  padded  \n", "  padded  ", nil},
		{"empty", "", "", ErrNoPassword},
		{"empty line", "\n", "", ErrNoPassword},
		{"longest", strings.Repeat("x", MaxPasswordLen) + "\n", strings.Repeat("x", MaxPasswordLen), nil},
		{"too long", strings.Repeat("x", MaxPasswordLen+1) + "\n", "", ErrPasswordTooLong},
		{"far too long", strings.Repeat("x", 10*MaxPasswordLen), "", ErrPasswordTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadPassword(strings.NewReader(tt.in))
			if !errors.Is(err, tt.wantErr) || got != tt.want {
				t.Errorf("ReadPassword = %.20q, %v; want %.20q, %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestValidateUsername(t *testing.T) {
	for _, ok := range []string{"alice", "a", "alice.smith@example.com", "Zoë", strings.Repeat("a", MaxUsernameLen)} {
		if err := ValidateUsername(ok); err != nil {
			t.Errorf("ValidateUsername(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "al ice", "alice\n", "a\x00", "\xff", "tab\tname", strings.Repeat("a", MaxUsernameLen+1), "nbsp\u00a0"} {
		if err := ValidateUsername(bad); err == nil {
			t.Errorf("ValidateUsername(%q) accepted", bad)
		}
	}
}

func TestNewUser(t *testing.T) {
	now := time.Date(2026, 11, 26, 10, 0, 0, 0, time.FixedZone("X", 3600))
	u, err := NewUser("alice", "acme", alicePassword, []string{"notes:read"}, now)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := CheckPassword(u.PasswordHash, alicePassword); !ok || err != nil {
		t.Errorf("stored hash does not check: %v %v", ok, err)
	}
	if u.Name != "alice" || u.Tenant != "acme" || u.CreatedAt.Location() != time.UTC || !u.CreatedAt.Equal(now) {
		t.Errorf("user %+v", u)
	}
	if _, err := NewUser("al ice", "", alicePassword, nil, now); err == nil {
		t.Error("bad name accepted")
	}
	if _, err := NewUser("bob", "", "short", nil, now); !errors.Is(err, ErrPasswordTooShort) {
		t.Errorf("short password: %v", err)
	}
}
