package main

import (
	"log/slog"
	"time"

	"github.com/mcpgate/mcpgate/alert"
)

// AlertFlags are the settings of security alerts (docs/alerts.md);
// `alerts:` in the config file supplies what they leave unset.
type AlertFlags struct {
	AlertWebhook string        `help:"POST security alerts as signed JSON to this URL (https; plain http only on a loopback address)." env:"MCPGATE_ALERT_WEBHOOK" placeholder:"URL"`
	AlertSecret  string        `help:"Secret alerts are signed with (HMAC-SHA-256), at least 16 bytes: env:NAME, file:PATH or vault:PATH#FIELD (re-read when it changes), or the value itself." env:"MCPGATE_ALERT_SECRET" placeholder:"REF" secret:""`
	AlertWindow  time.Duration `help:"Send one alert per kind and principal within this window (default 5m); repeats are dropped." env:"MCPGATE_ALERT_WINDOW" placeholder:"DURATION"`
}

// AlertsConfig is `alerts:` in the config file.
type AlertsConfig struct {
	Webhook string   `yaml:"webhook"`
	Secret  string   `yaml:"secret"`
	Window  duration `yaml:"window"`
}

// minAlertSecret is the shortest secret accepted: an HMAC key shorter
// than this is guessable offline from one captured delivery.
const minAlertSecret = 16

// alertSink builds the sink of security alerts from flags and the config
// file. Without a webhook, alerts are only logged. Close it after the
// server has stopped, so alerts raised by the last requests are sent.
func (f *AlertFlags) alertSink(g *Globals, logger *slog.Logger) (*alert.Sink, error) {
	cfg := AlertsConfig{}
	if g.file.Alerts != nil {
		cfg = *g.file.Alerts
	}
	if f.AlertWebhook != "" {
		cfg.Webhook = f.AlertWebhook
	}
	if f.AlertSecret != "" {
		cfg.Secret = f.AlertSecret
	}
	if f.AlertWindow != 0 {
		cfg.Window = duration(f.AlertWindow)
	}
	if cfg.Window < 0 {
		return nil, usagef("--alert-window must be positive")
	}
	opts := &alert.Options{Logger: logger, Window: time.Duration(cfg.Window)}
	switch {
	case cfg.Webhook == "" && cfg.Secret == "":
		return alert.NewSink(opts), nil
	case cfg.Webhook == "":
		return nil, usagef("--alert-secret needs --alert-webhook")
	case cfg.Secret == "":
		return nil, usagef("--alert-webhook needs --alert-secret, the secret alerts are signed with")
	}
	ref, err := g.loadSecret("--alert-secret", cfg.Secret)
	if err != nil {
		return nil, err
	}
	if v, _ := ref.Get(); len(v) < minAlertSecret {
		return nil, usagef("--alert-secret %s: at least %d bytes are needed (try `openssl rand -hex 32`)", ref, minAlertSecret)
	}
	key := func() ([]byte, error) {
		v, err := ref.Get()
		if err != nil {
			// The last secret read is still used; say why it was not renewed.
			logger.Warn("alert: reading the webhook secret", "secret", ref.String(), "err", err)
		}
		return []byte(v), nil
	}
	opts.Webhook, err = alert.NewWebhook(cfg.Webhook, key, &alert.WebhookOptions{Logger: logger})
	if err != nil {
		return nil, usageError{err}
	}
	return alert.NewSink(opts), nil
}

// raiser adapts the sink to the alert callback of the rate limiter
// (rate_limited, auth_failures) and of its Redis fail-over.
func raiser(sink *alert.Sink) func(kind, principal string, detail map[string]any) {
	return func(kind, principal string, detail map[string]any) {
		if kind == alert.KindRedisFailover && detail["healthy"] == true {
			// A recovery is not a repeat of the fail-over it ends, so it
			// gets a kind of its own and is not suppressed by it.
			kind = alert.KindRedisRecovered
		}
		sink.Raise(alert.Alert{Kind: kind, Principal: principal, Detail: detail})
	}
}
