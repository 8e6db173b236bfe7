package authn

import (
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/mcpgate/mcpgate"
)

func TestParseBearer(t *testing.T) {
	long := strings.Repeat("a", MaxTokenLen)
	tests := []struct {
		name    string
		header  string
		want    string
		wantErr error
	}{
		{"simple", "Bearer abc", "abc", nil},
		{"lower scheme", "bearer abc", "abc", nil},
		{"mixed scheme", "BeArEr abc", "abc", nil},
		{"several spaces", "Bearer    abc", "abc", nil},
		{"token68 chars", "Bearer aZ09-._~+/", "aZ09-._~+/", nil},
		{"padding", "Bearer abc==", "abc==", nil},
		{"jwt", "Bearer eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.sig", "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.sig", nil},
		{"max length", "Bearer " + long, long, nil},

		{"empty", "", "", ErrNoCredential},
		{"basic", "Basic dXNlcjpwYXNz", "", ErrNoCredential},
		{"scheme only other", "Digest", "", ErrNoCredential},
		{"bearerx", "Bearerx abc", "", ErrNoCredential},

		{"scheme only", "Bearer", "", ErrMalformed},
		{"scheme and space", "Bearer ", "", ErrMalformed},
		{"no space", "Bearerabc", "", ErrNoCredential},
		{"tab separator", "Bearer\tabc", "", ErrMalformed},
		{"leading space", " Bearer abc", "", ErrMalformed},
		{"trailing space", "Bearer abc ", "", ErrMalformed},
		{"two tokens", "Bearer abc def", "", ErrMalformed},
		{"comma list", "Bearer abc, Bearer def", "", ErrMalformed},
		{"padding inside", "Bearer ab=c", "", ErrMalformed},
		{"only padding", "Bearer ==", "", ErrMalformed},
		{"quote", `Bearer "abc"`, "", ErrMalformed},
		{"nul", "Bearer ab\x00c", "", ErrMalformed},
		{"newline", "Bearer abc\r\nX-Injected: 1", "", ErrMalformed},
		{"del", "Bearer abc\x7f", "", ErrMalformed},
		{"non-ascii", "Bearer abcé", "", ErrMalformed},
		{"too long", "Bearer " + long + "a", "", ErrMalformed},
		{"far too long", "Bearer " + strings.Repeat("a", 1<<20), "", ErrMalformed},
		{"colon", "Bearer: abc", "", ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseBearer(tt.header)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || !errors.Is(err, mcpgate.ErrUnauthenticated) {
					t.Fatalf("ParseBearer = %q, %v; want error %v", got, err, tt.wantErr)
				}
				if got != "" {
					t.Errorf("token %q returned with an error", got)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseBearer = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestBearerFromRequest(t *testing.T) {
	tests := []struct {
		name    string
		headers []string
		want    string
		wantErr error
	}{
		{"none", nil, "", ErrNoCredential},
		{"one", []string{"Bearer abc"}, "abc", nil},
		{"two", []string{"Bearer abc", "Bearer abc"}, "", ErrMalformed},
		{"bearer and basic", []string{"Basic x", "Bearer abc"}, "", ErrMalformed},
		{"one empty", []string{""}, "", ErrNoCredential},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/mcp", nil)
			for _, h := range tt.headers {
				r.Header.Add("Authorization", h)
			}
			got, err := BearerFromRequest(r)
			if got != tt.want || !errors.Is(err, tt.wantErr) && !(err == nil && tt.wantErr == nil) {
				t.Errorf("BearerFromRequest = %q, %v; want %q, %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func FuzzParseBearer(f *testing.F) {
	for _, s := range []string{"Bearer abc", "bearer a=", "Bearer  x.y.z", "Basic x", "", "Bearer", "Bearer \x00", "BEARER mcpg_x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		token, err := ParseBearer(header)
		if err != nil {
			if token != "" {
				t.Fatalf("token %q with error %v", token, err)
			}
			if !errors.Is(err, mcpgate.ErrUnauthenticated) {
				t.Fatalf("error %v does not match ErrUnauthenticated", err)
			}
			return
		}
		if token == "" || len(token) > MaxTokenLen || !isToken68(token) {
			t.Fatalf("accepted bad token %q", token)
		}
		if !strings.HasSuffix(header, token) || !strings.EqualFold(header[:6], "bearer") {
			t.Fatalf("token %q is not the end of %q", token, header)
		}
		if strings.TrimLeft(header[6:len(header)-len(token)], " ") != "" || header[6] != ' ' {
			t.Fatalf("separator of %q is not spaces", header)
		}
		for i := range len(header) {
			if c := header[i]; c < 0x21 && c != ' ' || c >= 0x7f {
				t.Fatalf("accepted control or non-ASCII byte %#x", c)
			}
		}
		// Canonical form parses to the same token.
		if again, err := ParseBearer("Bearer " + token); err != nil || again != token {
			t.Fatalf("re-parse = %q, %v", again, err)
		}
	})
}
