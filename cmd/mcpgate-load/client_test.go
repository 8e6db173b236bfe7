package main

import (
	"bufio"
	"errors"
	"strings"
	"testing"
)

func TestReadResponse(t *testing.T) {
	const want = `{"ok":true}`
	tests := []struct {
		name     string
		resp     string
		wantKeep bool
		wantErr  error // nil, or the kind of error
	}{
		{"content-length", "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n" + want, true, nil},
		{"header case", "HTTP/1.1 200 OK\r\ncontent-LENGTH:11\r\n\r\n" + want, true, nil},
		{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{\"ok\r\n7;ext=1\r\n\":true}\r\n0\r\n\r\n", true, nil},
		{"chunked with trailer", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nb\r\n" + want + "\r\n0\r\nX-T: 1\r\n\r\n", true, nil},
		{"connection close", "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 11\r\n\r\n" + want, false, nil},
		{"401", "HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n", false, errStatus},
		{"2000 is not 200", "HTTP/1.1 2000 OK\r\nContent-Length: 11\r\n\r\n" + want, false, errStatus},
		{"other body", "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n{\"ok\":nope}", false, errBody},
		{"shorter body", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}", false, errBody},
		{"no length", "HTTP/1.1 200 OK\r\n\r\n" + want, false, errFraming},
		{"bad length", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", false, errFraming},
		{"too long", "HTTP/1.1 200 OK\r\nContent-Length: 999999\r\n\r\n", false, errFraming},
		{"bad chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", false, errFraming},
		{"gzip", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", false, errFraming},
		{"HTTP/1.0", "HTTP/1.0 200 OK\r\nContent-Length: 11\r\n\r\n" + want, false, errFraming},
		{"cut short", "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n{\"ok\"", false, errors.New("EOF")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keep, err := readResponse(bufio.NewReader(strings.NewReader(tt.resp)), make([]byte, 1024), []byte(want))
			switch {
			case tt.wantErr == nil && err != nil:
				t.Fatalf("error %v", err)
			case tt.wantErr != nil && err == nil:
				t.Fatalf("no error, want %v", tt.wantErr)
			case tt.wantErr != nil && tt.wantErr.Error() != "EOF" && !errors.Is(err, tt.wantErr):
				t.Fatalf("error %v, want %v", err, tt.wantErr)
			}
			if err == nil && keep != tt.wantKeep {
				t.Errorf("keep-alive %v, want %v", keep, tt.wantKeep)
			}
		})
	}
}

// The client must not allocate per request, or its garbage collection
// would take CPU from the servers it measures.
func TestReadResponseAllocs(t *testing.T) {
	const want = `{"jsonrpc":"2.0","id":7}`
	resp := "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 24\r\nDate: Mon, 01 Jan 2026 00:00:00 GMT\r\n\r\n" + want
	sr := strings.NewReader(resp)
	br := bufio.NewReader(sr)
	buf := make([]byte, 1024)
	allocs := testing.AllocsPerRun(100, func() {
		sr.Reset(resp)
		br.Reset(sr)
		if _, err := readResponse(br, buf, []byte(want)); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per response, want 0", allocs)
	}
}
