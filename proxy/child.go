package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/mcpgate/mcpgate/refusal"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// child runs one stdio MCP server process, restarts it when it exits, and
// carries messages between it and its sessions.
//
// Every call a session sends gets a fresh id from the child's own counter,
// so calls of different sessions cannot collide; the response is routed
// back by that id with the session's original id restored. A call in flight
// when the process exits is answered with a JSON-RPC error.
type child struct {
	stdio  *Stdio
	shared bool
	spec   Command // the program, with the caller's identity for a per-session child

	mu          sync.Mutex
	conn        mcp.Connection // nil while the process is down
	started     time.Time
	backoff     time.Duration
	nextID      int64
	pending     map[int64]pendingCall
	tokens      map[string]tokenRoute // shared mode: rewritten progress token → session
	sessions    []*bridgeSession
	lastActive  *bridgeSession
	initParams  json.RawMessage // the first initialize, replayed after a restart
	initResult  json.RawMessage // shared mode: answered to later sessions
	initWaiting []initWaiter    // shared mode: initialize calls waiting for the first one's answer
	initSent    bool            // shared mode: an initialize is with the process, unanswered
	initialized bool            // notifications/initialized was sent
	closed      bool
	restarting  bool
}

type pendingCall struct {
	session *bridgeSession // nil for the replayed initialize
	id      jsonrpc.ID     // the session's id
	method  string
	token   string // rewritten progress token, if any
}

// initWaiter is a session's initialize call, answered with the answer to
// the one initialize the shared process gets.
type initWaiter struct {
	session *bridgeSession
	id      jsonrpc.ID
}

type tokenRoute struct {
	session *bridgeSession
	token   json.RawMessage // the session's token
}

// Error messages sent to callers when the process is gone.
const (
	msgChildExited     = "upstream process exited"
	msgChildNotRunning = "upstream process unavailable"
)

func newChild(s *Stdio, shared bool, spec Command) *child {
	return &child{
		stdio:   s,
		shared:  shared,
		spec:    spec,
		backoff: s.opts.RestartBackoff,
		pending: make(map[int64]pendingCall),
		tokens:  make(map[string]tokenRoute),
	}
}

// attach adds a session, starting the process if it is not running.
func (c *child) attach(bs *bridgeSession) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return errors.New("proxy: child closed")
	}
	if c.conn == nil && !c.restarting {
		if err := c.startLocked(); err != nil {
			return err
		}
	}
	c.sessions = append(c.sessions, bs)
	return nil
}

// detach removes a session; in per-session mode it stops the process.
func (c *child) detach(bs *bridgeSession) {
	c.mu.Lock()
	for i, s := range c.sessions {
		if s == bs {
			c.sessions = append(c.sessions[:i], c.sessions[i+1:]...)
			break
		}
	}
	if c.lastActive == bs {
		c.lastActive = nil
	}
	for id, pc := range c.pending {
		if pc.session == bs {
			delete(c.pending, id)
			delete(c.tokens, pc.token)
		}
	}
	c.initWaiting = slices.DeleteFunc(c.initWaiting, func(w initWaiter) bool { return w.session == bs })
	last := len(c.sessions) == 0 && !c.shared
	c.mu.Unlock()
	if last {
		c.close()
	}
}

// close stops the process for good and waits for it to exit.
func (c *child) close() {
	c.mu.Lock()
	c.closed = true
	conn := c.conn
	c.conn = nil
	c.mu.Unlock()
	if conn != nil {
		_ = conn.Close() // closes stdin, then SIGTERM, then SIGKILL
	}
}

// startLocked starts the process and, after a restart, replays the
// session's initialization.
func (c *child) startLocked() error {
	s := c.stdio
	proc, conn, err := startProcess(c.spec, s.opts.TerminateGrace, s.logger)
	if err != nil {
		return err
	}
	c.conn = conn
	c.started = s.opts.Now()
	s.logger.Info("proxy: upstream process started", "pid", proc.pgid)
	go c.read(conn)
	if c.initParams != nil {
		c.nextID++
		c.pending[c.nextID] = pendingCall{method: "initialize"}
		c.initSent = true
		ctx := context.Background()
		_ = conn.Write(ctx, &jsonrpc.Request{ID: jsonrpc2ID(c.nextID), Method: "initialize", Params: c.initParams})
		if c.initialized {
			_ = conn.Write(ctx, &jsonrpc.Request{Method: "notifications/initialized", Params: json.RawMessage("{}")})
		}
	}
	return nil
}

