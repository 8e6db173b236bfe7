package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/apikey"
	"github.com/mcpgate/mcpgate/postgres"
)

// The replica tests run several `mcpgate serve` processes on one store, as
// a platform team runs them behind a load balancer, and a balancer of
// their own in front.

// openStore opens the Postgres store at storeURL from the test, as the CLI
// or another replica does.
func openStore(t *testing.T, storeURL string) *postgres.DB {
	t.Helper()
	db, err := postgres.Open(context.Background(), storeURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// replica is a running `mcpgate serve` whose public URL may be another
// address (a balancer's): mcp is its own MCP endpoint, admin its admin
// listener (with --admin-listen).
type replica struct {
	cmd    *exec.Cmd
	mcp    string // http://127.0.0.1:port/mcp on this process
	base   string // http://127.0.0.1:port
	admin  string // http://127.0.0.1:port of the admin listener, or ""
	logs   *syncBuffer
	exited chan error
}

var (
	listeningRe = regexp.MustCompile(`mcpgate serving MCP at \S+ \(listening on ([^)]+)\)`)
	adminRe     = regexp.MustCompile(`mcpgate admin \([^)]*\) on (\S+)`)
)

// startReplica starts `mcpgate serve` with args on a free port of
// 127.0.0.1 and waits until it serves (and its admin listener, if asked
// for, is up). It is stopped when the test ends.
func startReplica(t *testing.T, args ...string) *replica {
	t.Helper()
	data := filepath.Join(t.TempDir(), "data")
	cmd := exec.Command(binPath, append([]string{"--data", data, "--listen", "127.0.0.1:0", "serve"}, args...)...)
	cmd.Env = cleanEnv()
	r := &replica{cmd: cmd, logs: &syncBuffer{}, exited: make(chan error, 1)}
	cmd.Stderr = r.logs
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	wantAdmin := slices.Contains(args, "--admin-listen")
	up := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		signalled := false
		for sc.Scan() {
			if m := adminRe.FindStringSubmatch(sc.Text()); m != nil {
				r.admin = m[1]
			}
			if m := listeningRe.FindStringSubmatch(sc.Text()); m != nil {
				r.base = "http://" + m[1]
				r.mcp = r.base + "/mcp"
			}
			if !signalled && r.base != "" && (!wantAdmin || r.admin != "") {
				signalled = true
				close(up)
			}
		}
	}()
	go func() { r.exited <- cmd.Wait() }()
	select {
	case <-up:
	case err := <-r.exited:
		t.Fatalf("mcpgate serve exited early: %v\n%s", err, r.logs.String())
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("mcpgate serve did not start:\n%s", r.logs.String())
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-r.exited:
			case <-time.After(10 * time.Second):
				_ = cmd.Process.Kill()
			}
		}
		if t.Failed() {
			t.Logf("log of the replica on %s:\n%s", r.base, r.logs.String())
		}
	})
	return r
}

// balancer is a load balancer of the test's own in front of replicas:
// requests with an Mcp-Session-Id go to the replica that created that MCP
// session, every other request to the next replica in turn.
type balancer struct {
	proxies []*httputil.ReverseProxy

	mu       sync.Mutex
	next     int
	sessions map[string]int // Mcp-Session-Id → replica
	served   []servedBy
}

type servedBy struct {
	method, path, session string
	replica               int
}

func newBalancer(t *testing.T) (*balancer, *httptest.Server) {
	b := &balancer{sessions: map[string]int{}}
	srv := httptest.NewServer(b)
	t.Cleanup(srv.Close)
	return b, srv
}

// add puts a replica behind the balancer. The Host header is kept, as a
// load balancer keeps it, so the replica sees the public origin.
func (b *balancer) add(r *replica) {
	target, _ := url.Parse(r.base)
	b.mu.Lock()
	defer b.mu.Unlock()
	i := len(b.proxies)
	b.proxies = append(b.proxies, &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = pr.In.Host
		},
		FlushInterval: -1, // event streams pass at once
		ModifyResponse: func(resp *http.Response) error {
			if sid := resp.Header.Get("Mcp-Session-Id"); sid != "" {
				b.mu.Lock()
				b.sessions[sid] = i
				b.mu.Unlock()
			}
			return nil
		},
	})
}

func (b *balancer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b.mu.Lock()
	sid := r.Header.Get("Mcp-Session-Id")
	i, ok := b.sessions[sid]
	if sid == "" || !ok {
		i = b.next % len(b.proxies)
		b.next++
	}
	b.served = append(b.served, servedBy{r.Method, r.URL.Path, sid, i})
	p := b.proxies[i]
	b.mu.Unlock()
	p.ServeHTTP(w, r)
}

func (b *balancer) log() []servedBy {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.served)
}

