package alert_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/alert"
)

func TestVerify(t *testing.T) {
	secret := []byte("whsec-test")
	body := []byte(`{"kind":"code_reuse","time":"2025-01-02T15:04:05Z","principal":"alice","detail":{}}`)
	now := time.Unix(1_735_830_245, 0)
	good := alert.Sign(secret, now, body)
	_, goodSig, _ := strings.Cut(good, ",")
	other := alert.Sign([]byte("another secret"), now, body)
	_, otherSig, _ := strings.Cut(other, ",")
	ts := fmt.Sprint(now.Unix())

	tests := []struct {
		name   string
		header string
		body   []byte
		now    time.Time
		want   error // nil: verifies
	}{
		{"good", good, body, now, nil},
		{"good, spaces after commas", "t=" + ts + ", " + goodSig, body, now, nil},
		{"good, 4m59s old", good, body, now.Add(4*time.Minute + 59*time.Second), nil},
		{"good among two v1", "t=" + ts + "," + otherSig + "," + goodSig, body, now, nil},
		{"unknown field ignored", "t=" + ts + ",v0=abc," + goodSig, body, now, nil},
		{"body changed", good, append([]byte(" "), body...), now, alert.ErrSignatureMismatch},
		{"other secret", other, body, now, alert.ErrSignatureMismatch},
		{"timestamp changed", "t=" + fmt.Sprint(now.Unix()+1) + "," + goodSig, body, now, alert.ErrSignatureMismatch},
		{"too old", good, body, now.Add(5*time.Minute + time.Second), alert.ErrSignatureExpired},
		{"from the future", good, body, now.Add(-6 * time.Minute), alert.ErrSignatureExpired},
		{"empty", "", body, now, alert.ErrMalformedSignature},
		{"no t", goodSig, body, now, alert.ErrMalformedSignature},
		{"no v1", "t=" + ts, body, now, alert.ErrMalformedSignature},
		{"two t", "t=" + ts + ",t=" + ts + "," + goodSig, body, now, alert.ErrMalformedSignature},
		{"signed t", "t=+" + ts + "," + goodSig, body, now, alert.ErrMalformedSignature},
		{"t not a number", "t=soon," + goodSig, body, now, alert.ErrMalformedSignature},
		{"v1 not hex", "t=" + ts + ",v1=" + strings.Repeat("z", 64), body, now, alert.ErrMalformedSignature},
		{"v1 short", "t=" + ts + ",v1=abcd", body, now, alert.ErrMalformedSignature},
		{"no equals sign", "t=" + ts + ",v1", body, now, alert.ErrMalformedSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := alert.Verify(secret, tt.header, tt.body, tt.now, 0)
			if (tt.want == nil) != (err == nil) || !errors.Is(err, tt.want) {
				t.Errorf("Verify(%q) = %v, want %v", tt.header, err, tt.want)
			}
		})
	}
}

func TestVerifyMaxAge(t *testing.T) {
	secret, body := []byte("k"), []byte("{}")
	then := time.Unix(1_700_000_000, 0)
	h := alert.Sign(secret, then, body)
	if err := alert.Verify(secret, h, body, then.Add(30*time.Second), 10*time.Second); !errors.Is(err, alert.ErrSignatureExpired) {
		t.Errorf("30s old with maxAge 10s: %v, want ErrSignatureExpired", err)
	}
	if err := alert.Verify(secret, h, body, then.Add(30*time.Second), time.Minute); err != nil {
		t.Errorf("30s old with maxAge 1m: %v", err)
	}
	if err := alert.Verify(nil, h, body, then, 0); err == nil {
		t.Error("an empty secret verified a signature")
	}
}

// A receiver checks a delivery against the raw body, before decoding it.
func ExampleVerify() {
	secret := []byte("the secret given to --alert-secret")
	body := []byte(`{"kind":"refresh_reuse","time":"2025-01-02T15:04:05Z","principal":"acme/alice","detail":{"client_id":"c1"}}`)
	sent := time.Date(2025, 1, 2, 15, 4, 5, 0, time.UTC)
	header := alert.Sign(secret, sent, body) // what mcpgate sends as Mcpgate-Signature

	received := sent.Add(2 * time.Second)
	fmt.Println(alert.Verify(secret, header, body, received, 5*time.Minute))
	fmt.Println(alert.Verify(secret, header, body, sent.Add(10*time.Minute), 5*time.Minute))
	// Output:
	// <nil>
	// alert: signature timestamp too old or in the future
}
