package proxy

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/pipeline"
	"github.com/mcpgate/mcpgate/refusal"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Command is a stdio MCP server program.
type Command struct {
	// Path is the program, looked up in PATH if it has no slash.
	Path string
	// Args are its arguments, without the program name.
	Args []string
	// Env is added to a minimal environment of PATH and HOME taken from
	// mcpgate's own. Nothing else of mcpgate's environment (where its
	// secrets live) reaches the child.
	Env map[string]string
	// Dir is the working directory; empty means mcpgate's.
	Dir string
}

// Environment variables that tell a per-session child who is calling, as
// the X-Mcpgate-* headers tell an HTTP upstream. mcpgate sets all four
// when it starts the child, overriding Command.Env. A shared child serves
// many principals and gets none of them.
const (
	EnvSubject = "MCPGATE_SUBJECT" // Principal.Subject
	EnvTenant  = "MCPGATE_TENANT"  // Principal.Tenant
	EnvClient  = "MCPGATE_CLIENT"  // Principal.ClientID
	EnvScopes  = "MCPGATE_SCOPES"  // Principal.Scopes, space-separated
)

// Stdio modes.
const (
	// ModePerSession starts one child per MCP session and stops it when the
	// session ends. Every MCP feature works as if the client spoke to the
	// child directly.
	ModePerSession = "per-session"
	// ModeShared runs one child for all sessions, multiplexing them: request
	// ids and progress tokens are rewritten so sessions cannot collide, the
	// child is initialized once (later sessions get its cached initialize
	// result), server-to-client requests go to the session that most
	// recently sent a request, and other notifications go to every session.
	ModeShared = "shared"
)

// StdioOptions configure NewStdio. The zero value is valid.
type StdioOptions struct {
	// Mode is ModePerSession (the default) or ModeShared.
	Mode string
	// Policy filters list results; nil means no filtering.
	Policy Filter
	// Logger receives the child's stderr, line by line, and its exits. The
	// gateway passes a redacting logger. Nil discards.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// RestartBackoff is the wait before restarting a child that exited; it
	// doubles with each exit in a row up to MaxRestartBackoff. Defaults:
	// 100ms and 30s. A child that ran for a minute starts the series again.
	RestartBackoff    time.Duration
	MaxRestartBackoff time.Duration
	// TerminateGrace is how long a child may take to exit after its stdin
	// is closed, and again after SIGTERM, before SIGKILL. Default 5s.
	TerminateGrace time.Duration
	// SessionTTL ends sessions idle that long (and, in per-session mode,
	// their child). Default 1 hour.
	SessionTTL time.Duration
	// MaxSessions bounds the open sessions; a new one beyond it is refused
	// with 503. Default 256 in per-session mode (a process each), 10000
	// in shared mode.
	MaxSessions int
}

// Stdio is an http.Handler serving Streamable HTTP for a stdio MCP server.
// Create it with NewStdio; Close stops every child.
type Stdio struct {
	spec   Command
	opts   StdioOptions
	logger *slog.Logger
	front  *HTTP // session binding and list filtering, as for HTTP upstreams

	mu       sync.Mutex
	sessions map[string]*bridgeSession
	shared   *child
	closed   bool
	stop     chan struct{}
}

