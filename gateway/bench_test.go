package gateway

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/apikey"
	"github.com/mcpgate/mcpgate/proxy"
	"github.com/mcpgate/mcpgate/sqlite"
)

const (
	benchRequest  = `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"message":"hello from the benchmark"}}}`
	benchResponse = `{"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"hello from the benchmark"}]}}`
)

type bytePool struct{ p sync.Pool }

func (b *bytePool) Get() []byte  { return *(b.p.Get().(*[]byte)) }
func (b *bytePool) Put(x []byte) { b.p.Put(&x) }

// BenchmarkGateway measures the whole gateway in front of an HTTP upstream
// (API key check, body bound and JSON-RPC parse, scope policy, audit to
// SQLite, proxy) against a bare httputil.ReverseProxy in the same run,
// given the same Transport and a BufferPool. The ratio of the two is
// mcpgate's cost with authentication on; BenchmarkProxy in package proxy
// measures the proxy alone.
//
//	go test -run '^$' -bench BenchmarkGateway -benchmem ./gateway/
func BenchmarkGateway(b *testing.B) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, benchResponse)
	}))
	defer upstream.Close()
	target, _ := url.Parse(upstream.URL + "/mcp")

	ctx := context.Background()
	store, err := sqlite.Open(ctx, b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	key, id, hash, err := apikey.Generate()
	if err != nil {
		b.Fatal(err)
	}
	if err := store.CreateKey(ctx, &mcpgate.APIKey{ID: id, Name: "bench", Subject: "bench", Scopes: []string{"docs:read"}, Hash: hash, CreatedAt: time.Now()}); err != nil {
		b.Fatal(err)
	}
	up, err := proxy.NewHTTP(target.String(), &proxy.Options{Transport: proxy.NewTransport()})
	if err != nil {
		b.Fatal(err)
	}
	front := httptest.NewUnstartedServer(nil)
	gw, err := New(store, "http://"+front.Listener.Addr().String()+"/mcp", &Options{
		Logger:    slog.New(slog.DiscardHandler),
		Upstreams: []Upstream{{Name: "bench", Path: "/mcp", Handler: up}},
	})
	if err != nil {
		b.Fatal(err)
	}
	defer gw.Close()
	front.Config.Handler = gw.Handler()
	front.Start()
	defer front.Close()

	bare := httptest.NewServer(&httputil.ReverseProxy{
		Rewrite:       func(pr *httputil.ProxyRequest) { pr.SetURL(target); pr.Out.URL.Path = target.Path },
		Transport:     proxy.NewTransport(),
		FlushInterval: -1,
		BufferPool:    &bytePool{p: sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}},
	})
	defer bare.Close()

	for _, bc := range []struct{ name, url string }{
		{"bare", bare.URL + "/mcp"},
		{"mcpgate-apikey", front.URL + "/mcp"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256, MaxIdleConns: 256}}
			defer client.CloseIdleConnections()
			body := []byte(benchRequest)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				buf := make([]byte, 4096)
				for pb.Next() {
					req, _ := http.NewRequest(http.MethodPost, bc.url, bytes.NewReader(body))
					req.Header.Set("Content-Type", "application/json")
					req.Header.Set("Accept", "application/json, text/event-stream")
					req.Header.Set("Authorization", "Bearer "+key)
					resp, err := client.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					n, _ := io.ReadFull(resp.Body, buf)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK || n != len(benchResponse) {
						b.Errorf("status %d, %d bytes", resp.StatusCode, n)
						return
					}
				}
			})
		})
	}
}
