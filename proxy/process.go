package proxy

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// process is a running stdio server in a process group of its own, so that
// stopping it also stops what it started: a server launched through a
// wrapper (sh -c, npx, uvx) runs as the wrapper's child.
type process struct {
	cmd    *exec.Cmd
	pgid   int
	stdin  io.WriteCloser
	stdout *os.File // the read end; ours alone, Wait leaves it open
	grace  time.Duration
	done   chan struct{} // closed once the leader has been waited for

	closeOnce sync.Once
}

// startProcess starts spec and returns it with a connection speaking
// newline-delimited JSON-RPC over its stdin and stdout. Lines on stdout
// that are not JSON (a banner, stray logging) are logged and skipped.
func startProcess(spec Command, grace time.Duration, logger *slog.Logger) (*process, mcp.Connection, error) {
	cmd := exec.Command(spec.Path, spec.Args...)
	cmd.Env = spec.env()
	cmd.Dir = spec.Dir
	cmd.Stderr = &lineLogger{logger: logger}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// A process left behind may hold stderr open: Wait does not wait for
	// it longer than this once the server has exited.
	cmd.WaitDelay = grace
	r, w, err := os.Pipe()
	if err != nil {
		return nil, nil, err
	}
	cmd.Stdout = w
	stdin, err := cmd.StdinPipe()
	if err != nil {
		r.Close()
		w.Close()
		return nil, nil, err
	}
	err = cmd.Start()
	w.Close() // the child has its copy
	if err != nil {
		r.Close()
		return nil, nil, err
	}
	p := &process{cmd: cmd, pgid: cmd.Process.Pid, stdin: stdin, stdout: r, grace: grace, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(p.done)
		// The server is gone. Something it started may still hold stdout
		// open; the reader must not wait for it longer than the grace, or
		// the exit would go unnoticed and the server never restarted.
		time.AfterFunc(grace, func() { _ = p.stdout.Close() })
	}()
	t := &mcp.IOTransport{
		Reader: io.NopCloser(&jsonLines{r: r, logger: logger}),
		Writer: processInput{p},
	}
	conn, err := t.Connect(context.Background())
	if err != nil {
		p.close()
		return nil, nil, err
	}
	return p, conn, nil
}

// processInput is the process's stdin; closing it stops the process.
type processInput struct{ p *process }

func (in processInput) Write(b []byte) (int, error) { return in.p.stdin.Write(b) }
func (in processInput) Close() error                { in.p.close(); return nil }

// close stops the process as the MCP stdio transport says: close its
// stdin, wait, SIGTERM, wait, SIGKILL, each signal to the whole process
// group. Whatever of the group outlives the server is stopped the same way.
// It returns once the server has exited.
func (p *process) close() {
	p.closeOnce.Do(func() {
		_ = p.stdin.Close()
		termed := false
		if !p.wait(p.grace) {
			p.signal(syscall.SIGTERM)
			termed = true
			if !p.wait(p.grace) {
				p.signal(syscall.SIGKILL)
				<-p.done
			}
		}
		// The server is gone; what it started may not be.
		if p.groupAlive() {
			if !termed {
				p.signal(syscall.SIGTERM)
				deadline := time.Now().Add(p.grace)
				for p.groupAlive() && time.Now().Before(deadline) {
					time.Sleep(20 * time.Millisecond)
				}
			}
			p.signal(syscall.SIGKILL)
		}
		// Nothing is left to write to stdout; a process that escaped the
		// group must not keep the reader waiting.
		_ = p.stdout.Close()
	})
}

// wait reports whether the server exited within d.
func (p *process) wait(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-p.done:
		return true
	case <-t.C:
		return false
	}
}

func (p *process) signal(sig syscall.Signal) {
	if err := syscall.Kill(-p.pgid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		_ = p.cmd.Process.Signal(sig)
	}
}

// groupAlive reports whether any process of the group is left.
func (p *process) groupAlive() bool {
	return syscall.Kill(-p.pgid, 0) == nil
}

// jsonLines passes on the JSON values read from r and drops any line that
// does not start one: the MCP SDK's reader stops at the first byte that is
// not JSON, and a server printing a banner would be restarted forever.
type jsonLines struct {
	r      io.Reader
	logger *slog.Logger

	state   int  // between values, in a value, or skipping a line
	depth   int  // of brackets in the current value
	inStr   bool // in a string of the current value
	escaped bool // after a backslash in that string
	skipped []byte
}

const (
	betweenValues = iota
	inValue
	skipLine
)

const maxSkippedLog = 200

func (j *jsonLines) Read(p []byte) (int, error) {
	for {
		n, err := j.r.Read(p)
		k := j.keep(p[:n])
		if k > 0 || err != nil {
			return k, err
		}
	}
}

// keep compacts b to the bytes to pass on and returns their number.
func (j *jsonLines) keep(b []byte) int {
	k := 0
	for _, c := range b {
		switch j.state {
		case betweenValues:
			switch c {
			case ' ', '\t':
				continue // the SDK takes anything but a newline after a value for garbage
			case '\r', '\n':
			case '{', '[':
				j.state, j.depth = inValue, 1
			default:
				j.state = skipLine
				j.skipped = append(j.skipped[:0], c)
				continue
			}
		case inValue:
			switch {
			case j.escaped:
				j.escaped = false
			case j.inStr:
				switch c {
				case '\\':
					j.escaped = true
				case '"':
					j.inStr = false
				}
			case c == '"':
				j.inStr = true
			case c == '{' || c == '[':
				j.depth++
			case c == '}' || c == ']':
				j.depth--
				if j.depth == 0 {
					j.state = betweenValues
				}
			}
		case skipLine:
			if c == '\n' {
				j.state = betweenValues
				j.logger.Warn("proxy: upstream stdout line is not JSON-RPC, skipped", "line", string(j.skipped))
				break // the newline ends a value before the line, if any
			}
			if len(j.skipped) < maxSkippedLog {
				j.skipped = append(j.skipped, c)
			}
			continue
		}
		b[k] = c
		k++
	}
	return k
}