// NewStdio returns a handler for the stdio server spec. No child starts
// until a client initializes the first session.
func NewStdio(spec Command, opts *StdioOptions) (*Stdio, error) {
	if spec.Path == "" {
		return nil, errors.New("proxy: stdio command has no program")
	}
	if _, err := exec.LookPath(spec.Path); err != nil {
		return nil, fmt.Errorf("proxy: stdio command: %w", err)
	}
	var o StdioOptions
	if opts != nil {
		o = *opts
	}
	switch o.Mode {
	case "":
		o.Mode = ModePerSession
	case ModePerSession, ModeShared:
	default:
		return nil, fmt.Errorf("proxy: stdio mode %q: want %q or %q", o.Mode, ModePerSession, ModeShared)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.RestartBackoff <= 0 {
		o.RestartBackoff = 100 * time.Millisecond
	}
	if o.MaxRestartBackoff <= 0 {
		o.MaxRestartBackoff = 30 * time.Second
	}
	if o.TerminateGrace <= 0 {
		o.TerminateGrace = 5 * time.Second
	}
	if o.SessionTTL <= 0 {
		o.SessionTTL = time.Hour
	}
	if o.MaxSessions <= 0 {
		o.MaxSessions = 256
		if o.Mode == ModeShared {
			o.MaxSessions = 10000
		}
	}
	s := &Stdio{
		spec:     spec,
		opts:     o,
		logger:   o.Logger.With("upstream", spec.Path),
		sessions: make(map[string]*bridgeSession),
		stop:     make(chan struct{}),
	}
	front, err := NewHTTP("http://stdio.invalid/mcp", &Options{
		Policy:      o.Policy,
		Transport:   handlerTransport{http.HandlerFunc(s.serveBridge)},
		Logger:      o.Logger,
		Now:         o.Now,
		SessionTTL:  o.SessionTTL,
		MaxSessions: o.MaxSessions,
	})
	if err != nil {
		return nil, err
	}
	s.front = front
	go s.reapIdle()
	return s, nil
}

// Sessions returns the number of open MCP sessions.
func (s *Stdio) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}

// ServeHTTP implements http.Handler.
func (s *Stdio) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.front.ServeHTTP(w, r)
}

// Close ends every session and stops every child: stdin closed, then
// SIGTERM, then SIGKILL, TerminateGrace apart. It waits for them to exit.
func (s *Stdio) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.stop)
	sessions := make([]*bridgeSession, 0, len(s.sessions))
	for _, bs := range s.sessions {
		sessions = append(sessions, bs)
	}
	shared := s.shared
	s.mu.Unlock()

	var wg sync.WaitGroup
	for _, bs := range sessions {
		wg.Add(1)
		go func() { defer wg.Done(); bs.close() }()
	}
	if shared != nil {
		wg.Add(1)
		go func() { defer wg.Done(); shared.close() }()
	}
	wg.Wait()
	return nil
}

// serveBridge is Streamable HTTP served with the MCP SDK's server transport,
// one per session, bridged to a child. It runs behind s.front.
func (s *Stdio) serveBridge(w http.ResponseWriter, r *http.Request) {
	sid := r.Header.Get("Mcp-Session-Id")
	var bs *bridgeSession
	if sid == "" {
		if r.Method != http.MethodPost {
			http.Error(w, "Bad Request: missing Mcp-Session-Id", http.StatusBadRequest)
			return
		}
		req := pipeline.FromContext(r.Context())
		if !req.Has("initialize") {
			// Only initialize opens a session: anything else would start a
			// process for nothing.
			refusal.Write(w, &refusal.Refusal{Kind: refusal.InvalidRequest, ID: req.SingleID(), Message: "missing Mcp-Session-Id: send initialize first"})
			return
		}
		var kind refusal.Kind
		bs, kind = s.newSession(mcpgate.PrincipalFromContext(r.Context()))
		if bs == nil {
			refusal.Write(w, &refusal.Refusal{Kind: kind, ID: req.SingleID()})
			return
		}
	} else {
		s.mu.Lock()
		bs = s.sessions[sid]
		s.mu.Unlock()
		if bs == nil {
			refusal.Write(w, refusal.New(refusal.SessionNotFound))
			return
		}
	}
	bs.touch(s.opts.Now())
	switch r.Method {
	case http.MethodGet, http.MethodPost:
		bs.transport.ServeHTTP(w, r)
	case http.MethodDelete:
		bs.close()
		w.WriteHeader(http.StatusNoContent)
	default:
		w.Header().Set("Allow", "GET, POST, DELETE")
		http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
	}
}

