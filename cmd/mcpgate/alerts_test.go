package main

import (
	"strings"
	"testing"
	"time"
)

func TestAlertsConfig(t *testing.T) {
	cfg, err := parseConfig([]byte("alerts:\n  webhook: https://hooks.example.com/mcpgate\n  secret: env:ALERT_SECRET\n  window: 10m\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := AlertsConfig{Webhook: "https://hooks.example.com/mcpgate", Secret: "env:ALERT_SECRET", Window: duration(10 * time.Minute)}
	if cfg.Alerts == nil || *cfg.Alerts != want {
		t.Errorf("alerts: %+v, want %+v", cfg.Alerts, want)
	}
	if _, err := parseConfig([]byte("alerts:\n  webhok: https://hooks.example.com/mcpgate\n")); err == nil || !strings.Contains(err.Error(), "webhok") {
		t.Errorf("misspelt key: %v, want an error naming it", err)
	}
}
