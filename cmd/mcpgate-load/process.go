package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"time"
)

// server is a server under test running as its own process.
type server struct {
	name   string
	cmd    *exec.Cmd
	addr   string // host:port it serves on
	log    string // file with its stderr
	exited chan struct{}
}

// startServer starts cmd with its stderr in logPath and waits, at most
// timeout, for a line of its stdout that ready matches; the first
// submatch is the address it serves on. The process gets its own process
// group, so a Ctrl-C in the terminal reaches only this program, which stops
// it; on Linux it is also killed if this program dies.
func startServer(ctx context.Context, name string, cmd *exec.Cmd, logPath string, ready *regexp.Regexp, timeout time.Duration) (*server, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close() // the child has its own descriptor
	cmd.Stderr = logf
	cmd.SysProcAttr = childAttr()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	s := &server{name: name, cmd: cmd, log: logPath, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(s.exited)
	}()
	addrc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := ready.FindStringSubmatch(sc.Text()); m != nil {
				addrc <- m[1]
				break
			}
		}
		_, _ = io.Copy(io.Discard, stdout) // a full pipe would block the child
	}()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case s.addr = <-addrc:
		return s, nil
	case <-s.exited:
		err = fmt.Errorf("%s exited before serving: %s", name, tail(logPath))
	case <-t.C:
		err = fmt.Errorf("%s did not start within %v: %s", name, timeout, tail(logPath))
	case <-ctx.Done():
		err = ctx.Err()
	}
	s.stop()
	return nil, err
}

// stop asks the process to shut down and kills it if it has not within
// five seconds.
func (s *server) stop() {
	select {
	case <-s.exited:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(5 * time.Second)
	defer t.Stop()
	select {
	case <-s.exited:
	case <-t.C:
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
}

// cpu returns the CPU time the process has used so far.
func (s *server) cpu() (time.Duration, error) {
	return processCPU(s.cmd.Process.Pid)
}

// tail returns the end of a log file, for error messages.
func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	const n = 2000
	if len(b) > n {
		b = b[len(b)-n:]
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "(no output in " + path + ")"
	}
	return "\n" + s
}
