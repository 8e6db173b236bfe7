package main

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

const pingBody = `{"jsonrpc":"2.0","id":1,"method":"ping"}`

// status posts a ping with key and returns the HTTP status: the rate-limit
// stage answers before the server behind, so anything but 429 (and 401,
// 503) means the request was let through.
func status(t *testing.T, url, key string) int {
	t.Helper()
	resp, _, err := doRPC(url, key, pingBody)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode
}

// sharedRedis returns the URL of a database of the machine's Redis of this
// test's own, emptied.
func sharedRedis(t *testing.T, db int) string {
	t.Helper()
	u := "redis://127.0.0.1:6379/" + strconv.Itoa(db)
	opt, _ := goredis.ParseURL(u)
	c := goredis.NewClient(opt)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.FlushDB(ctx).Err(); err != nil {
		if os.Getenv("MCPGATE_SKIP_SERVICES") == "1" {
			t.Skipf("Redis on 127.0.0.1:6379: %v (MCPGATE_SKIP_SERVICES=1)", err)
		}
		t.Fatalf("Redis on 127.0.0.1:6379: %v (set MCPGATE_SKIP_SERVICES=1 to skip)", err)
	}
	return u
}

// Two replicas on one Redis enforce one limit: together they admit no more
// than the burst plus what the rate refills while the test runs.
func TestRateLimitSharedAcrossReplicas(t *testing.T) {
	redisURL := sharedRedis(t, 12)
	data := t.TempDir()
	key, _ := createKey(t, data, "--name", "shared")
	args := []string{"--rate-limit", "20/1m", "--redis", redisURL}
	a := startServer(t, data, args...)
	b := startServer(t, data, args...)
	start := time.Now()
	admitted := 0
	for i := range 60 {
		url := a.url
		if i%2 == 1 {
			url = b.url
		}
		switch code := status(t, url, key); code {
		case http.StatusTooManyRequests:
		case http.StatusUnauthorized, http.StatusServiceUnavailable:
			t.Fatalf("request %d: %d", i, code)
		default:
			admitted++
		}
	}
	refill := int(time.Since(start).Seconds()/3) + 1 // 20 a minute: one per 3 s
	if admitted < 20 || admitted > 20+refill {
		t.Errorf("two replicas admitted %d of 60, want 20 (+%d refilled): the limit is not shared", admitted, refill)
	}
}

// Limits follow the credential, not the address: eighteen people behind
// one NAT each get their own limit.
func TestRateLimitPerPrincipalNotPerAddress(t *testing.T) {
	data := t.TempDir()
	keys := make([]string, 18)
	for i := range keys {
		keys[i], _ = createKey(t, data, "--name", "person"+strconv.Itoa(i), "--subject", "person"+strconv.Itoa(i))
	}
	srv := startServer(t, data, "--rate-limit", "5/1m")
	for _, k := range keys {
		for j := range 5 {
			if code := status(t, srv.url, k); code == http.StatusTooManyRequests {
				t.Fatalf("request %d of a key within its limit got 429: keys from one address share a limit", j+1)
			}
		}
	}
	resp, _, err := doRPC(srv.url, keys[0], pingBody)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("a key over its limit: %d, want 429", resp.StatusCode)
	}
	if resp.Header.Get("Retry-After") == "" || !strings.HasPrefix(resp.Header.Get("RateLimit"), `"default";r=0;`) ||
		resp.Header.Get("RateLimit-Policy") != `"default";q=5;w=60` {
		t.Errorf("429 headers: %v", resp.Header)
	}
}

// A flood of bad credentials from one address gets 429, while a valid key
// from the same address keeps working.
func TestAuthFailureFloodIsLimitedPerAddress(t *testing.T) {
	data := t.TempDir()
	good, _ := createKey(t, data, "--name", "good")
	srv := startServer(t, data, "--auth-failure-limit", "10/1m")
	bad := good[:len(good)-6] + "AAAAAA" // a key that parses but is not good
	var codes []int
	for range 15 {
		codes = append(codes, status(t, srv.url, bad))
	}
	for i, c := range codes {
		want := http.StatusUnauthorized
		if i >= 10 {
			want = http.StatusTooManyRequests
		}
		if c != want {
			t.Fatalf("bad key, request %d: %d, want %d (all: %v)", i+1, c, want, codes)
		}
	}
	for range 5 {
		if code := status(t, srv.url, good); code == http.StatusTooManyRequests || code == http.StatusUnauthorized {
			t.Fatalf("a good key from the flooding address: %d", code)
		}
	}
	logged(t, srv, "alert=auth_failures")
}

// ownRedis is a redis-server of the test's own, which it stops and
// restarts; the machine's shared one is never touched.
type ownRedis struct {
	t    *testing.T
	port int
	dir  string
	cmd  *exec.Cmd
}

func startOwnRedis(t *testing.T) *ownRedis {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("MCPGATE_SKIP_SERVICES") == "1" {
			t.Skip("redis-server is not installed (MCPGATE_SKIP_SERVICES=1)")
		}
		t.Fatalf("redis-server is not installed: %v (set MCPGATE_SKIP_SERVICES=1 to skip)", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &ownRedis{t: t, port: ln.Addr().(*net.TCPAddr).Port, dir: t.TempDir()}
	ln.Close()
	r.start()
	t.Cleanup(r.stop)
	return r
}

func (r *ownRedis) url() string { return "redis://127.0.0.1:" + strconv.Itoa(r.port) + "/0" }

func (r *ownRedis) start() {
	r.t.Helper()
	r.cmd = exec.Command("redis-server", "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", r.dir)
	if err := r.cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	eventually(r.t, 5*time.Second, func() error {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(r.port), 200*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err
	})
}

func (r *ownRedis) stop() {
	if r.cmd != nil && r.cmd.Process != nil {
		_ = r.cmd.Process.Kill()
		_ = r.cmd.Wait()
		r.cmd = nil
	}
}

// Redis stopped mid-run: the configured policy holds (local limits in
// process; deny refuses with 503); restarted: shared limiting resumes
// without restarting mcpgate.
func TestRateLimitRedisFailover(t *testing.T) {
	for _, policy := range []string{"local", "deny"} {
		t.Run(policy, func(t *testing.T) {
			rs := startOwnRedis(t)
			data := t.TempDir()
			key, _ := createKey(t, data, "--name", "drill")
			srv := startServer(t, data, "--rate-limit", "1000/1m", "--redis", rs.url(), "--redis-failure", policy)
			if code := status(t, srv.url, key); code == 429 || code == 503 {
				t.Fatalf("before the drill: %d", code)
			}
			rs.stop()
			want := func(code int) bool { return code != 429 && code != 503 }
			if policy == "deny" {
				want = func(code int) bool { return code == 503 }
			}
			eventually(t, 10*time.Second, func() error {
				if code := status(t, srv.url, key); !want(code) {
					return errStatus(code)
				}
				return nil
			})
			rs.start()
			eventually(t, 15*time.Second, func() error {
				if code := status(t, srv.url, key); code == 429 || code == 503 {
					return errStatus(code)
				}
				return nil
			})
			logged(t, srv, "alert=redis_failover")
		})
	}
}

// logged waits for s to log text; log lines go out in batches.
func logged(t *testing.T, s *server, text string) {
	t.Helper()
	eventually(t, 5*time.Second, func() error {
		if !strings.Contains(s.logs.String(), text) {
			return errors.New("not logged: " + text)
		}
		return nil
	})
}

type errStatus int

func (e errStatus) Error() string { return "status " + strconv.Itoa(int(e)) }
