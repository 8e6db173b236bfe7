package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestAdminDashboardEndToEnd runs `mcpgate serve --admin-listen` and checks
// that the dashboard and /metrics are on the admin listener only, that a
// key created without mcpgate:admin cannot sign in, and that a key revoked
// from the dashboard is refused by the MCP endpoint within a second.
func TestAdminDashboardEndToEnd(t *testing.T) {
	data := t.TempDir()
	adminKey, _ := createKey(t, data, "--name", "ops", "--scope", "mcpgate:admin")
	userKey, userID := createKey(t, data, "--name", "bob")
	if res := mcpgateCLI(t, data, "keys", "list"); !strings.Contains(res.stdout, userID) {
		t.Fatalf("keys list lacks %s:\n%s", userID, res.stdout)
	}
	adminAddr := freeAddr(t)
	srv := startServer(t, data, "--admin-listen", adminAddr)
	adminURL := "http://" + adminAddr
	eventually(t, 10*time.Second, func() error {
		_, err := http.Get(adminURL + "/healthz")
		return err
	})

	// The public listener serves neither metrics nor the dashboard.
	for _, path := range []string{"/metrics", "/signin", "/static/admin.css", "/keys/revoke"} {
		resp, err := http.Get(srv.base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("public GET %s = %d, want 404", path, resp.StatusCode)
		}
	}
	resp, err := http.Get(srv.base + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.Contains(string(body), "admin dashboard") || strings.Contains(string(body), `name="api_key"`) && strings.Contains(string(body), "mcpgate:admin") {
		t.Errorf("public / serves the dashboard's sign-in:\n%s", body)
	}
	if resp, err := http.Get(adminURL + "/metrics"); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("admin /metrics = %v, %v", resp, err)
	}

	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	form := func(path string, v url.Values) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, adminURL+path, strings.NewReader(v.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := c.Get(adminURL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	csrfRe := regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	_, signin := get("/")
	m := csrfRe.FindStringSubmatch(signin)
	if m == nil || !strings.Contains(signin, `id="signin-form"`) {
		t.Fatalf("admin / signed out is not the sign-in page:\n%s", signin)
	}
	if code, _ := form("/signin", url.Values{"csrf": {m[1]}, "api_key": {userKey}}); code != http.StatusForbidden {
		t.Errorf("sign-in with a key without mcpgate:admin = %d, want 403", code)
	}
	code, page := form("/signin", url.Values{"csrf": {m[1]}, "api_key": {adminKey}})
	if code != http.StatusOK || !strings.Contains(page, `id="key-`+userID+`"`) {
		t.Fatalf("sign-in with the admin key = %d:\n%s", code, page)
	}

	if resp, _ := rpc(t, srv.url, userKey, initBody); resp.StatusCode != http.StatusOK {
		t.Fatalf("bob's key before revocation: %d", resp.StatusCode)
	}
	csrf := csrfRe.FindStringSubmatch(page)[1]
	if code, _ := form("/keys/revoke", url.Values{"csrf": {csrf}, "key": {userID}}); code != http.StatusOK {
		t.Fatalf("revoke from the dashboard = %d", code)
	}
	start := time.Now()
	eventually(t, time.Second, func() error {
		if resp, _ := rpc(t, srv.url, userKey, initBody); resp.StatusCode != http.StatusUnauthorized {
			return fmt.Errorf("bob's key still answers %d %v after its revocation", resp.StatusCode, time.Since(start))
		}
		return nil
	})
	if res := mcpgateCLI(t, data, "keys", "list"); !regexp.MustCompile(userID + `.*revoked`).MatchString(res.stdout) {
		t.Errorf("keys list does not show %s revoked:\n%s", userID, res.stdout)
	}
}
