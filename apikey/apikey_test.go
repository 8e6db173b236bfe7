package apikey

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"hash/crc32"
	"strings"
	"testing"
)

func mustGenerate(tb testing.TB) (key, id string, hash []byte) {
	tb.Helper()
	key, id, hash, err := Generate()
	if err != nil {
		tb.Fatalf("Generate: %v", err)
	}
	return key, id, hash
}

func TestGenerateShape(t *testing.T) {
	key, id, hash := mustGenerate(t)
	if got, want := len(key), Len; got != want {
		t.Fatalf("len(key) = %d, want %d", got, want)
	}
	if Len != 67 {
		t.Fatalf("Len = %d, want 67", Len)
	}
	if !strings.HasPrefix(key, Prefix+id+"_") {
		t.Errorf("key %q does not start with %q", key, Prefix+id+"_")
	}
	if len(id) != IDLen {
		t.Errorf("len(id) = %d, want %d", len(id), IDLen)
	}
	gotID, secret, err := Parse(key)
	if err != nil {
		t.Fatalf("Parse(Generate()) = %v", err)
	}
	if gotID != id {
		t.Errorf("Parse id = %q, want %q", gotID, id)
	}
	want := sha256.Sum256([]byte(secret))
	if !bytes.Equal(hash, want[:]) {
		t.Errorf("hash is not SHA-256 of the secret")
	}
	if !Verify(hash, secret) {
		t.Errorf("Verify(hash, secret) = false")
	}
	if !Looks(key) {
		t.Errorf("Looks(key) = false")
	}
	if !Pattern.MatchString(key) || Pattern.FindString("x "+key+" y") != key {
		t.Errorf("Pattern does not find %q", key)
	}
	// The checksum is the CRC-32 of everything before it.
	c := crc32.ChecksumIEEE([]byte(key[:Len-ChecksumLen]))
	var n uint64
	for _, ch := range []byte(key[Len-ChecksumLen:]) {
		n = n*62 + uint64(strings.IndexByte(alphabet, ch))
	}
	if uint64(c) != n {
		t.Errorf("checksum decodes to %d, want CRC-32 %d", n, c)
	}
}

func TestGenerateUnique(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		_, id, _ := mustGenerate(t)
		if seen[id] {
			t.Fatalf("duplicate key id %q", id)
		}
		seen[id] = true
	}
}

// TestGenerateUniform checks that rejection sampling leaves no character
// noticeably more likely than another: with 55,000 characters per draw
// batch every one of the 62 characters appears about 887 times.
func TestGenerateUniform(t *testing.T) {
	counts := map[byte]int{}
	total := 0
	for range 1000 {
		key, _, _ := mustGenerate(t)
		id, secret, _ := Parse(key)
		for _, c := range []byte(id + secret) {
			counts[c]++
			total++
		}
	}
	if len(counts) != 62 {
		t.Fatalf("saw %d distinct characters, want 62", len(counts))
	}
	mean := float64(total) / 62
	for c, n := range counts {
		// About 30 standard deviations apart would be 0.5×mean; modulo bias
		// without rejection would show as a 1.25× excess on 8 characters.
		if float64(n) < 0.85*mean || float64(n) > 1.15*mean {
			t.Errorf("character %q appears %d times, mean %.0f", c, n, mean)
		}
	}
}

func TestParseRejects(t *testing.T) {
	key, _, _ := mustGenerate(t)
	flip := func(i int) string {
		b := []byte(key)
		if b[i] == 'a' {
			b[i] = 'b'
		} else {
			b[i] = 'a'
		}
		return string(b)
	}
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"empty", "", "wrong length"},
		{"short", key[:Len-1], "wrong length"},
		{"long", key + "0", "wrong length"},
		{"prefix", "mcpx" + key[4:], "wrong prefix"},
		{"upper prefix", "MCPG" + key[4:], "wrong prefix"},
		{"separator", key[:sepAt] + "-" + key[sepAt+1:], "missing separator"},
		{"id char", key[:idStart] + "+" + key[idStart+1:], "character outside base62"},
		{"secret char", key[:secretStart] + "_" + key[secretStart+1:], "character outside base62"},
		{"nul", key[:checksumStart] + "\x00" + key[checksumStart+1:], "character outside base62"},
		{"non-ascii", key[:Len-2] + "é", "character outside base62"},
		{"id typo", flip(idStart + 3), "checksum mismatch"},
		{"secret typo", flip(secretStart + 10), "checksum mismatch"},
		{"checksum typo", flip(Len - 1), "checksum mismatch"},
		{"space", " " + key[1:], "wrong prefix"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, secret, err := Parse(tt.in)
			if err == nil {
				t.Fatalf("Parse(%q) = %q, %q, nil; want error", tt.in, id, secret)
			}
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("error %v does not match ErrMalformed", err)
			}
			if got := err.Error(); !strings.Contains(got, tt.want) {
				t.Errorf("error = %q, want it to mention %q", got, tt.want)
			}
			if Looks(tt.in) {
				t.Errorf("Looks(%q) = true", tt.in)
			}
		})
	}
}

