package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// The load client speaks just enough HTTP/1.1 over raw TCP to send one
// pre-serialized request on a keep-alive connection and check the answer:
// on a two-core machine net/http's client would cost about as much CPU as
// the proxies it measures, and every cycle it takes is one the servers do
// not get.

// maxBody bounds the response body the client accepts.
const maxBody = 64 << 10

var (
	errStatus  = errors.New("status is not 200")
	errBody    = errors.New("unexpected response body")
	errFraming = errors.New("malformed response")
)

// request is one HTTP/1.1 request, serialized once, and the response body
// it must get back.
type request struct {
	raw  []byte
	want []byte
}

// newRequest serializes a POST of body to path on addr, with an
// Authorization header when bearer is set.
func newRequest(addr, path, bearer string, body, want []byte) request {
	var b bytes.Buffer
	fmt.Fprintf(&b, "POST %s HTTP/1.1\r\nHost: %s\r\n", path, addr)
	b.WriteString("Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n")
	if bearer != "" {
		fmt.Fprintf(&b, "Authorization: Bearer %s\r\n", bearer)
	}
	fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n", len(body))
	b.Write(body)
	return request{raw: b.Bytes(), want: want}
}

// conn is one keep-alive connection, dialed on first use and after an error.
type conn struct {
	addr     string
	deadline time.Time // of every read and write: bounds a stuck server
	nc       net.Conn
	br       *bufio.Reader
	body     []byte
}

func newConn(addr string) *conn {
	return &conn{addr: addr, br: bufio.NewReaderSize(nil, 16<<10), body: make([]byte, maxBody)}
}

// do sends req and reads its response. After an error the connection is
// closed; the next call dials again.
func (c *conn) do(req *request) error {
	if c.nc == nil {
		nc, err := net.DialTimeout("tcp", c.addr, 5*time.Second)
		if err != nil {
			return err
		}
		if err := nc.SetDeadline(c.deadline); err != nil {
			nc.Close()
			return err
		}
		c.nc = nc
		c.br.Reset(nc)
	}
	_, err := c.nc.Write(req.raw)
	keep := false
	if err == nil {
		keep, err = readResponse(c.br, c.body, req.want)
	}
	if err != nil || !keep {
		c.close()
	}
	return err
}

// setDeadline bounds the connection's reads and writes until t.
func (c *conn) setDeadline(t time.Time) {
	c.deadline = t
	if c.nc != nil {
		_ = c.nc.SetDeadline(t)
	}
}

func (c *conn) close() {
	if c.nc != nil {
		c.nc.Close()
		c.nc = nil
	}
}

// readResponse reads one response from br into buf and checks that its
// status is 200 and its body is want. It reports whether the connection
// may be reused. It reads Content-Length and chunked bodies; anything else
// is an error, since neither server under test sends it for this request.
func readResponse(br *bufio.Reader, buf, want []byte) (keepAlive bool, err error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return false, err
	}
	if !bytes.HasPrefix(line, []byte("HTTP/1.1 ")) {
		return false, fmt.Errorf("%w: status line %q", errFraming, bytes.TrimSpace(line))
	}
	if !bytes.HasPrefix(line[len("HTTP/1.1 "):], []byte("200 ")) {
		return false, fmt.Errorf("%w: %s", errStatus, bytes.TrimSpace(line))
	}
	length, chunked, keepAlive := -1, false, true
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return false, err
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return false, fmt.Errorf("%w: header %q", errFraming, line)
		}
		value = bytes.TrimSpace(value)
		switch {
		case asciiEqualFold(name, "content-length"):
			n, err := strconv.ParseUint(string(value), 10, 31) // does not allocate: the conversion stays on the stack
			if err != nil {
				return false, fmt.Errorf("%w: Content-Length %q", errFraming, value)
			}
			length = int(n)
		case asciiEqualFold(name, "transfer-encoding"):
			chunked = asciiEqualFold(value, "chunked")
			if !chunked {
				return false, fmt.Errorf("%w: Transfer-Encoding %q", errFraming, value)
			}
		case asciiEqualFold(name, "connection"):
			keepAlive = !asciiEqualFold(value, "close")
		}
	}
	var n int
	switch {
	case chunked:
		n, err = readChunked(br, buf)
	case length < 0:
		return false, fmt.Errorf("%w: neither Content-Length nor chunked", errFraming)
	case length > len(buf):
		return false, fmt.Errorf("%w: body of %d bytes", errFraming, length)
	default:
		n, err = io.ReadFull(br, buf[:length])
	}
	if err != nil {
		return false, err
	}
	if !bytes.Equal(buf[:n], want) {
		return false, fmt.Errorf("%w: %d bytes, want %d", errBody, n, len(want))
	}
	return keepAlive, nil
}

// readChunked reads a chunked body into buf and returns its length.
func readChunked(br *bufio.Reader, buf []byte) (int, error) {
	n := 0
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return 0, err
		}
		line = bytes.TrimRight(line, "\r\n")
		if i := bytes.IndexByte(line, ';'); i >= 0 {
			line = line[:i] // chunk extensions
		}
		size, err := strconv.ParseUint(string(bytes.TrimSpace(line)), 16, 31)
		if err != nil {
			return 0, fmt.Errorf("%w: chunk size %q", errFraming, line)
		}
		if size == 0 {
			break
		}
		if n+int(size) > len(buf) {
			return 0, fmt.Errorf("%w: body over %d bytes", errFraming, len(buf))
		}
		if _, err := io.ReadFull(br, buf[n:n+int(size)]); err != nil {
			return 0, err
		}
		n += int(size)
		if err := expectCRLF(br); err != nil {
			return 0, err
		}
	}
	for { // trailers, up to the empty line
		line, err := br.ReadSlice('\n')
		if err != nil {
			return 0, err
		}
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			return n, nil
		}
	}
}

func expectCRLF(br *bufio.Reader) error {
	var crlf [2]byte
	if _, err := io.ReadFull(br, crlf[:]); err != nil {
		return err
	}
	if crlf != [2]byte{'\r', '\n'} {
		return fmt.Errorf("%w: chunk not followed by CRLF", errFraming)
	}
	return nil
}

func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

// tally is what the connections of one measurement counted.
type tally struct {
	requests int64 // answered with 200 and the expected body
	errors   int64
	firstErr error
	hist     histogram
}

// loop drives conns in a closed loop until the deadline or until stop is
// set: each connection sends its request as soon as the previous answer
// has arrived. It returns what they counted and when the last one
// finished.
func loop(conns []*conn, req *request, until time.Time, stop *atomic.Bool) (*tally, time.Time) {
	tallies := make([]tally, len(conns))
	var wg sync.WaitGroup
	for i, c := range conns {
		c.setDeadline(until.Add(10 * time.Second))
		wg.Go(func() { drive(c, req, until, stop, &tallies[i]) })
	}
	wg.Wait()
	end := time.Now()
	total := &tally{}
	for i := range tallies {
		t := &tallies[i]
		total.requests += t.requests
		total.errors += t.errors
		if total.firstErr == nil {
			total.firstErr = t.firstErr
		}
		total.hist.merge(&t.hist)
	}
	return total, end
}

func drive(c *conn, req *request, until time.Time, stop *atomic.Bool, t *tally) {
	for !stop.Load() {
		start := time.Now()
		if !start.Before(until) {
			return
		}
		if err := c.do(req); err != nil {
			t.errors++
			if t.firstErr == nil {
				t.firstErr = err
			}
			time.Sleep(10 * time.Millisecond) // a refusing server must not turn this into a busy loop
			continue
		}
		t.hist.record(time.Since(start))
		t.requests++
	}
}
