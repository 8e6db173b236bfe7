package gateway

import (
	"time"

	"github.com/mcpgate/mcpgate/alert"
	"github.com/mcpgate/mcpgate/login"
)

// loginAlert turns an alert of the sign-in pages, a kind and slog-style
// key-value pairs, into an alert.Alert: a sign-in lockout is about the
// username locked out, or else the client address.
func loginAlert(now time.Time, kind string, attrs []any) alert.Alert {
	a := alert.Alert{Kind: kind, Time: now, Detail: map[string]any{}}
	if kind == login.AlertSigninLockout {
		a.Kind = alert.KindSigninLockout
	}
	for i := 0; i+1 < len(attrs); i += 2 {
		if key, ok := attrs[i].(string); ok {
			a.Detail[key] = attrs[i+1]
		}
	}
	if s, ok := a.Detail["subject"].(string); ok && s != "" {
		a.Principal = s
	} else if addr, ok := a.Detail["addr"].(string); ok {
		a.Principal = addr
	}
	return a
}