// TestReplicas runs two `mcpgate serve` processes on one Postgres schema,
// and in a second variant on one Redis too, behind the test's balancer:
//
//   - a key created with the CLI works on both;
//   - a complete OAuth sign-in (register, authorize, sign in, consent,
//     code, token), whose browser requests alternate between the two,
//     succeeds: the sign-in session and the pending request live in the
//     store;
//   - the Go SDK MCP client with the token works through the balancer,
//     which routes by Mcp-Session-Id; the other replica does not know the
//     MCP session, which is why that routing is needed;
//   - 100 key revocations, each timed until both replicas refuse the key:
//     p50 and p99 are logged, and p99 must stay under a second.
func TestReplicas(t *testing.T) {
	for _, variant := range []string{"postgres", "postgres+redis"} {
		t.Run(variant, func(t *testing.T) {
			storeURL := ownSchema(t)
			data := filepath.Join(t.TempDir(), "unused")
			withStore := func(args ...string) []string { return append(args, "--store", storeURL) }
			migrate(t, data, withStore()...)
			addUser(t, data, "alice", alicePassword, withStore()...)

			bal, front := newBalancer(t)
			public := front.URL + "/mcp"
			// The revocation timing sends hundreds of refused keys from
			// one address, which the failed-authentication limit would
			// answer with 429 instead of 401.
			args := withStore("--public-url", public, "--encryption-key", newKeyFile(t), "--auth-failure-limit", "off")
			if variant == "postgres+redis" {
				args = append(args, "--redis", sharedRedis(t, 13), "--rate-limit", "10000/1m")
			}
			// One after the other: the first creates the signing key the
			// second loads.
			replicas := []*replica{startReplica(t, args...)}
			replicas = append(replicas, startReplica(t, args...))
			for _, r := range replicas {
				bal.add(r)
			}

			key, _ := createKey(t, data, withStore("--name", "ops", "--scope", "notes:read")...)
			for i, r := range replicas {
				if resp, body := rpc(t, r.mcp, key, initBody); resp.StatusCode != http.StatusOK {
					t.Fatalf("key created with the CLI, on replica %d: %d %s", i, resp.StatusCode, body)
				}
			}

			token := signInAlternating(t, bal, front.URL, public)
			mcpThroughBalancer(t, bal, replicas, public, token)
			timeRevocations(t, openStore(t, storeURL), replicas, 100)
		})
	}
}