func TestChecksumPadding(t *testing.T) {
	var got [ChecksumLen]byte
	encodeChecksum(&got, 0)
	if string(got[:]) != "000000" {
		t.Errorf("checksum(0) = %q, want 000000", got)
	}
	encodeChecksum(&got, 61)
	if string(got[:]) != "00000z" {
		t.Errorf("checksum(61) = %q, want 00000z", got)
	}
	encodeChecksum(&got, ^uint32(0))
	if string(got[:]) != "4gfFC3" {
		t.Errorf("checksum(max) = %q, want 4gfFC3", got)
	}
}

func TestVerify(t *testing.T) {
	_, secret, _ := Parse(func() string { k, _, _ := mustGenerate(t); return k }())
	h := Hash(secret)
	tests := []struct {
		name   string
		stored []byte
		secret string
		want   bool
	}{
		{"match", h, secret, true},
		{"other secret", h, strings.Repeat("a", SecretLen), false},
		{"empty secret", h, "", false},
		{"truncated hash", h[:31], secret, false},
		{"nil hash", nil, secret, false},
		{"long secret", Hash(strings.Repeat("x", 100)), strings.Repeat("x", 100), true},
	}
	for _, tt := range tests {
		if got := Verify(tt.stored, tt.secret); got != tt.want {
			t.Errorf("%s: Verify = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestFormatKnownVector(t *testing.T) {
	id := "AbCdEf012345"
	secret := strings.Repeat("Z", SecretLen)
	key := Format(id, secret)
	c := crc32.ChecksumIEEE([]byte("mcpg_" + id + "_" + secret))
	var want [ChecksumLen]byte
	encodeChecksum(&want, c)
	if got := key[checksumStart:]; got != string(want[:]) {
		t.Errorf("checksum = %q, want %q", got, want)
	}
	if !Looks(key) {
		t.Errorf("Looks(Format(...)) = false for %q", key)
	}
}

func TestParseAllocs(t *testing.T) {
	key, _, hash := mustGenerate(t)
	allocs := testing.AllocsPerRun(100, func() {
		_, secret, err := Parse(key)
		if err != nil || !Verify(hash, secret) {
			t.Fatal("parse or verify failed")
		}
		if Looks(key[1:]) {
			t.Fatal("Looks accepted a truncated key")
		}
	})
	if allocs != 0 {
		t.Errorf("Parse+Verify allocates %v times per run, want 0", allocs)
	}
}

func FuzzParse(f *testing.F) {
	for range 3 {
		key, _, _ := mustGenerate(f)
		f.Add(key)
	}
	f.Add("")
	f.Add("mcpg_")
	f.Add("mcpg_AAAAAAAAAAAA_" + strings.Repeat("B", 49))
	f.Add(strings.Repeat("\xff", Len))
	f.Fuzz(func(t *testing.T, s string) {
		id, secret, err := Parse(s)
		if Looks(s) != (err == nil) {
			t.Fatalf("Looks(%q) disagrees with Parse error %v", s, err)
		}
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Parse(%q) error %v does not match ErrMalformed", s, err)
			}
			return
		}
		// Any accepted input re-encodes identically.
		if got := Format(id, secret); got != s {
			t.Fatalf("Format(Parse(%q)) = %q", s, got)
		}
		if !Pattern.MatchString(s) {
			t.Fatalf("Pattern misses accepted key %q", s)
		}
		if !Verify(Hash(secret), secret) {
			t.Fatalf("Verify(Hash(secret)) = false")
		}
		// And a fresh key still round-trips.
		key, gid, hash := mustGenerate(t)
		pid, psecret, err := Parse(key)
		if err != nil || pid != gid || !Verify(hash, psecret) {
			t.Fatalf("Parse(Generate()) = %q, %v", pid, err)
		}
	})
}

func BenchmarkParseVerify(b *testing.B) {
	key, _, hash := mustGenerate(b)
	b.ReportAllocs()
	for b.Loop() {
		_, secret, err := Parse(key)
		if err != nil || !Verify(hash, secret) {
			b.Fatal("failed")
		}
	}
}
