package main

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/alert"
)

// alertReceiver is a webhook endpoint on 127.0.0.1 that records every
// delivery attempt. Its first attempt is answered 503, so that the gateway
// has to retry.
type alertReceiver struct {
	mu       sync.Mutex
	attempts []alertAttempt
}

type alertAttempt struct {
	status    int
	delivery  string
	verifyErr error
	body      []byte
	alert     struct {
		Kind      string         `json:"kind"`
		Time      time.Time      `json:"time"`
		Principal string         `json:"principal"`
		Detail    map[string]any `json:"detail"`
	}
}

func (rc *alertReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	a := alertAttempt{delivery: r.Header.Get(alert.DeliveryHeader), body: body}
	a.verifyErr = alert.Verify([]byte(alertSecret), r.Header.Get(alert.SignatureHeader), body, time.Now(), 5*time.Minute)
	if err := json.Unmarshal(body, &a.alert); err != nil && a.verifyErr == nil {
		a.verifyErr = err
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" && a.verifyErr == nil {
		a.verifyErr = fmt.Errorf("Content-Type %q", ct)
	}
	rc.mu.Lock()
	a.status = http.StatusOK
	if len(rc.attempts) == 0 {
		a.status = http.StatusServiceUnavailable
	}
	rc.attempts = append(rc.attempts, a)
	rc.mu.Unlock()
	w.WriteHeader(a.status)
}

func (rc *alertReceiver) seen() []alertAttempt {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]alertAttempt(nil), rc.attempts...)
}

const alertSecret = "alert-secret-0123456789abcdef"

