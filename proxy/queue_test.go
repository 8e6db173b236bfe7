package proxy

import (
	"context"
	"encoding/json"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// stuckConn is a client connection whose client never reads: Write blocks
// until the connection is closed.
type stuckConn struct {
	closed chan struct{}
	writes atomic.Int32
}

func (c *stuckConn) Read(ctx context.Context) (jsonrpc.Message, error) {
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-c.closed:
		return nil, os.ErrClosed
	}
}

func (c *stuckConn) Write(ctx context.Context, _ jsonrpc.Message) error {
	c.writes.Add(1)
	<-c.closed
	return os.ErrClosed
}

func (c *stuckConn) Close() error {
	select {
	case <-c.closed:
	default:
		close(c.closed)
	}
	return nil
}

func (c *stuckConn) SessionID() string { return "" }

// A session whose client reads nothing ends when its queue is full; until
// then, writing to it never waits.
func TestBridgeSessionQueueOverflowEndsSession(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		n     int
		bytes int
	}{
		{"too many messages", maxQueuedMessages + 2, 10}, // one is with the client
		{"too many bytes", 3, maxQueuedBytes / 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := NewStdio(Command{Path: exe}, &StdioOptions{Mode: ModeShared})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			ctx, cancel := context.WithCancel(context.Background())
			conn := &stuckConn{closed: make(chan struct{})}
			bs := &bridgeSession{id: "x", conn: conn, stdio: s, ctx: ctx, cancel: cancel, child: newChild(s, true, s.spec), outWake: make(chan struct{}, 1)}
			s.sessions[bs.id] = bs
			go bs.writeLoop()
			result := json.RawMessage(`"` + string(make([]byte, tc.bytes)) + `"`)
			start := time.Now()
			for range tc.n {
				bs.write(&jsonrpc.Response{Result: result})
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("writing to a stuck client took %v", d)
			}
			deadline := time.Now().Add(5 * time.Second)
			for s.Sessions() > 0 && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if s.Sessions() != 0 {
				t.Error("session of a client that reads nothing still open after its queue overflowed")
			}
			// The writer may or may not have taken the first message
			// before the overflow ended the session; never more than it.
			if got := conn.writes.Load(); got > 1 {
				t.Errorf("%d writes reached the client, want at most 1 (the one it is stuck on)", got)
			}
		})
	}
}

// A session whose client reads keeps every message, in order.
func TestBridgeSessionQueueKeepsOrder(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewStdio(Command{Path: exe}, &StdioOptions{Mode: ModeShared})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan int64, 3*maxQueuedMessages)
	conn := &recordConn{got: got}
	bs := &bridgeSession{id: "y", conn: conn, stdio: s, ctx: ctx, cancel: cancel, child: newChild(s, true, s.spec), outWake: make(chan struct{}, 1)}
	go bs.writeLoop()
	const n = 3 * maxQueuedMessages
	for i := range int64(n) {
		bs.write(&jsonrpc.Response{ID: jsonrpc2ID(i), Result: json.RawMessage("1")})
		if i%100 == 0 {
			time.Sleep(time.Millisecond) // let the writer keep up, as a reading client does
		}
	}
	for i := range int64(n) {
		select {
		case id := <-got:
			if id != i {
				t.Fatalf("message %d arrived as number %d", id, i)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("only %d of %d messages arrived", i, n)
		}
	}
}

type recordConn struct {
	stuckConn
	got chan int64
}

func (c *recordConn) Write(_ context.Context, msg jsonrpc.Message) error {
	n, _ := msg.(*jsonrpc.Response).ID.Raw().(int64)
	c.got <- n
	return nil
}
