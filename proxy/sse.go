package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
)

// errEventTooLarge means an SSE event that had to be filtered exceeded
// Options.MaxResponseBytes.
var errEventTooLarge = errors.New("proxy: SSE event too large")

// copySSE copies a text/event-stream from r to w event by event, flushing
// after each, and passes the data of each event through f when f is active.
// Events are written byte for byte as received unless f changes their data;
// an event f withholds is dropped.
//
// Lines end in "\r\n", "\n" or a lone "\r", as the SSE specification allows
// and as clients read them.
func copySSE(w io.Writer, rc *http.ResponseController, r io.Reader, f *listFilter, max int) error {
	lr := lineReader{br: bufio.NewReaderSize(r, 32<<10), max: max}
	var event bytes.Buffer // the raw lines of the current event
	var ends []int         // where each line of event ends
	first := true
	for {
		line, err := lr.next()
		if len(line) > 0 {
			if first {
				// A client ignores a byte order mark at the start of the
				// stream; so must the filter, or it would not see the field.
				line = bytes.TrimPrefix(line, []byte("\ufeff"))
				first = false
			}
			event.Write(line)
			ends = append(ends, event.Len())
			if isBlank(line) {
				if werr := writeEvent(w, event.Bytes(), ends, f); werr != nil {
					return werr
				}
				event.Reset()
				ends = ends[:0]
				if ferr := rc.Flush(); ferr != nil && !errors.Is(ferr, http.ErrNotSupported) {
					return ferr
				}
			} else if event.Len() > max {
				return errEventTooLarge
			}
		}
		if err != nil {
			if event.Len() > 0 { // an unterminated last event: pass it on as is
				if werr := writeEvent(w, event.Bytes(), ends, f); werr != nil {
					return werr
				}
				_ = rc.Flush()
			}
			if err == io.EOF {
				return nil
			}
			return err
		}
	}
}

// lineReader splits a stream into lines ending in "\r\n", "\n" or "\r".
type lineReader struct {
	br  *bufio.Reader
	max int
	// skipLF is set after a line ended in '\r' that was the last byte
	// buffered: a '\n' read next belongs to that line's end. Not waiting
	// for it keeps the event from being held back until more data comes.
	skipLF bool
}

// next returns the next line including its end, or what is left at EOF.
func (lr *lineReader) next() ([]byte, error) {
	var long []byte
	for {
		if _, err := lr.br.Peek(1); err != nil {
			return long, err
		}
		buf, _ := lr.br.Peek(lr.br.Buffered())
		if lr.skipLF {
			lr.skipLF = false
			if buf[0] == '\n' {
				_, _ = lr.br.Discard(1)
				continue
			}
		}
		i := bytes.IndexAny(buf, "\r\n")
		if i < 0 {
			long = append(long, buf...)
			_, _ = lr.br.Discard(len(buf))
			if len(long) > lr.max {
				return nil, errEventTooLarge
			}
			continue
		}
		end := i + 1
		if buf[i] == '\r' {
			if i+1 < len(buf) {
				if buf[i+1] == '\n' {
					end++
				}
			} else {
				lr.skipLF = true
			}
		}
		long = append(long, buf[:end]...)
		_, _ = lr.br.Discard(end)
		return long, nil
	}
}

// isBlank reports whether line is an empty line, which ends an event.
func isBlank(line []byte) bool {
	switch string(line) {
	case "\n", "\r", "\r\n":
		return true
	}
	return false
}

// writeEvent writes one raw event (its lines, which end at ends, and the
// blank line ending it), filtering its data when it answers a list call.
func writeEvent(w io.Writer, ev []byte, ends []int, f *listFilter) error {
	if !f.active() {
		_, err := w.Write(ev)
		return err
	}
	// Split the event into its data and the other fields.
	var data []byte
	hasData := false
	var other [][]byte
	start := 0
	for _, end := range ends {
		line := ev[start:end]
		start = end
		content := bytes.TrimRight(line, "\r\n")
		v, ok := bytes.CutPrefix(content, []byte("data"))
		if ok && (len(v) == 0 || v[0] == ':') {
			// "data" alone is the data field with an empty value.
			v, _ = bytes.CutPrefix(v, []byte(":"))
			v, _ = bytes.CutPrefix(v, []byte(" "))
			if hasData {
				data = append(data, '\n')
			}
			data, hasData = append(data, v...), true
			continue
		}
		if len(content) > 0 {
			other = append(other, line)
		}
	}
	if !hasData {
		_, err := w.Write(ev)
		return err
	}
	out, err := f.message(data)
	if errors.Is(err, errWithheld) {
		if f.logger != nil {
			f.logger.Warn("proxy: upstream SSE event withheld", "err", err)
		}
		return nil
	}
	if err != nil {
		return err
	}
	if bytes.Equal(out, data) {
		_, err := w.Write(ev)
		return err
	}
	var b bytes.Buffer
	for _, l := range other {
		b.Write(l)
		if l[len(l)-1] != '\n' {
			// A line ended by a lone '\r' (or by EOF) ends in "\r\n" (or
			// "\n") here, so that it cannot join the data that follows.
			b.WriteByte('\n')
		}
	}
	for _, l := range bytes.Split(out, []byte("\n")) {
		b.WriteString("data: ")
		b.Write(l)
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	_, err = w.Write(b.Bytes())
	return err
}