func jsonrpc2ID(n int64) jsonrpc.ID {
	id, _ := jsonrpc.MakeID(float64(n))
	return id
}

// read forwards the process's messages until it exits.
func (c *child) read(conn mcp.Connection) {
	for {
		msg, err := conn.Read(context.Background())
		if err != nil {
			c.exited(conn, err)
			return
		}
		c.fromChild(msg)
	}
}

// exited answers the calls in flight with an error and schedules a restart.
func (c *child) exited(conn mcp.Connection, err error) {
	s := c.stdio
	go conn.Close() // reap the process
	c.mu.Lock()
	if c.conn != conn {
		c.mu.Unlock()
		return // closed on purpose
	}
	c.conn = nil
	failed := c.pending
	c.pending = make(map[int64]pendingCall)
	c.tokens = make(map[string]tokenRoute)
	if s.opts.Now().Sub(c.started) > time.Minute {
		c.backoff = s.opts.RestartBackoff
	}
	wait := c.backoff
	c.backoff = min(2*c.backoff, s.opts.MaxRestartBackoff)
	c.restarting = !c.closed
	waiting := c.initWaiting
	c.initWaiting, c.initSent = nil, false
	c.mu.Unlock()

	s.logger.Warn("proxy: upstream process exited", "err", err, "in_flight", len(failed)+len(waiting), "restart_in", wait)
	for _, pc := range failed {
		if pc.session != nil {
			pc.session.write(errorResponse(pc.id, msgChildExited))
		}
	}
	for _, w := range waiting {
		w.session.write(errorResponse(w.id, msgChildExited))
	}
	time.AfterFunc(wait, c.restart)
}

func (c *child) restart() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.restarting = false
	if c.closed || c.conn != nil || len(c.sessions) == 0 && !c.shared {
		return
	}
	if err := c.startLocked(); err != nil {
		c.stdio.logger.Error("proxy: upstream process did not start", "err", err)
		wait := c.backoff
		c.backoff = min(2*c.backoff, c.stdio.opts.MaxRestartBackoff)
		c.restarting = true
		time.AfterFunc(wait, c.restart)
	}
}

func errorResponse(id jsonrpc.ID, message string) *jsonrpc.Response {
	return &jsonrpc.Response{ID: id, Error: &jsonrpc.Error{Code: refusal.CodeInternalError, Message: message}}
}

// fromClient forwards a message of session bs to the process.
func (c *child) fromClient(bs *bridgeSession, msg jsonrpc.Message) {
	ctx := context.Background()
	switch m := msg.(type) {
	case *jsonrpc.Response: // the client answers a request of the server
		c.mu.Lock()
		conn := c.conn
		c.mu.Unlock()
		if conn != nil {
			_ = conn.Write(ctx, m)
		}
	case *jsonrpc.Request:
		if !m.IsCall() {
			c.notify(bs, m)
			return
		}
		c.mu.Lock()
		if m.Method == "initialize" {
			if c.shared && c.initResult != nil {
				res := c.initResult
				c.mu.Unlock()
				bs.write(&jsonrpc.Response{ID: m.ID, Result: res})
				return
			}
			if c.shared && c.initSent && c.conn != nil {
				// The process is being initialized by another session: it
				// would refuse a second initialize. Answer this one with
				// the first one's answer.
				c.initWaiting = append(c.initWaiting, initWaiter{session: bs, id: m.ID})
				c.mu.Unlock()
				return
			}
			if c.initParams == nil {
				c.initParams = m.Params
			}
		}
		conn := c.conn
		if conn == nil {
			c.mu.Unlock()
			bs.write(errorResponse(m.ID, msgChildNotRunning))
			return
		}
		if m.Method == "initialize" {
			c.initSent = true
		}
		c.nextID++
		id := c.nextID
		pc := pendingCall{session: bs, id: m.ID, method: m.Method}
		params := m.Params
		if c.shared {
			params, pc.token = c.rewriteTokenLocked(params, bs, id)
		}
		c.pending[id] = pc
		c.lastActive = bs
		c.mu.Unlock()
		if err := conn.Write(ctx, &jsonrpc.Request{ID: jsonrpc2ID(id), Method: m.Method, Params: params}); err != nil {
			c.mu.Lock()
			_, still := c.pending[id]
			delete(c.pending, id)
			c.mu.Unlock()
			if still {
				bs.write(errorResponse(m.ID, msgChildNotRunning))
			}
		}
	}
}

