package authn

import (
	"bytes"
	"context"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/apikey"
	"github.com/mcpgate/mcpgate/redact"
)

// Every refusal of a credential names its reason, as the audit table and
// the log record it, whatever verifier refused it.
func TestRefusalsNameTheirReason(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	store := newMemStore()
	now := clock.Now()
	good, _ := mustCreateKey(t, store, now, nil)
	revoked, _ := mustCreateKey(t, store, now, func(k *mcpgate.APIKey) { k.RevokedAt = now.Add(-time.Minute) })
	expired, _ := mustCreateKey(t, store, now, func(k *mcpgate.APIKey) { k.ExpiresAt = now.Add(-time.Minute) })
	unknown, _, _, err := apikey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	damaged := good[:len(good)-1] + "x"
	if damaged == good {
		damaged = good[:len(good)-1] + "y"
	}
	keys := NewKeyVerifier(store, &KeyVerifierOptions{Now: clock.Now})
	v := Chain(keys)

	tests := []struct {
		name, token, want string
	}{
		{"unknown key id", unknown, mcpgate.ReasonUnknownKey},
		{"wrong secret", wrongSecret(t, good), mcpgate.ReasonWrongSecret},
		{"revoked", revoked, mcpgate.ReasonRevoked},
		{"expired", expired, mcpgate.ReasonExpired},
		{"bad checksum", damaged, mcpgate.ReasonBadChecksum},
		{"key of the wrong shape", apikey.Prefix + "short", mcpgate.ReasonMalformed},
		{"token no verifier knows", "some.opaque.token", mcpgate.ReasonUnknownToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := v.Verify(ctx, tt.token)
			if got := mcpgate.Reason(err); got != tt.want {
				t.Errorf("Reason(%v) = %q, want %q", err, got, tt.want)
			}
		})
	}

	// The refusal of the verifier that knew the token is kept over that of
	// a later one that did not.
	refuse := func(reason string) Verifier {
		return VerifierFunc(func(context.Context, string) (*mcpgate.Principal, error) {
			return nil, mcpgate.Refused(reason, reason)
		})
	}
	for _, tt := range []struct {
		name  string
		chain Verifier
		want  string
	}{
		{"wrong audience, then another issuer", Chain(keys, refuse(mcpgate.ReasonWrongAudience), refuse(mcpgate.ReasonWrongIssuer)), mcpgate.ReasonWrongAudience},
		{"unknown, then expired", Chain(keys, refuse(mcpgate.ReasonUnknownToken), refuse(mcpgate.ReasonExpired)), mcpgate.ReasonExpired},
		{"bad signature, then expired", Chain(keys, refuse(mcpgate.ReasonBadSignature), refuse(mcpgate.ReasonExpired)), mcpgate.ReasonExpired},
		{"all foreign", Chain(keys, refuse(mcpgate.ReasonUnknownToken), refuse(mcpgate.ReasonWrongIssuer)), mcpgate.ReasonWrongIssuer},
	} {
		if _, err := tt.chain.Verify(ctx, "a.b.c"); mcpgate.Reason(err) != tt.want {
			t.Errorf("%s: reason %q, want %q", tt.name, mcpgate.Reason(err), tt.want)
		}
	}

	a := New(v, nil)
	for _, tt := range []struct{ name, header, want string }{
		{"no header", "", mcpgate.ReasonNoCredential},
		{"basic", "Basic dXNlcjpwYXNz", mcpgate.ReasonNoCredential},
		{"bad bearer", "Bearer a b", mcpgate.ReasonMalformed},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/mcp", nil)
			if tt.header != "" {
				r.Header.Set("Authorization", tt.header)
			}
			_, err := a.Check(r)
			if got := mcpgate.Reason(err); got != tt.want {
				t.Errorf("Reason(%v) = %q, want %q", err, got, tt.want)
			}
		})
	}
}

// The debug line of a refused credential names the reason in words the
// redacting handler leaves alone, and never the credential.
func TestRefusalLogNamesTheReason(t *testing.T) {
	clock := newFakeClock()
	store := newMemStore()
	good, _ := mustCreateKey(t, store, clock.Now(), nil)
	var buf bytes.Buffer
	logger := slog.New(redact.NewHandler(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	a := New(Chain(NewKeyVerifier(store, &KeyVerifierOptions{Now: clock.Now})), &Options{Logger: logger})
	bad := wrongSecret(t, good)
	r := httptest.NewRequest("POST", "/mcp", nil)
	r.Header.Set("Authorization", "Bearer "+bad)
	_, err := a.Check(r)
	a.Refusal(r, err)
	got := buf.String()
	if !strings.Contains(got, "reason="+mcpgate.ReasonWrongSecret) {
		t.Errorf("debug line lacks the reason:\n%s", got)
	}
	if strings.Contains(got, bad[len(bad)-20:]) {
		t.Errorf("debug line holds the secret:\n%s", got)
	}
}