// newSession starts a session of pr and, in per-session mode, its child,
// which learns pr from its environment. On failure it returns the refusal
// to answer with.
func (s *Stdio) newSession(pr *mcpgate.Principal) (*bridgeSession, refusal.Kind) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, refusal.UpstreamUnavailable
	}
	if len(s.sessions) >= s.opts.MaxSessions {
		s.logger.Warn("proxy: stdio session limit reached", "max", s.opts.MaxSessions)
		return nil, refusal.TooManySessions
	}
	ctx, cancel := context.WithCancel(context.Background())
	bs := &bridgeSession{
		id:        rand.Text(),
		transport: nil,
		cancel:    cancel,
		ctx:       ctx,
		stdio:     s,
		outWake:   make(chan struct{}, 1),
	}
	bs.transport = &mcp.StreamableServerTransport{SessionID: bs.id}
	conn, err := bs.transport.Connect(ctx)
	if err != nil {
		cancel()
		s.logger.Error("proxy: stdio session", "err", err)
		return nil, refusal.Internal
	}
	bs.conn = conn
	if s.opts.Mode == ModeShared {
		if s.shared == nil {
			s.shared = newChild(s, true, s.spec)
		}
		bs.child = s.shared
	} else {
		bs.child = newChild(s, false, s.spec.withIdentity(pr))
	}
	if err := bs.child.attach(bs); err != nil {
		cancel()
		conn.Close()
		s.logger.Error("proxy: stdio child did not start", "err", err)
		return nil, refusal.UpstreamUnavailable
	}
	s.sessions[bs.id] = bs
	go bs.pump()
	go bs.writeLoop()
	return bs, 0
}

// EndSession ends session id and, in per-session mode, stops its child.
// The pipeline calls it to make room for a principal's new session.
func (s *Stdio) EndSession(id string) {
	s.mu.Lock()
	bs := s.sessions[id]
	s.mu.Unlock()
	s.front.sessions.remove(id)
	if bs != nil {
		bs.close()
	}
}

// OpenSessions yields the sessions open now.
func (s *Stdio) OpenSessions() iter.Seq[string] {
	s.mu.Lock()
	ids := make([]string, 0, len(s.sessions))
	for id := range s.sessions {
		ids = append(ids, id)
	}
	s.mu.Unlock()
	return slices.Values(ids)
}

// SessionTTL is how long an idle session lives.
func (s *Stdio) SessionTTL() time.Duration { return s.opts.SessionTTL }

// reapIdle ends sessions idle for longer than SessionTTL.
func (s *Stdio) reapIdle() {
	tick := time.NewTicker(min(s.opts.SessionTTL/4, time.Minute))
	defer tick.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-tick.C:
		}
		now := s.opts.Now()
		s.mu.Lock()
		var idle []*bridgeSession
		for _, bs := range s.sessions {
			if now.Sub(bs.lastUsed()) > s.opts.SessionTTL {
				idle = append(idle, bs)
			}
		}
		s.mu.Unlock()
		for _, bs := range idle {
			bs.close()
		}
	}
}

// bridgeSession is one client MCP session.
type bridgeSession struct {
	id        string
	transport *mcp.StreamableServerTransport
	conn      mcp.Connection // the client side, through the SDK transport
	child     *child
	stdio     *Stdio
	ctx       context.Context
	cancel    context.CancelFunc

	mu     sync.Mutex
	used   time.Time
	closed bool

	// Messages to the client wait here for writeLoop, so that a client
	// that does not read holds up only its own session.
	outMu    sync.Mutex
	out      []jsonrpc.Message
	outBytes int
	outWake  chan struct{}
}

// Bounds of the messages waiting for a client: beyond them the client is
// taken to have stopped reading, and its session ends.
const (
	maxQueuedMessages = 1024
	maxQueuedBytes    = 64 << 20
)

func (bs *bridgeSession) touch(now time.Time) {
	bs.mu.Lock()
	bs.used = now
	bs.mu.Unlock()
}

func (bs *bridgeSession) lastUsed() time.Time {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	return bs.used
}

