package main

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockedBuffer is a bytes.Buffer safe for the flusher and the test.
type lockedBuffer struct {
	mu     sync.Mutex
	b      bytes.Buffer
	writes int
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.writes++
	return l.b.Write(p)
}

func (l *lockedBuffer) String() (string, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String(), l.writes
}

func TestLogBufferBatchesKeepsOrderAndFlushes(t *testing.T) {
	out := &lockedBuffer{}
	lb := newLogBuffer(out, 1<<20, 50*time.Millisecond)
	var want strings.Builder
	for i := range 100 {
		line := strings.Repeat("x", i%7) + "line\n"
		want.WriteString(line)
		lb.Write([]byte(line))
	}
	if got, _ := out.String(); got != "" {
		t.Fatalf("written before the interval: %q", got)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, writes := out.String()
		if got == want.String() {
			if writes != 1 {
				t.Errorf("%d writes for one interval's lines, want 1", writes)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the interval: %q", got)
		}
		time.Sleep(10 * time.Millisecond)
	}

	lb.Write([]byte("last\n"))
	lb.Close()
	if got, _ := out.String(); !strings.HasSuffix(got, "line\nlast\n") {
		t.Errorf("Close did not write what was left: %q", got)
	}
	lb.Write([]byte("after close\n"))
	if got, _ := out.String(); !strings.HasSuffix(got, "last\nafter close\n") {
		t.Errorf("a write after Close was not passed through: %q", got)
	}
}

func TestLogBufferWritesWhenFull(t *testing.T) {
	out := &lockedBuffer{}
	lb := newLogBuffer(out, 64, time.Hour)
	defer lb.Close()
	lb.Write(bytes.Repeat([]byte("a"), 40))
	if got, _ := out.String(); got != "" {
		t.Fatalf("written below the size: %q", got)
	}
	lb.Write(bytes.Repeat([]byte("b"), 40))
	if got, _ := out.String(); len(got) != 80 {
		t.Errorf("at the size, %d bytes written, want 80", len(got))
	}
}
