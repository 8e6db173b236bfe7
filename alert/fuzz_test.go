package alert_test

import (
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/alert"
)

// FuzzVerify: a signature header is verified or refused with an error,
// never a panic; only the right signature of the body is accepted.
func FuzzVerify(f *testing.F) {
	secret := []byte("a secret of at least sixteen bytes")
	now := time.Unix(1_700_000_000, 0)
	f.Add(alert.Sign(secret, now, []byte(`{"kind":"x"}`)), []byte(`{"kind":"x"}`))
	f.Add("t=1,v1=00", []byte("{}"))
	f.Add("v1=,t=,,=", []byte(""))
	f.Fuzz(func(t *testing.T, header string, body []byte) {
		err := alert.Verify(secret, header, body, now, 5*time.Minute)
		if err == nil && header != alert.Sign(secret, now, body) {
			// Accepted: it must hold the right v1 for some t within the window.
			ok := false
			for d := -5 * time.Minute; d <= 5*time.Minute; d += time.Second {
				if alert.Verify(secret, alert.Sign(secret, now.Add(d), body), body, now, 5*time.Minute) == nil {
					ok = true
					break
				}
			}
			if !ok {
				t.Fatalf("accepted %q for %q", header, body)
			}
		}
	})
}
