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
// Events are written byte for byte as received unless f changes their data.
func copySSE(w io.Writer, rc *http.ResponseController, r io.Reader, f *listFilter, max int) error {
	br := bufio.NewReaderSize(r, 32<<10)
	var event bytes.Buffer // the raw lines of the current event
	for {
		line, err := readLine(br, max)
		if len(line) > 0 {
			event.Write(line)
			if isBlank(line) {
				if werr := writeEvent(w, event.Bytes(), f); werr != nil {
					return werr
				}
				event.Reset()
				if ferr := rc.Flush(); ferr != nil && !errors.Is(ferr, http.ErrNotSupported) {
					return ferr
				}
			} else if event.Len() > max {
				return errEventTooLarge
			}
		}
		if err != nil {
			if event.Len() > 0 { // an unterminated last event: pass it on as is
				if werr := writeEvent(w, event.Bytes(), f); werr != nil {
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

// readLine returns the next line including its end, or what is left at EOF.
func readLine(br *bufio.Reader, max int) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if err != bufio.ErrBufferFull {
		return line, err
	}
	long := append([]byte(nil), line...)
	for err == bufio.ErrBufferFull {
		if len(long) > max {
			return nil, errEventTooLarge
		}
		line, err = br.ReadSlice('\n')
		long = append(long, line...)
	}
	return long, err
}

func isBlank(line []byte) bool {
	return len(line) == 1 && line[0] == '\n' || len(line) == 2 && line[0] == '\r' && line[1] == '\n'
}

// writeEvent writes one raw event (its lines and the blank line ending it),
// filtering its data when it answers a list call.
func writeEvent(w io.Writer, ev []byte, f *listFilter) error {
	if !f.active() {
		_, err := w.Write(ev)
		return err
	}
	// Split the event into its data and the other fields.
	var data []byte
	hasData := false
	var other [][]byte
	rest := ev
	for len(rest) > 0 {
		i := bytes.IndexByte(rest, '\n')
		var line []byte
		if i < 0 {
			line, rest = rest, nil
		} else {
			line, rest = rest[:i+1], rest[i+1:]
		}
		content := bytes.TrimRight(line, "\r\n")
		if v, ok := bytes.CutPrefix(content, []byte("data:")); ok {
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