// pump forwards the client's messages to the child until the session ends.
func (bs *bridgeSession) pump() {
	for {
		msg, err := bs.conn.Read(bs.ctx)
		if err != nil {
			bs.close()
			return
		}
		bs.child.fromClient(bs, msg)
	}
}

// write queues msg for the client; it never waits for the client. If the
// queue is full, the session ends.
func (bs *bridgeSession) write(msg jsonrpc.Message) {
	size := queuedSize(msg)
	bs.outMu.Lock()
	if bs.ctx.Err() != nil {
		bs.outMu.Unlock()
		return
	}
	if len(bs.out) >= maxQueuedMessages || bs.outBytes+size > maxQueuedBytes {
		n, b := len(bs.out), bs.outBytes
		bs.outMu.Unlock()
		bs.stdio.logger.Warn("proxy: client does not read its messages; session ended", "session", bs.id, "queued", n, "queued_bytes", b)
		go bs.close()
		return
	}
	bs.out = append(bs.out, msg)
	bs.outBytes += size
	bs.outMu.Unlock()
	select {
	case bs.outWake <- struct{}{}:
	default:
	}
}

// writeLoop writes the queued messages to the client, in order, until the
// session ends.
func (bs *bridgeSession) writeLoop() {
	for {
		select {
		case <-bs.ctx.Done():
			return
		case <-bs.outWake:
		}
		for {
			bs.outMu.Lock()
			if len(bs.out) == 0 {
				bs.outMu.Unlock()
				break
			}
			msg := bs.out[0]
			bs.out[0] = nil
			bs.out = bs.out[1:]
			bs.outMu.Unlock()
			err := bs.conn.Write(bs.ctx, msg)
			bs.outMu.Lock()
			bs.outBytes -= queuedSize(msg)
			bs.outMu.Unlock()
			if err != nil {
				bs.stdio.logger.Debug("proxy: message to client dropped", "session", bs.id, "err", err)
			}
			if bs.ctx.Err() != nil {
				return
			}
		}
	}
}

// queuedSize is what msg counts against maxQueuedBytes.
func queuedSize(msg jsonrpc.Message) int {
	size := 64
	switch m := msg.(type) {
	case *jsonrpc.Response:
		size += len(m.Result)
	case *jsonrpc.Request:
		size += len(m.Params)
	}
	return size
}

// close ends the session, and its child in per-session mode.
func (bs *bridgeSession) close() {
	bs.mu.Lock()
	if bs.closed {
		bs.mu.Unlock()
		return
	}
	bs.closed = true
	bs.mu.Unlock()
	s := bs.stdio
	s.mu.Lock()
	delete(s.sessions, bs.id)
	s.mu.Unlock()
	bs.cancel()
	bs.conn.Close()
	bs.child.detach(bs)
}

// withIdentity returns c with pr's identity in its environment. The
// session is bound to pr for its lifetime, and so is its child: the
// environment is set once, at spawn, and again unchanged at a restart.
func (c Command) withIdentity(pr *mcpgate.Principal) Command {
	env := make(map[string]string, len(c.Env)+4)
	maps.Copy(env, c.Env)
	var p mcpgate.Principal
	if pr != nil {
		p = *pr
	}
	env[EnvSubject] = p.Subject
	env[EnvTenant] = p.Tenant
	env[EnvClient] = p.ClientID
	env[EnvScopes] = strings.Join(p.Scopes, " ")
	c.Env = env
	return c
}

// env is the child's environment: PATH and HOME from ours, then spec.Env.
func (c Command) env() []string {
	env := make([]string, 0, len(c.Env)+2)
	for _, k := range []string{"PATH", "HOME"} {
		if v, ok := os.LookupEnv(k); ok {
			if _, override := c.Env[k]; !override {
				env = append(env, k+"="+v)
			}
		}
	}
	keys := make([]string, 0, len(c.Env))
	for k := range c.Env {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		env = append(env, k+"="+c.Env[k])
	}
	return env
}
