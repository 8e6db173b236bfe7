package gateway

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/apikey"
	"github.com/mcpgate/mcpgate/redact"
	"github.com/mcpgate/mcpgate/sqlite"
)

// Credentials the panic test puts in the request and in the panic value.
const (
	panicJWT          = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsImF1ZCI6Im1jcCJ9.c2lnbmF0dXJlLW9mLXRoZS1wYW5pYy10ZXN0" // gitleaks:allow
	panicClientSecret = "mcps_Q2xpZW50U2VjcmV0T2ZUaGVQYW5pY1Rlc3RYWVpBQkNERUZHSElKSw"                                                    // gitleaks:allow
)

// A handler that panics with credentials in scope, the client's API key in
// its headers and a bearer token and client secret in its body, formatting
// them all into the panic value, leaks none of them: not to the log (the
// panic line and its stack, the request line), not to the audit table, not
// to the client, and not into the SQLite files at all.
func TestPanicLeaksNoCredential(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	store, err := sqlite.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	key, id, hash, err := apikey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	if err := store.CreateKey(ctx, &mcpgate.APIKey{ID: id, Name: "alice", Subject: "alice", Scopes: []string{"docs:read"}, Hash: hash, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}

	// The upstream panics with everything it was given, formatted three
	// ways, as careless code does.
	boom := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		type creds struct {
			Authorization string
			Body          string
		}
		panic(fmt.Sprintf("upstream exploded: headers=%v body=%s creds=%+v secret=%s",
			r.Header, body, creds{r.Header.Get("Authorization"), string(body)}, panicClientSecret))
	})

	var logs syncBuffer
	logger := slog.New(redact.NewHandler(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	front := httptest.NewUnstartedServer(nil)
	mcpURL := "http://" + front.Listener.Addr().String() + "/mcp"
	gw, err := New(store, mcpURL, &Options{Logger: logger, Upstreams: []Upstream{{Name: "boom", Path: "/mcp/boom", Handler: boom}}})
	if err != nil {
		t.Fatal(err)
	}
	front.Config.Handler = gw.Handler()
	front.Start()
	defer front.Close()

	bodies := []string{
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"lookup","arguments":{"token":"` + panicJWT + `","client_secret":"` + panicClientSecret + `","note":"Bearer ` + panicJWT + `"}}}`,
		// The call's target, stored in the audit table, holds credentials too.
		`{"jsonrpc":"2.0","id":2,"method":"resources/read","params":{"uri":"notes://x?access_token=` + panicJWT + `&k=` + key + `&s=` + panicClientSecret + `"}}`,
	}
	var answers bytes.Buffer
	for _, b := range bodies {
		req, _ := http.NewRequest(http.MethodPost, front.URL+"/mcp/boom", strings.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Header.Set("X-Debug", "client_secret="+panicClientSecret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusInternalServerError {
			t.Fatalf("status %d, want 500: %s", resp.StatusCode, got)
		}
		fmt.Fprintf(&answers, "%v\n%s\n", resp.Header, got)
		if !strings.Contains(string(got), `"internal_error"`) {
			t.Errorf("answer %s, want the fixed internal_error body", got)
		}
	}
	gw.Close() // flushes the audit writer

	events, err := store.ListAudit(ctx, time.Time{}, 100)
	if err != nil {
		t.Fatal(err)
	}
	var audit bytes.Buffer
	panicked := 0
	for _, ev := range events {
		fmt.Fprintf(&audit, "%+v\n", *ev)
		if ev.Status == http.StatusInternalServerError && ev.Decision == mcpgate.DecisionError && ev.Reason == "internal" && ev.KeyID == id {
			panicked++
		}
	}
	if panicked != len(bodies) {
		t.Errorf("%d audit events record the panics, want %d:\n%s", panicked, len(bodies), audit.String())
	}
	if !strings.Contains(audit.String(), "notes://x?access_token="+redact.Mask) {
		t.Errorf("the audit table does not keep the masked target:\n%s", audit.String())
	}
	if !strings.Contains(logs.String(), "panic serving request") || !strings.Contains(logs.String(), "upstream exploded") {
		t.Fatalf("the panic was not logged:\n%s", logs.String())
	}

	var files bytes.Buffer
	for _, name := range []string{sqlite.FileName, sqlite.FileName + "-wal"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err == nil {
			files.Write(b)
		}
	}
	secrets := map[string]string{
		"API key":             key,
		"API key secret part": key[len("mcpg_")+apikey.IDLen+1:],
		"bearer token":        panicJWT,
		"token signature":     panicJWT[strings.LastIndexByte(panicJWT, '.')+1:],
		"client secret":       panicClientSecret,
	}
	for what, out := range map[string]string{"log": logs.String(), "response": answers.String(), "audit table": audit.String(), "SQLite files": files.String()} {
		for name, s := range secrets {
			if strings.Contains(out, s) {
				t.Errorf("the %s holds the %s", what, name)
			}
		}
	}
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
