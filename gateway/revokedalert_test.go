package gateway

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/alert"
	"github.com/mcpgate/mcpgate/authn"
	"github.com/mcpgate/mcpgate/sqlite"
)

// A revoked key presented with its right secret raises revoked_key_used:
// whoever sends it holds the real key. A wrong secret raises nothing.
func TestRevokedKeyUseRaisesAlert(t *testing.T) {
	ctx := t.Context()
	store, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	key, err := authn.CreateKey(ctx, store, mcpgate.APIKey{Name: "leaked", Subject: "alice", Tenant: "acme", Scopes: []string{"docs:read"}, CreatedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var alerts []alert.Alert
	front := httptest.NewUnstartedServer(nil)
	gw, err := New(store, "http://"+front.Listener.Addr().String()+"/mcp", &Options{
		ChangePoll: 20 * time.Millisecond,
		Alerts: func(a alert.Alert) {
			mu.Lock()
			alerts = append(alerts, a)
			mu.Unlock()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer gw.Close()
	front.Config.Handler = gw.Handler()
	front.Start()
	defer front.Close()

	post := func(token string) int {
		req, _ := http.NewRequest(http.MethodPost, front.URL+"/mcp", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"ping"}`))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post(key); code == http.StatusUnauthorized {
		t.Fatal("the key was refused before it was revoked")
	}
	if err := store.RevokeKey(ctx, key[5:17], time.Now()); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for post(key) != http.StatusUnauthorized {
		if time.Now().After(deadline) {
			t.Fatal("the revoked key still works")
		}
		time.Sleep(20 * time.Millisecond)
	}
	wrong := key[:len(key)-8] + "AAAAAAAA"
	post(wrong)
	mu.Lock()
	defer mu.Unlock()
	var got []alert.Alert
	for _, a := range alerts {
		if a.Kind == alert.KindRevokedKeyUsed {
			got = append(got, a)
		}
	}
	if len(got) != 1 || got[0].Principal != "acme/alice" || got[0].Detail["key_id"] != key[5:17] {
		t.Errorf("revoked_key_used alerts %+v, want one for acme/alice", got)
	}
}
