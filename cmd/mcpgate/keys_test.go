package main

import (
	"testing"
	"time"

	"github.com/mcpgate/mcpgate"
)

func TestViewKeyStatus(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	for _, tc := range []struct {
		name   string
		key    mcpgate.APIKey
		status string
		due    bool
	}{
		{"new", mcpgate.APIKey{CreatedAt: now.Add(-day)}, "active", false},
		{"89 days", mcpgate.APIKey{CreatedAt: now.Add(-89 * day)}, "active", false},
		{"90 days", mcpgate.APIKey{CreatedAt: now.Add(-90 * day)}, "active", true},
		{"old but revoked", mcpgate.APIKey{CreatedAt: now.Add(-200 * day), RevokedAt: now.Add(-day)}, "revoked", false},
		{"expired", mcpgate.APIKey{CreatedAt: now.Add(-10 * day), ExpiresAt: now.Add(-time.Second)}, "expired", false},
		{"rotating", mcpgate.APIKey{CreatedAt: now.Add(-100 * day), ExpiresAt: now.Add(time.Hour), RotatedTo: "next"}, "rotating", false},
	} {
		v := viewKey(&tc.key, now)
		if v.Status != tc.status || v.RotationDue != tc.due {
			t.Errorf("%s: status %q due %v, want %q %v", tc.name, v.Status, v.RotationDue, tc.status, tc.due)
		}
	}
}

func TestParseLifetime(t *testing.T) {
	for in, want := range map[string]time.Duration{"90d": 90 * 24 * time.Hour, "2w": 14 * 24 * time.Hour, "12h": 12 * time.Hour, "never": 0, "": 0, "1y": 365 * 24 * time.Hour, "1.5d": 36 * time.Hour, "1d12h": 36 * time.Hour} {
		if got, err := parseLifetime(in); err != nil || got != want {
			t.Errorf("parseLifetime(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"soon", "-1d", "0d", "d", "-5m", "99999999d"} {
		if _, err := parseLifetime(bad); err == nil {
			t.Errorf("parseLifetime(%q) accepted", bad)
		}
	}
}
