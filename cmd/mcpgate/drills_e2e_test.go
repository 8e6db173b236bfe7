package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/apikey"
	"github.com/mcpgate/mcpgate/sqlite"
)

// The fault drills break what a replica depends on, each on services the
// test owns (a TCP proxy in front of Postgres, a redis-server of its own,
// the replica process itself), and check that mcpgate degrades as
// documented and recovers without a restart. Every loop is bounded in
// count and time, and everything talks to 127.0.0.1 only.

// cutProxy forwards TCP connections to a target until it is cut: then it
// drops every connection it carries and closes new ones at once, as a
// network partition or a database failover does, until it is healed.
type cutProxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	cut   bool
	conns map[net.Conn]struct{}
}

func startCutProxy(t *testing.T, target string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	go p.serve()
	t.Cleanup(func() {
		ln.Close()
		p.setCut(true)
	})
	return p
}

func (p *cutProxy) addr() string { return p.ln.Addr().String() }

func (p *cutProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.forward(c)
	}
}

func (p *cutProxy) forward(c net.Conn) {
	if !p.track(c) {
		c.Close()
		return
	}
	up, err := net.DialTimeout("tcp", p.target, 2*time.Second)
	if err != nil || !p.track(up) {
		c.Close()
		if up != nil {
			up.Close()
		}
		return
	}
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		done <- struct{}{}
	}
	go pipe(up, c)
	go pipe(c, up)
	<-done
	c.Close()
	up.Close()
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, up)
	p.mu.Unlock()
}

