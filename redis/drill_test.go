package redis_test

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/inmem"
	"github.com/mcpgate/mcpgate/redis"
)

// redisServer is a redis-server of the test's own, on a free port of
// 127.0.0.1, without persistence, that the test may stop and restart.
type redisServer struct {
	t    *testing.T
	port int
	dir  string
	cmd  *exec.Cmd
}

func startRedisServer(t *testing.T) *redisServer {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("MCPGATE_SKIP_SERVICES") == "1" {
			t.Skipf("redis-server is not installed (MCPGATE_SKIP_SERVICES=1): %v", err)
		}
		t.Fatalf("redis-server is not installed: %v (set MCPGATE_SKIP_SERVICES=1 to skip)", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	s := &redisServer{t: t, port: port, dir: t.TempDir()}
	s.start()
	t.Cleanup(s.stop)
	return s
}

func (s *redisServer) addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

func (s *redisServer) start() {
	s.t.Helper()
	s.cmd = exec.Command("redis-server", "--port", strconv.Itoa(s.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", s.dir)
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	c := goredis.NewClient(&goredis.Options{Addr: s.addr(), MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(5 * time.Second)
	for c.Ping(s.t.Context()).Err() != nil {
		if time.Now().After(deadline) {
			s.t.Fatalf("redis-server on %s did not answer within 5s", s.addr())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (s *redisServer) stop() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	s.cmd.Wait()
	s.cmd = nil
}

// replica is what one gateway process would build: a Redis limiter on a
// client with short timeouts, behind a Fallback with an in-process limiter.
func replica(t *testing.T, addr string, policy redis.FailurePolicy, tr *transitions) *redis.Fallback {
	l, err := redis.Dial("redis://"+addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return redis.NewFallback(l, inmem.New(nil), &redis.FallbackOptions{
		Policy:        policy,
		ProbeInterval: 50 * time.Millisecond,
		OnTransition:  tr.record,
		Logger:        slog.New(slog.DiscardHandler),
	})
}

// TestDrillRedisStopsAndRestarts stops Redis under two replicas: the
// failure policy holds while it is down, and once it is back on the same
// address limits are shared again, with no restart of the replicas.
func TestDrillRedisStopsAndRestarts(t *testing.T) {
	for _, policy := range []redis.FailurePolicy{redis.FailLocal, redis.FailDeny} {
		t.Run(string(policy), func(t *testing.T) {
			srv := startRedisServer(t)
			var trA, trB transitions
			a, b := replica(t, srv.addr(), policy, &trA), replica(t, srv.addr(), policy, &trB)
			ctx := t.Context()

			assertShared := func(key string) {
				t.Helper()
				if d, err := a.Allow(ctx, key, fivePerMinute, 5); err != nil || !d.Allowed {
					t.Fatalf("whole burst of %s on replica A: %+v, %v", key, d, err)
				}
				if d, err := b.Allow(ctx, key, fivePerMinute, 1); err != nil || d.Allowed {
					t.Fatalf("%s on replica B after A spent the burst: %+v, %v; want refused (shared)", key, d, err)
				}
			}
			assertShared("alice")

			srv.stop()
			for i := range 10 {
				d, err := a.Allow(ctx, "bob", fivePerMinute, 1)
				switch policy {
				case redis.FailLocal:
					if err != nil || d.Allowed != (i < 5) {
						t.Fatalf("request %d of bob on A with Redis stopped: %+v, %v; want the local limiter's decision", i, d, err)
					}
				case redis.FailDeny:
					if !errors.Is(err, mcpgate.ErrLimiterUnavailable) || d.Allowed {
						t.Fatalf("request %d of bob on A with Redis stopped: %+v, %v; want ErrLimiterUnavailable", i, d, err)
					}
				}
			}
			if _, err := b.Allow(ctx, "bob", fivePerMinute, 1); (err != nil) != (policy == redis.FailDeny) {
				t.Fatalf("bob on B with Redis stopped: %v", err)
			}
			for name, tr := range map[string]*transitions{"A": &trA, "B": &trB} {
				if got := fmt.Sprint(tr.get()); got != "[false]" {
					t.Fatalf("transitions of %s with Redis stopped = %s, want [false]", name, got)
				}
			}

			srv.start() // same port, empty, without the script loaded
			waitHealthy(t, a)
			waitHealthy(t, b)
			assertShared("carol")
			for name, tr := range map[string]*transitions{"A": &trA, "B": &trB} {
				if got := fmt.Sprint(tr.get()); got != "[false true]" {
					t.Errorf("transitions of %s = %s, want [false true]", name, got)
				}
			}
		})
	}
}
