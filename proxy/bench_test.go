package proxy_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"syscall"
	"testing"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/proxy"
)

const (
	benchRequest  = `{"jsonrpc":"2.0","id":42,"method":"tools/call","params":{"name":"search_docs","arguments":{"query":"rotate api keys","limit":5},"_meta":{"progressToken":"p-42"}}}`
	benchResponse = `{"jsonrpc":"2.0","id":42,"result":{"content":[{"type":"text","text":"Found 2 documents: keys.md (Rotating API keys: use mcpgate keys rotate KEYID --grace 24h), security.md (Key storage)."}],"structuredContent":{"hits":[{"id":"keys.md","score":0.93},{"id":"security.md","score":0.71}]},"isError":false}}`
)

// benchPool gives the bare reverse proxy pooled buffers, as mcpgate has.
type benchPool struct{ p sync.Pool }

func (b *benchPool) Get() []byte  { return *(b.p.Get().(*[]byte)) }
func (b *benchPool) Put(v []byte) { b.p.Put(&v) }

// BenchmarkProxy compares requests/s through NewHTTP with a bare
// httputil.ReverseProxy using the same Transport settings, both in front of
// the same upstream answering a small tools/call.
func BenchmarkProxy(b *testing.B) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, benchResponse)
	}))
	defer upstream.Close()
	target, _ := url.Parse(upstream.URL + "/mcp")

	pool := &benchPool{p: sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}}
	bare := &httputil.ReverseProxy{
		Rewrite:       func(pr *httputil.ProxyRequest) { pr.SetURL(target); pr.Out.URL.Path = target.Path },
		Transport:     proxy.NewTransport(),
		FlushInterval: -1,
		BufferPool:    pool,
	}
	mcpgateProxy, err := proxy.NewHTTP(target.String(), &proxy.Options{Transport: proxy.NewTransport(), Policy: testPolicy})
	if err != nil {
		b.Fatal(err)
	}
	// Both get the principal the gateway's authentication would have set.
	pr := principals["tok-alice"]
	withPrincipal := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h.ServeHTTP(w, r.WithContext(mcpgate.WithPrincipal(r.Context(), pr)))
		})
	}

	for _, bc := range []struct {
		name string
		h    http.Handler
	}{
		{"bare", withPrincipal(bare)},
		{"mcpgate", withPrincipal(mcpgateProxy)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			front := httptest.NewServer(bc.h)
			defer front.Close()
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256, MaxIdleConns: 256}}
			body := []byte(benchRequest)
			b.ReportAllocs()
			cpu0 := cpuTime()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				buf := make([]byte, 4096)
				for pb.Next() {
					req, _ := http.NewRequest(http.MethodPost, front.URL, bytes.NewReader(body))
					req.Header.Set("Content-Type", "application/json")
					req.Header.Set("Accept", "application/json, text/event-stream")
					req.Header.Set("Authorization", "Bearer mcpg_benchmark")
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
			b.StopTimer()
			// CPU time per request (client, proxy and upstream together) is
			// what requests/s on saturated cores is the inverse of, and unlike
			// wall time it holds still when other processes share the machine.
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
			client.CloseIdleConnections()
		})
	}
}

// cpuTime returns the user and system CPU time this process has used, in ns.
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