// track records c, reporting false when the proxy is cut.
func (p *cutProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cut {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *cutProxy) setCut(cut bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = cut
	if cut {
		for c := range p.conns {
			c.Close()
		}
		clear(p.conns)
	}
}

// readyz returns the status of the replica's /readyz, or 0 when the admin
// listener does not answer.
func readyz(r *replica) int {
	c := &http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(r.admin + "/readyz")
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestDrillPostgresCut cuts a replica off Postgres for a few seconds with a
// TCP proxy: keys it has verified keep working, a CLI write through the
// cut fails with a clear error, /readyz says unready; a revocation written
// meanwhile through another connection is applied once the cut heals,
// without a restart.
func TestDrillPostgresCut(t *testing.T) {
	direct := ownSchema(t)
	u, err := url.Parse(direct)
	if err != nil {
		t.Fatal(err)
	}
	proxy := startCutProxy(t, u.Host)
	u.Host = proxy.addr()
	cutURL := u.String()

	data := filepath.Join(t.TempDir(), "unused")
	cached, _ := createKey(t, data, "--store", direct, "--name", "cached")
	doomed, doomedID := createKey(t, data, "--store", direct, "--name", "doomed")
	r := startReplica(t, "--store", cutURL, "--encryption-key", newKeyFile(t), "--admin-listen", "127.0.0.1:0")
	for _, k := range []string{cached, doomed} {
		if code := pingStatus(t, r.mcp, k); code != http.StatusOK {
			t.Fatalf("before the cut: %d", code)
		}
	}
	if code := readyz(r); code != http.StatusOK {
		t.Fatalf("/readyz before the cut: %d", code)
	}

	proxy.setCut(true)
	cutAt := time.Now()
	eventually(t, 10*time.Second, func() error {
		if code := readyz(r); code != http.StatusServiceUnavailable {
			return fmt.Errorf("/readyz during the cut: %d, want 503", code)
		}
		return nil
	})
	// A write through the cut fails, clearly and in bounded time.
	start := time.Now()
	res := mcpgateCLI(t, data, "keys", "create", "--store", cutURL, "--name", "during-cut")
	if res.code == 0 || keyRe.MatchString(res.stdout) {
		t.Errorf("keys create through the cut: exit %d, printed %q", res.code, res.stdout)
	}
	if !strings.Contains(res.stderr, "postgres") || strings.Contains(res.stderr, "goroutine ") {
		t.Errorf("keys create through the cut: unclear error:\n%s", res.stderr)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("keys create through the cut took %v", d)
	}
	t.Logf("keys create during the cut: exit %d after %v: %s", res.code, time.Since(start).Round(time.Millisecond), strings.TrimSpace(res.stderr))

	// The revocation reaches the store through a connection that is not
	// cut, as the CLI on another host would write it.
	store := openStore(t, direct)
	if err := store.RevokeKey(context.Background(), doomedID, time.Now()); err != nil {
		t.Fatal(err)
	}
	// Verified keys keep working for the whole cut; the replica cannot
	// learn of the revocation yet.
	for time.Since(cutAt) < 3*time.Second {
		if code := pingStatus(t, r.mcp, cached); code != http.StatusOK {
			t.Fatalf("a verified key during the cut: %d, want 200", code)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if code := pingStatus(t, r.mcp, doomed); code != http.StatusOK {
		t.Logf("the revoked key was refused during the cut (%d): the proxy let something through", code)
	}

	proxy.setCut(false)
	healed := time.Now()
	// The feed retries with a delay that has grown to at most 5s.
	eventually(t, 10*time.Second, func() error {
		if code := pingStatus(t, r.mcp, doomed); code != http.StatusUnauthorized {
			return fmt.Errorf("key revoked during the cut, after healing: %d, want 401", code)
		}
		return nil
	})
	t.Logf("revocation made during the cut applied %v after healing", time.Since(healed).Round(time.Millisecond))
	eventually(t, 10*time.Second, func() error {
		if code := readyz(r); code != http.StatusOK {
			return fmt.Errorf("/readyz after healing: %d", code)
		}
		return nil
	})
	if code := pingStatus(t, r.mcp, cached); code != http.StatusOK {
		t.Errorf("the cached key after healing: %d", code)
	}
	// Reads and writes through the healed path work again: a key created
	// now is verified by the same process.
	fresh, _ := createKey(t, data, "--store", cutURL, "--name", "after-cut")
	if code := pingStatus(t, r.mcp, fresh); code != http.StatusOK {
		t.Errorf("a key created after healing: %d", code)
	}
	select {
	case err := <-r.exited:
		t.Fatalf("the replica exited: %v", err)
	default:
	}
}

// traffic sends pings with key to u from several clients until stopped,
// recording every answer and error with the phase it was sent and
// answered in, or as spanning phases.
type traffic struct {
	phase atomic.Int32
	mu    sync.Mutex
	codes map[int32]map[int]int
	errs  []error
	slow  time.Duration // the longest request
	stop  chan struct{}
	once  sync.Once
	wg    sync.WaitGroup
}

// spanning is the phase of a request sent in one phase and answered in a
// later one.
const spanning = -1

func startTraffic(u, key string, clients int) *traffic {
	tr := &traffic{codes: map[int32]map[int]int{}, stop: make(chan struct{})}
	hc := &http.Client{Timeout: 10 * time.Second}
	for range clients {
		tr.wg.Go(func() {
			for {
				select {
				case <-tr.stop:
					return
				default:
				}
				phase := tr.phase.Load()
				req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(pingBody))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Accept", "application/json, text/event-stream")
				req.Header.Set("Authorization", "Bearer "+key)
				start := time.Now()
				resp, err := hc.Do(req)
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				took := time.Since(start)
				if tr.phase.Load() != phase {
					phase = spanning // answered in a later phase than it was sent in
				}
				tr.mu.Lock()
				tr.slow = max(tr.slow, took)
				if err != nil {
					tr.errs = append(tr.errs, err)
				} else {
					if tr.codes[phase] == nil {
						tr.codes[phase] = map[int]int{}
					}
					tr.codes[phase][resp.StatusCode]++
				}
				tr.mu.Unlock()
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
	return tr
}

func (tr *traffic) end() {
	tr.once.Do(func() { close(tr.stop) })
	tr.wg.Wait()
}

func (tr *traffic) seen(phase int32) map[int]int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	out := map[int]int{}
	for k, v := range tr.codes[phase] {
		out[k] = v
	}
	return out
}

// TestDrillRedisRestart kills the replica's Redis (a redis-server of the
// test's own) while clients send requests, and starts it again: during
// the outage requests follow --redis-failure (local: served under this
// process's limits; deny: 503), afterwards they are served again, and no
// request hangs or fails at the HTTP level, nor does the process panic.
func TestDrillRedisRestart(t *testing.T) {
	for _, policy := range []string{"local", "deny"} {
		t.Run(policy, func(t *testing.T) {
			rs := startOwnRedis(t)
			data := t.TempDir()
			key, _ := createKey(t, data, "--name", "traffic")
			srv := startServer(t, data, "--rate-limit", "100000/1m", "--redis", rs.url(), "--redis-failure", policy)
			tr := startTraffic(srv.url, key, 4)
			defer tr.end()

			time.Sleep(500 * time.Millisecond)
			tr.phase.Store(1) // outage
			rs.stop()
			outageCode := http.StatusOK
			if policy == "deny" {
				outageCode = http.StatusServiceUnavailable
			}
			eventually(t, 10*time.Second, func() error {
				if tr.seen(1)[outageCode] < 20 {
					return fmt.Errorf("during the outage: %v, want many %d", tr.seen(1), outageCode)
				}
				return nil
			})
			tr.phase.Store(2) // restarted, until the first request is served
			rs.start()
			eventually(t, 15*time.Second, func() error {
				if tr.seen(2)[http.StatusOK] == 0 {
					return fmt.Errorf("after the restart: %v", tr.seen(2))
				}
				return nil
			})
			tr.phase.Store(3) // recovered
			time.Sleep(time.Second)
			tr.end()

			allowed := map[string][]int{"before": {200}, "outage": {outageCode}, "restart": {200, outageCode}, "recovered": {200}, "spanning": {200, outageCode}}
			for phase, codes := range map[string]map[int]int{"before": tr.seen(0), "outage": tr.seen(1), "restart": tr.seen(2), "recovered": tr.seen(3), "spanning": tr.seen(spanning)} {
				for code := range codes {
					if !slices.Contains(allowed[phase], code) {
						t.Errorf("%s: status %d (%v), want only %v", phase, code, codes, allowed[phase])
					}
				}
			}
			if tr.seen(3)[http.StatusOK] < 20 {
				t.Errorf("recovered: %v, want a second of 200s", tr.seen(3))
			}
			if len(tr.errs) > 0 {
				t.Errorf("%d requests failed without an answer, first: %v", len(tr.errs), tr.errs[0])
			}
			if tr.slow > 3*time.Second {
				t.Errorf("the slowest request took %v", tr.slow)
			}
			t.Logf("%s: before %v, outage %v, restarting %v, recovered %v; slowest request %v",
				policy, tr.seen(0), tr.seen(1), tr.seen(2), tr.seen(3), tr.slow.Round(time.Millisecond))
			if strings.Contains(srv.logs.String(), "panic") {
				t.Error("the log mentions a panic")
			}
			select {
			case err := <-srv.exited:
				t.Fatalf("the server exited: %v", err)
			default:
			}
		})
	}
}

// TestDrillSigtermUnderLoad sends SIGTERM, with --shutdown-delay, while
// clients keep calling a slow upstream through the replica and, as a load
// balancer does, stop sending new requests once /readyz says unready:
// /readyz answers 503 at once, while requests are in flight and while the
// replica still accepts and serves requests, before either listener
// closes; every request sent gets its complete answer, none is refused or
// reset; the process exits 0.
func TestDrillSigtermUnderLoad(t *testing.T) {
	const delay = 300 * time.Millisecond
	var started, finished atomic.Int32
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var msg struct {
			ID     json.RawMessage `json:"id"`
			Method string          `json:"method"`
		}
		_ = json.Unmarshal(body, &msg)
		if msg.Method != "tools/call" {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"jsonrpc":"2.0","id":%s,"result":{}}`, msg.ID)
			return
		}
		started.Add(1)
		time.Sleep(delay)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"jsonrpc":"2.0","id":%s,"result":{"content":[{"type":"text","text":"finished %s"}]}}`, msg.ID, msg.ID)
		finished.Add(1)
	}))
	defer upstream.Close()
	data := filepath.Join(t.TempDir(), "data")
	key, _ := createKey(t, data, "--name", "load")
	r := startReplica(t, "--data", data, "--upstream", upstream.URL+"/mcp", "--admin-listen", "127.0.0.1:0", "--shutdown-delay", "1s")
	call := func(hc *http.Client, id int) (*http.Response, []byte, error) {
		body := fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"slow","arguments":{}}}`, id)
		req, _ := http.NewRequest(http.MethodPost, r.mcp, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := hc.Do(req)
		var b []byte
		if err == nil {
			b, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		return resp, b, err
	}
	// A connection per request: one that the server closes while idle
	// would say nothing about requests in flight.
	newClient := func() *http.Client {
		return &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	}
	var ready atomic.Bool // the balancer's view of /readyz
	ready.Store(true)

	var (
		mu                    sync.Mutex
		complete, notAccepted int
		lost                  []string
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for c := range 8 {
		wg.Go(func() {
			hc := newClient()
			for i := 0; ready.Load(); i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := c*100000 + i
				resp, b, err := call(hc, id)
				mu.Lock()
				switch {
				case err != nil && errors.Is(err, syscall.ECONNREFUSED):
					notAccepted++
				case err != nil:
					lost = append(lost, err.Error())
				case resp.StatusCode != http.StatusOK || !bytes.Contains(b, fmt.Appendf(nil, "finished %d", id)):
					lost = append(lost, fmt.Sprintf("%d %s", resp.StatusCode, b))
				default:
					complete++
				}
				mu.Unlock()
				if err != nil {
					return // the listener is gone
				}
			}
		})
	}
	time.Sleep(time.Second)
	if err := r.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	signalled := time.Now()
	// Watch /readyz until the admin listener closes.
	var unreadyAt, closedAt time.Duration
	var inFlightWhenUnready int32
	probe := make(chan error, 1)
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		code := readyz(r)
		if code != http.StatusOK && unreadyAt == 0 {
			unreadyAt = time.Since(signalled)
			inFlightWhenUnready = started.Load() - finished.Load()
			ready.Store(false)
			// Unready, but still serving: a request a balancer sent just
			// before it noticed is answered in full.
			go func() {
				resp, b, err := call(newClient(), 999999)
				if err == nil && (resp.StatusCode != http.StatusOK || !bytes.Contains(b, []byte("finished 999999"))) {
					err = fmt.Errorf("%d %s", resp.StatusCode, b)
				}
				probe <- err
			}()
		}
		if code == 0 {
			closedAt = time.Since(signalled)
			break
		}
	}
	close(stop)
	wg.Wait()
	select {
	case err := <-r.exited:
		if err != nil {
			t.Errorf("exit after SIGTERM: %v\n%s", err, r.logs.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the replica did not exit after SIGTERM")
	}

	t.Logf("SIGTERM under load: %d complete answers, %d refused at connect, %d lost; /readyz 503 after %v with %d in flight, admin closed after %v",
		complete, notAccepted, len(lost), unreadyAt, inFlightWhenUnready, closedAt)
	if len(lost) > 0 || notAccepted > 0 {
		t.Errorf("%d requests lost and %d refused across shutdown, e.g. %v", len(lost), notAccepted, lost)
	}
	select {
	case err := <-probe:
		if err != nil {
			t.Errorf("a request sent once /readyz said unready: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Error("no answer to the request sent once /readyz said unready")
	}
	if complete == 0 || int(finished.Load()) != complete+1 {
		t.Errorf("%d complete answers (and the probe), but the upstream finished %d calls", complete, finished.Load())
	}
	if unreadyAt == 0 || closedAt == 0 || unreadyAt > closedAt {
		t.Errorf("/readyz: 503 after %v, admin listener closed after %v; want 503 first", unreadyAt, closedAt)
	}
	if inFlightWhenUnready == 0 {
		t.Error("/readyz turned unready only once no request was in flight")
	}
}

// TestDrillKill9KeysCreate kills `keys create` with SIGKILL at random
// moments, a bounded number of times: every key row in the store is
// complete and, where the command printed the key, usable; a key never
// half exists.
func TestDrillKill9KeysCreate(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			data := filepath.Join(t.TempDir(), "data")
			var storeArgs []string
			if backend == "postgres" {
				storeArgs = []string{"--store", ownSchema(t)}
			}
			migrate(t, data, storeArgs...)
			// How long one takes, to kill within that span.
			start := time.Now()
			if res := mcpgateCLI(t, data, append([]string{"keys", "create", "--name", "timing"}, storeArgs...)...); res.code != 0 {
				t.Fatalf("keys create: exit %d: %s", res.code, res.stderr)
			}
			span := time.Since(start)

			var printed []string
			killedBefore, deadline := 0, time.Now().Add(60*time.Second)
			for i := 0; i < 20 && time.Now().Before(deadline); i++ {
				cmd := exec.Command(binPath, append([]string{"--data", data, "keys", "create", "--name", fmt.Sprintf("kill-%d", i)}, storeArgs...)...)
				cmd.Env = cleanEnv()
				var out bytes.Buffer
				cmd.Stdout = &out
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				time.Sleep(time.Duration(rand.Int64N(int64(span))))
				_ = cmd.Process.Kill()
				err := cmd.Wait()
				if k := keyRe.FindString(out.String()); k != "" {
					printed = append(printed, k)
				}
				var ee *exec.ExitError
				if errors.As(err, &ee) && !ee.Exited() {
					killedBefore++
				}
			}
			if killedBefore == 0 {
				t.Fatal("no keys create was killed before it finished")
			}

			var keys []*mcpgate.APIKey
			if backend == "postgres" {
				var err error
				if keys, err = openStore(t, storeArgs[1]).ListKeys(context.Background()); err != nil {
					t.Fatal(err)
				}
			} else {
				db, err := sqlite.Open(context.Background(), data)
				if err != nil {
					t.Fatalf("the store after kill -9: %v", err)
				}
				var check string
				if err := db.SQL().QueryRow("PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
					t.Errorf("integrity_check: %q %v", check, err)
				}
				if keys, err = db.ListKeys(context.Background()); err != nil {
					t.Fatal(err)
				}
				db.Close()
			}
			for _, k := range keys {
				if len(k.ID) != 12 || len(k.Hash) != 32 || !strings.HasPrefix(k.Name, "kill-") && k.Name != "timing" || k.CreatedAt.IsZero() {
					t.Errorf("incomplete key row: %+v", k)
				}
			}
			if len(keys) < len(printed)+1 {
				t.Errorf("%d key rows, but %d keys were printed", len(keys), len(printed)+1)
			}
			t.Logf("%s: %d runs killed before exiting, %d key rows, %d keys printed (kill within %v)",
				backend, killedBefore, len(keys), len(printed), span.Round(time.Millisecond))

			if res := mcpgateCLI(t, data, append([]string{"keys", "list", "--json"}, storeArgs...)...); res.code != 0 {
				t.Fatalf("keys list after the kills: exit %d: %s", res.code, res.stderr)
			}
			args := storeArgs
			if backend == "postgres" {
				args = append(args, "--encryption-key", newKeyFile(t))
			}
			srv := startServer(t, data, args...)
			for _, k := range printed {
				if code := pingStatus(t, srv.url, k); code != http.StatusOK {
					t.Errorf("a key keys create printed before being killed: %d", code)
				}
			}
			// Every stored key is whole: the server verifies against the
			// stored hash, so a key row with a truncated hash would refuse
			// its key; rebuild one key from a row's id to be sure the
			// server reads each row without error.
			for _, k := range keys {
				probe := apikey.Format(k.ID, strings.Repeat("A", apikey.SecretLen))
				if code := pingStatus(t, srv.url, probe); code != http.StatusUnauthorized {
					t.Errorf("a made-up secret for stored key %s: %d, want 401", k.ID, code)
				}
			}
		})
	}
}
