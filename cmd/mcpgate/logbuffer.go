package main

import (
	"io"
	"sync"
	"time"
)

// logBuffer collects the server's log lines and writes them out at most
// every interval, or as soon as size bytes wait, so that a request's log
// line costs no system call of its own. Close writes what is left. A
// process killed with SIGKILL loses at most interval of log lines; the
// audit store keeps its own copy of every request (see docs/audit.md).
type logBuffer struct {
	w        io.Writer
	size     int
	interval time.Duration

	mu     sync.Mutex
	buf    []byte
	spare  []byte
	closed bool
	stop   chan struct{}
	done   chan struct{}
}

func newLogBuffer(w io.Writer, size int, interval time.Duration) *logBuffer {
	b := &logBuffer{w: w, size: size, interval: interval, buf: make([]byte, 0, size), spare: make([]byte, 0, size),
		stop: make(chan struct{}), done: make(chan struct{})}
	go b.run()
	return b
}

// Write keeps p, one log record, for the next flush; slog handlers write
// each record whole, so records are never interleaved.
func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return b.w.Write(p)
	}
	b.buf = append(b.buf, p...)
	if len(b.buf) >= b.size {
		b.flushLocked()
	}
	return len(p), nil
}

// flushLocked writes what waits. It holds the lock while writing, so lines
// keep their order; a writer blocked on a full pipe blocks logging, as an
// unbuffered one would.
func (b *logBuffer) flushLocked() {
	if len(b.buf) == 0 {
		return
	}
	_, _ = b.w.Write(b.buf)
	b.buf, b.spare = b.spare[:0], b.buf
}

func (b *logBuffer) run() {
	defer close(b.done)
	t := time.NewTicker(b.interval)
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
			b.mu.Lock()
			b.flushLocked()
			b.mu.Unlock()
		}
	}
}

// Close writes what is left; later writes go straight through.
func (b *logBuffer) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	b.flushLocked()
	b.mu.Unlock()
	close(b.stop)
	<-b.done
	return nil
}