// TestAlertWebhook runs the binary with --alert-webhook and raises real
// alerts: authorization codes redeemed twice (alice twice, bob once) and
// a principal over its rate limit. The receiver gets exactly one signed
// alert per principal and kind, after a retry for the first.
func TestAlertWebhook(t *testing.T) {
	rcv := &alertReceiver{}
	hook := httptest.NewServer(rcv)
	defer hook.Close()

	data := filepath.Join(t.TempDir(), "data")
	aliceKey, _ := createKey(t, data, "--name", "alice", "--subject", "alice", "--scope", "notes:read")
	bobKey, _ := createKey(t, data, "--name", "bob", "--subject", "bob", "--scope", "notes:read")
	srv := startServerEnv(t, data, []string{"ALERT_SECRET=" + alertSecret},
		"--alert-webhook", hook.URL+"/mcpgate", "--alert-secret", "env:ALERT_SECRET", "--rate-limit", "2/1h")

	redirect := "http://127.0.0.1:47104/callback"
	resp, err := http.Post(srv.base+"/register", "application/json",
		strings.NewReader(`{"client_name":"alerts","redirect_uris":["`+redirect+`"],"token_endpoint_auth_method":"none"}`))
	if err != nil {
		t.Fatal(err)
	}
	var reg struct {
		ClientID string `json:"client_id"`
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err := json.Unmarshal(b, &reg); err != nil || reg.ClientID == "" {
		t.Fatalf("register: %d %s", resp.StatusCode, b)
	}

	// reuseCode signs in with key, gets a code, and redeems it twice: the
	// second redemption raises a code_reuse alert about the key's subject.
	reuseCode := func(key string) {
		t.Helper()
		verifier := "alerts-verifier-0123456789-abcdefghijklmnopqrstuvwxyz"
		sum := sha256.Sum256([]byte(verifier))
		authURL := srv.base + "/authorize?" + url.Values{
			"response_type": {"code"}, "client_id": {reg.ClientID}, "redirect_uri": {redirect},
			"state": {"s"}, "scope": {"notes:read"}, "resource": {srv.url},
			"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
		}.Encode()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cb, err := (&formBrowser{base: srv.base, apiKey: key}).authorize(ctx, authURL)
		if err != nil {
			t.Fatalf("sign-in: %v", err)
		}
		form := url.Values{"grant_type": {"authorization_code"}, "code": {cb.Query().Get("code")}, "client_id": {reg.ClientID},
			"redirect_uri": {redirect}, "code_verifier": {verifier}, "resource": {srv.url}}
		for i, want := range []int{http.StatusOK, http.StatusBadRequest} {
			resp, err := http.PostForm(srv.base+"/token", form)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != want {
				t.Fatalf("redemption %d of the code: %d %s, want %d", i+1, resp.StatusCode, body, want)
			}
		}
	}
	reuseCode(aliceKey)
	reuseCode(aliceKey) // a second alert about alice within the window
	reuseCode(bobKey)

	// Over its limit of 2, alice's key gets 429s: one rate_limited alert.
	for i := range 4 {
		resp, _ := rpc(t, srv.url, aliceKey, initBody)
		if want := http.StatusOK; i >= 2 {
			if resp.StatusCode != http.StatusTooManyRequests {
				t.Fatalf("request %d over the limit: %d, want 429", i+1, resp.StatusCode)
			}
		} else if resp.StatusCode != want {
			t.Fatalf("request %d: %d, want %d", i+1, resp.StatusCode, want)
		}
	}

	// Three alerts, the first delivered on its second attempt.
	eventually(t, 15*time.Second, func() error {
		if n := len(rcv.seen()); n < 4 {
			return fmt.Errorf("receiver saw %d attempts, want 4", n)
		}
		return nil
	})
	time.Sleep(500 * time.Millisecond) // let any extra delivery arrive

	type pk struct{ principal, kind string }
	accepted := map[pk]int{}
	deliveries := map[string]int{}
	for _, a := range rcv.seen() {
		if a.verifyErr != nil {
			t.Errorf("delivery %s: %v", a.body, a.verifyErr)
		}
		deliveries[a.delivery]++
		if a.status == http.StatusOK {
			accepted[pk{a.alert.Principal, a.alert.Kind}]++
		}
	}
	want := map[pk]int{
		{"alice", alert.KindCodeReuse}:   1,
		{"bob", alert.KindCodeReuse}:     1,
		{"alice", alert.KindRateLimited}: 1,
	}
	if len(accepted) != len(want) {
		t.Errorf("alerts accepted: %v, want %v", accepted, want)
	}
	for k, n := range want {
		if accepted[k] != n {
			t.Errorf("%v accepted %d times, want %d", k, accepted[k], n)
		}
	}
	if len(deliveries) != 3 {
		t.Errorf("%d distinct delivery ids, want 3 (a retry keeps its id): %v", len(deliveries), deliveries)
	}
	for _, a := range rcv.seen() {
		if a.alert.Kind == alert.KindCodeReuse && a.alert.Detail["client_id"] != reg.ClientID {
			t.Errorf("code_reuse detail %v, want client_id %s", a.alert.Detail, reg.ClientID)
		}
	}

	if err := srv.stop(t); err != nil {
		t.Fatalf("serve exited with %v", err)
	}
	logs := srv.logs.String()
	if n := strings.Count(logs, `msg="security alert"`); n != 3 {
		t.Errorf("%d alerts logged, want 3 (repeats are not logged)", n)
	}
	if strings.Contains(logs, alertSecret) || strings.Contains(logs, hook.URL) {
		t.Error("the alert secret or the webhook URL reached the log")
	}
}

// TestAlertFlags: a webhook needs a secret and the reverse, the secret is
// long enough and resolvable, and the URL is https unless on loopback; each
// mistake is a usage error (exit 2).
func TestAlertFlags(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"webhook without secret", []string{"--alert-webhook", "https://hooks.example.com/x"}, "needs --alert-secret"},
		{"secret without webhook", []string{"--alert-secret", "0123456789abcdef0123"}, "needs --alert-webhook"},
		{"short secret", []string{"--alert-webhook", "https://hooks.example.com/x", "--alert-secret", "short"}, "at least 16 bytes"},
		{"unset variable", []string{"--alert-webhook", "https://hooks.example.com/x", "--alert-secret", "env:MCPGATE_TEST_NO_SUCH_VAR"}, "MCPGATE_TEST_NO_SUCH_VAR"},
		{"plain http", []string{"--alert-webhook", "http://hooks.example.com/x", "--alert-secret", "0123456789abcdef0123"}, "must be https"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := mcpgateCLI(t, data, append([]string{"--listen", "127.0.0.1:0", "serve"}, tt.args...)...)
			if res.code != 2 || !strings.Contains(res.stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want exit 2 mentioning %q", res.code, res.stderr, tt.want)
			}
		})
	}
}