// signInAlternating registers an app, and drives its authorization with a
// cookie-keeping browser through the balancer, which sends each request to
// the other replica; it returns the access token the code is exchanged for.
func signInAlternating(t *testing.T, bal *balancer, front, resource string) string {
	t.Helper()
	var meta struct {
		Authorization string `json:"authorization_endpoint"`
		Token         string `json:"token_endpoint"`
		Registration  string `json:"registration_endpoint"`
	}
	getJSON(t, front+"/.well-known/oauth-authorization-server", &meta)
	if meta.Registration == "" || meta.Token == "" || meta.Authorization == "" {
		t.Fatalf("authorization server metadata lacks endpoints: %+v", meta)
	}
	redirect := "http://127.0.0.1:47110/callback"
	var reg struct {
		ClientID string `json:"client_id"`
	}
	resp, err := http.Post(meta.Registration, "application/json", strings.NewReader(
		`{"client_name":"replica app","redirect_uris":["`+redirect+`"],"token_endpoint_auth_method":"none"}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err := json.Unmarshal(b, &reg); err != nil || resp.StatusCode != http.StatusCreated || reg.ClientID == "" {
		t.Fatalf("register: %d %s", resp.StatusCode, b)
	}

	verifier := rand.Text() + rand.Text()
	sum := sha256.Sum256([]byte(verifier))
	authURL := meta.Authorization + "?" + url.Values{
		"response_type":         {"code"},
		"client_id":             {reg.ClientID},
		"redirect_uri":          {redirect},
		"state":                 {"replica-state"},
		"scope":                 {"notes:read notes:write"},
		"resource":              {resource},
		"code_challenge":        {base64.RawURLEncoding.EncodeToString(sum[:])},
		"code_challenge_method": {"S256"},
	}.Encode()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	from := len(bal.log())
	cb, err := (&formBrowser{base: front, user: "alice", pw: alicePassword}).authorize(ctx, authURL)
	if err != nil {
		t.Fatalf("sign-in across replicas: %v", err)
	}
	if cb.Query().Get("code") == "" || cb.Query().Get("state") != "replica-state" {
		t.Fatalf("callback %s", cb)
	}
	// The browser's requests went to one replica, then the other, in turn:
	// the page that signed in and the next one were served by different
	// replicas.
	pages := bal.log()[from:]
	var trail []string
	for i, s := range pages {
		trail = append(trail, fmt.Sprintf("%s %s→%d", s.method, s.path, s.replica))
		if i > 0 && s.replica == pages[i-1].replica {
			t.Errorf("browser requests did not alternate: %v", trail)
		}
	}
	if len(pages) < 4 {
		t.Errorf("the sign-in took %d requests (%v), want authorize, login, sign-in, consent and more", len(pages), trail)
	}
	t.Logf("browser requests: %s", strings.Join(trail, ", "))

	form := url.Values{"grant_type": {"authorization_code"}, "code": {cb.Query().Get("code")}, "client_id": {reg.ClientID},
		"redirect_uri": {redirect}, "code_verifier": {verifier}, "resource": {resource}}
	resp, err = http.PostForm(meta.Token, form)
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	var tr struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(b, &tr); err != nil || resp.StatusCode != http.StatusOK || tr.AccessToken == "" {
		t.Fatalf("code exchange: %d %s", resp.StatusCode, b)
	}
	return tr.AccessToken
}

// mcpThroughBalancer connects the Go SDK client with token to the public
// URL, once speaking the 2025-11-25 revision, whose MCP sessions live in
// the replica that created them, and once the stateless 2026-07-28 one,
// and calls tools. Every request of a 2025 session reaches the replica
// that created it, and the other replica does not know the session; the
// stateless client's requests are spread over both.
func mcpThroughBalancer(t *testing.T, bal *balancer, replicas []*replica, public, token string) {
	t.Helper()
	for _, version := range []string{"2025-11-25", ""} {
		from := len(bal.log())
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		c := mcp.NewClient(&mcp.Implementation{Name: "replicas", Version: "1"}, nil)
		s, err := c.Connect(ctx, &mcp.StreamableClientTransport{
			Endpoint:   public,
			HTTPClient: &http.Client{Transport: bearer{token, http.DefaultTransport}},
			MaxRetries: -1,
		}, &mcp.ClientSessionOptions{ProtocolVersion: version})
		cancel()
		if err != nil {
			t.Fatalf("connect %q through the balancer: %v", version, err)
		}
		for i := range 4 {
			res := callTool(t, s, "notes_create", map[string]any{"title": fmt.Sprintf("note %s %d", version, i), "body": "across replicas"})
			if res.IsError {
				t.Fatalf("notes_create through the balancer: %s", toolText(res))
			}
		}
		if got := toolText(callTool(t, s, "notes_list", nil)); !strings.Contains(got, "note "+version+" 3") {
			t.Errorf("notes_list through the balancer (%q) lacks the last note: %s", version, got)
		}
		sid := s.ID()
		_ = s.Close()
		served := map[int]int{}
		for _, r := range bal.log()[from:] {
			if r.path == "/mcp" && (sid == "" || r.session == sid) {
				served[r.replica]++
			}
		}
		if version == "" {
			if sid != "" || len(served) != 2 {
				t.Errorf("stateless client: session %q, requests per replica %v; want no session and both replicas", sid, served)
			}
			continue
		}
		if sid == "" || len(served) != 1 {
			t.Fatalf("2025-11-25 client: session %q reached replicas %v, want exactly one", sid, served)
		}
		home := -1
		for i := range served {
			home = i
		}
		// Without routing by Mcp-Session-Id the client would fail: the
		// other replica does not know the session.
		req, _ := http.NewRequest(http.MethodPost, replicas[1-home].mcp, strings.NewReader(`{"jsonrpc":"2.0","id":9,"method":"tools/list"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Mcp-Session-Id", sid)
		req.Header.Set("Mcp-Protocol-Version", version)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("replica %d answered MCP session %s of replica %d with %d, want 404: %s", 1-home, sid, home, resp.StatusCode, b)
		}
	}
}

// timeRevocations creates n keys in store, has every replica use (and so
// cache) each, then revokes them one at a time through store, as the CLI
// does, timing each until every replica refuses it.
func timeRevocations(t *testing.T, store mcpgate.KeyStore, replicas []*replica, n int) {
	t.Helper()
	ctx := context.Background()
	keys, ids := make([]string, n), make([]string, n)
	for i := range n {
		key, id, hash, err := apikey.Generate()
		if err != nil {
			t.Fatal(err)
		}
		if err := store.CreateKey(ctx, &mcpgate.APIKey{ID: id, Name: "revocation", Subject: "ops", Hash: hash, CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
		for j, r := range replicas {
			if code := pingStatus(t, r.mcp, key); code != http.StatusOK {
				t.Fatalf("key %d on replica %d before revocation: %d", i, j, code)
			}
		}
		keys[i], ids[i] = key, id
	}
	took := make([]time.Duration, n)
	for i := range n {
		start := time.Now()
		if err := store.RevokeKey(ctx, ids[i], start); err != nil {
			t.Fatal(err)
		}
		refused := make([]bool, len(replicas))
		for slices.Contains(refused, false) {
			for j, r := range replicas {
				refused[j] = refused[j] || pingStatus(t, r.mcp, keys[i]) == http.StatusUnauthorized
			}
			if time.Since(start) > 5*time.Second {
				t.Fatalf("revocation %d: replicas refusing %v after 5s", i, refused)
			}
		}
		took[i] = time.Since(start)
	}
	slices.Sort(took)
	p50, p99 := took[n/2], took[(n*99+99)/100-1]
	t.Logf("%d revocations until both replicas refuse: p50 %v, p99 %v, max %v",
		n, p50.Round(time.Millisecond/10), p99.Round(time.Millisecond/10), took[n-1].Round(time.Millisecond/10))
	if p99 > time.Second {
		t.Errorf("revocation p99 %v, want at most 1s", p99)
	}
}

// pingStatus posts a ping with key and returns the status.
func pingStatus(t *testing.T, u, key string) int {
	t.Helper()
	resp, _, err := doRPC(u, key, pingBody)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode
}
