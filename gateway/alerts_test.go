package gateway

import (
	"reflect"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/alert"
	"github.com/mcpgate/mcpgate/login"
)

func TestOAuthAlert(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	tests := []struct {
		name  string
		kind  string
		attrs []any
		want  alert.Alert
	}{
		{"refresh reuse, principal from tenant and subject", "oauth.refresh_token_reuse",
			[]any{"client_id", "c1", "subject", "alice", "tenant", "acme", "grant_id", "g1"},
			alert.Alert{Kind: alert.KindRefreshReuse, Principal: "acme/alice", Time: now, Detail: map[string]any{"client_id": "c1", "grant_id": "g1"}}},
		{"code reuse without a tenant", "oauth.code_reuse",
			[]any{"client_id", "c1", "subject", "bob"},
			alert.Alert{Kind: alert.KindCodeReuse, Principal: "bob", Time: now, Detail: map[string]any{"client_id": "c1"}}},
		{"refused client: the client is the principal", "oauth.cimd_blocked",
			[]any{"client_id", "https://evil.example/c.json"},
			alert.Alert{Kind: alert.KindCIMDBlocked, Principal: "https://evil.example/c.json", Time: now, Detail: map[string]any{"client_id": "https://evil.example/c.json"}}},
		{"unknown kind kept, odd attrs ignored", "oauth.something_new",
			[]any{"n", 3, 42, "x", "dangling"},
			alert.Alert{Kind: "oauth.something_new", Time: now, Detail: map[string]any{"n": 3}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := oauthAlert(now, tt.kind, tt.attrs); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("oauthAlert(%q, %v)\n got %+v\nwant %+v", tt.kind, tt.attrs, got, tt.want)
			}
		})
	}
}

func TestLoginAlert(t *testing.T) {
	now := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	got := loginAlert(now, login.AlertSigninLockout, []any{"subject", "alice", "addr", "203.0.113.7"})
	want := alert.Alert{Kind: alert.KindSigninLockout, Principal: "alice", Time: now, Detail: map[string]any{"subject": "alice", "addr": "203.0.113.7"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("loginAlert = %+v, want %+v", got, want)
	}
	if got := loginAlert(now, login.AlertSigninLockout, []any{"addr", "203.0.113.7"}); got.Principal != "203.0.113.7" {
		t.Errorf("address lockout: principal %q", got.Principal)
	}
}