// notify forwards a client notification.
func (c *child) notify(bs *bridgeSession, m *jsonrpc.Request) {
	c.mu.Lock()
	conn := c.conn
	params := m.Params
	switch m.Method {
	case "notifications/initialized":
		if c.initialized {
			conn = nil // the process was initialized by an earlier session
		}
		c.initialized = true
	case "notifications/cancelled":
		// The process knows the call by the id the proxy gave it.
		var p map[string]json.RawMessage
		if json.Unmarshal(params, &p) == nil {
			var orig any
			_ = json.Unmarshal(p["requestId"], &orig)
			origID, err := jsonrpc.MakeID(orig)
			found := false
			for id, pc := range c.pending {
				if err == nil && pc.session == bs && pc.id == origID {
					p["requestId"] = json.RawMessage(strconv.FormatInt(id, 10))
					params, _ = json.Marshal(p)
					found = true
					break
				}
			}
			if !found {
				conn = nil
			}
		}
	}
	c.mu.Unlock()
	if conn != nil {
		_ = conn.Write(context.Background(), &jsonrpc.Request{Method: m.Method, Params: params})
	}
}

// rewriteTokenLocked gives a progress token in params a name unique in the
// process, so that sessions choosing the same token do not collide.
func (c *child) rewriteTokenLocked(params json.RawMessage, bs *bridgeSession, id int64) (json.RawMessage, string) {
	if !bytes.Contains(params, []byte("progressToken")) {
		return params, ""
	}
	var p map[string]json.RawMessage
	if json.Unmarshal(params, &p) != nil {
		return params, ""
	}
	var meta map[string]json.RawMessage
	if json.Unmarshal(p["_meta"], &meta) != nil || meta["progressToken"] == nil {
		return params, ""
	}
	token := "mcpgate-" + strconv.FormatInt(id, 10)
	c.tokens[token] = tokenRoute{session: bs, token: meta["progressToken"]}
	meta["progressToken"], _ = json.Marshal(token)
	p["_meta"], _ = json.Marshal(meta)
	out, err := json.Marshal(p)
	if err != nil {
		return params, ""
	}
	return out, token
}

// fromChild routes a message of the process to its session(s).
func (c *child) fromChild(msg jsonrpc.Message) {
	switch m := msg.(type) {
	case *jsonrpc.Response:
		n, _ := m.ID.Raw().(int64)
		c.mu.Lock()
		pc, ok := c.pending[n]
		delete(c.pending, n)
		delete(c.tokens, pc.token)
		var waiting []initWaiter
		if ok && pc.method == "initialize" {
			if m.Error == nil && c.initResult == nil {
				c.initResult = m.Result
			}
			if m.Error != nil && c.initResult == nil {
				c.initParams = nil // the next initialize is tried afresh
			}
			waiting = c.initWaiting
			c.initWaiting, c.initSent = nil, false
		}
		c.mu.Unlock()
		if ok && pc.session != nil {
			pc.session.write(&jsonrpc.Response{ID: pc.id, Result: m.Result, Error: m.Error})
		}
		for _, w := range waiting {
			w.session.write(&jsonrpc.Response{ID: w.id, Result: m.Result, Error: m.Error})
		}
	case *jsonrpc.Request:
		if m.IsCall() {
			// A server-to-client request (sampling, elicitation, roots, ping).
			c.mu.Lock()
			target := c.lastActive
			if target == nil && len(c.sessions) > 0 {
				target = c.sessions[len(c.sessions)-1]
			}
			conn := c.conn
			c.mu.Unlock()
			if target != nil {
				target.write(m)
			} else if conn != nil {
				_ = conn.Write(context.Background(), errorResponse(m.ID, "no client session"))
			}
			return
		}
		c.mu.Lock()
		var targets []*bridgeSession
		if m.Method == "notifications/progress" && c.shared {
			var p map[string]json.RawMessage
			var tok string
			if json.Unmarshal(m.Params, &p) == nil && json.Unmarshal(p["progressToken"], &tok) == nil {
				if r, ok := c.tokens[tok]; ok {
					p["progressToken"] = r.token
					if b, err := json.Marshal(p); err == nil {
						m = &jsonrpc.Request{Method: m.Method, Params: b}
						targets = []*bridgeSession{r.session}
					}
				}
			}
		} else {
			targets = append(targets, c.sessions...)
		}
		c.mu.Unlock()
		for _, bs := range targets {
			bs.write(m)
		}
	}
}
