package gateway_test

import (
	"context"
	"encoding/json"
	"html/template"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/authn"
	"github.com/mcpgate/mcpgate/internal/browsertest"
)

// corsPage is a web MCP client: it initializes with a bearer key, then
// tries without one, and shows what the browser let it read.
var corsPage = template.Must(template.New("").Parse(`<!doctype html>
<meta charset="utf-8"><title>web MCP client</title>
<style>body{font:16px system-ui;margin:2em} td{padding:.3em 1em;border-bottom:1px solid #ccc}</style>
<h1>web MCP client at <span id="origin"></span></h1>
<table id="out"></table>
<script>
const mcp = {{.MCP}}, key = {{.Key}};
document.getElementById('origin').textContent = location.origin;
const show = (k, v) => { const r = document.getElementById('out').insertRow(); r.insertCell().textContent = k; r.insertCell().textContent = v; };
const init = JSON.stringify({jsonrpc: '2.0', id: 1, method: 'initialize', params: {protocolVersion: '2025-11-25', capabilities: {}, clientInfo: {name: 'web', version: '1'}}});
window.result = (async () => {
  const out = {};
  try {
    const r = await fetch(mcp, {method: 'POST', body: init, headers: {
      'Authorization': 'Bearer ' + key, 'Content-Type': 'application/json',
      'Accept': 'application/json, text/event-stream', 'Mcp-Protocol-Version': '2025-11-25'}});
    out.status = r.status;
    out.session = r.headers.get('Mcp-Session-Id');
    out.server = (await r.text()).includes('"serverInfo"');
  } catch (e) { out.error = String(e); }
  try {
    const r = await fetch(mcp, {method: 'POST', body: init, headers: {'Content-Type': 'application/json', 'Accept': 'application/json, text/event-stream'}});
    out.anonStatus = r.status;
    out.challenge = r.headers.get('WWW-Authenticate');
  } catch (e) { out.anonError = String(e); }
  for (const [k, v] of Object.entries(out)) show(k, v);
  return JSON.stringify(out);
})();
</script>`))

// TestCORSBrowser: a page served from another loopback origin (localhost,
// another port) calls the gateway's /mcp at 127.0.0.1 with fetch, as the
// Inspector's Direct connection does: Chromium lets it initialize with an
// API key and read the session id, and read the challenge of a 401.
func TestCORSBrowser(t *testing.T) {
	ctx := browsertest.New(t)
	e := newResEnv(t)
	key, err := authn.CreateKey(context.Background(), e.store, mcpgate.APIKey{Name: "web", Subject: "carol", Scopes: []string{"notes:read"}})
	if err != nil {
		t.Fatal(err)
	}
	page := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = corsPage.Execute(w, map[string]string{"MCP": e.builtin, "Key": key})
	}))
	defer page.Close()
	pageURL := strings.Replace(page.URL, "127.0.0.1", "localhost", 1)

	if err := chromedp.Do(ctx, chromedp.Navigate(pageURL)); err != nil {
		t.Fatalf("open the page: %v", err)
	}
	got, err := chromedp.Run(ctx, chromedp.Evaluate[string](`window.result`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("run the page: %v", err)
	}
	var out struct {
		Status     int    `json:"status"`
		Session    string `json:"session"`
		Server     bool   `json:"server"`
		Error      string `json:"error"`
		AnonStatus int    `json:"anonStatus"`
		Challenge  string `json:"challenge"`
		AnonError  string `json:"anonError"`
	}
	if err := json.Unmarshal([]byte(got), &out); err != nil {
		t.Fatalf("page result %q: %v", got, err)
	}
	browsertest.Screenshot(t, ctx, browsertest.ArtifactDir(t, "cors"), "web-client-1280x800.png")
	if out.Error != "" || out.Status != 200 || out.Session == "" || !out.Server {
		t.Errorf("initialize from %s: %+v", pageURL, out)
	}
	if out.AnonError != "" || out.AnonStatus != 401 || !strings.Contains(out.Challenge, "resource_metadata=") {
		t.Errorf("no key from %s: %+v", pageURL, out)
	}
}
