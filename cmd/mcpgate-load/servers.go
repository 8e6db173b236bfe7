package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"time"

	"github.com/mcpgate/mcpgate/proxy"
)

// The request and the upstream's answer, the same as the in-process
// BenchmarkGateway in package gateway: a tools/call and a fixed result.
const (
	callRequest  = `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"message":"hello from the benchmark"}}}`
	callResponse = `{"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"hello from the benchmark"}]}}`
)

// roles are the hidden subcommands that run the upstream and the bare proxy
// as processes of their own. Each prints "listening on ADDR" once it
// serves, and runs until it is signalled.
var roles = map[string]func(args []string, stdout, stderr io.Writer) int{
	"upstream":   serveUpstream,
	"bare-proxy": serveBareProxy,
}

var listeningRe = regexpMust(`^listening on (\S+)$`)

// upstreamHandler answers every request with callResponse.
func upstreamHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, callResponse)
	})
}

// bareProxy is httputil.ReverseProxy set up as BenchmarkGateway sets it
// up: mcpgate's upstream Transport, no buffering of the response, and a
// pool of 32 KiB copy buffers.
func bareProxy(target *url.URL) http.Handler {
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.URL.Path = target.Path
		},
		Transport:     proxy.NewTransport(),
		FlushInterval: -1,
		BufferPool:    &bufferPool{p: sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}},
	}
}

type bufferPool struct{ p sync.Pool }

func (b *bufferPool) Get() []byte  { return *(b.p.Get().(*[]byte)) }
func (b *bufferPool) Put(x []byte) { b.p.Put(&x) }

func serveUpstream(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("upstream", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:0", "address")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	return serveRole(*listen, upstreamHandler(), stdout, stderr)
}

func serveBareProxy(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bare-proxy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:0", "address")
	upstream := fs.String("upstream", "", "upstream URL")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	target, err := url.Parse(*upstream)
	if err != nil || target.Host == "" {
		fmt.Fprintf(stderr, "bare-proxy: -upstream %q is not a URL\n", *upstream)
		return exitUsage
	}
	return serveRole(*listen, bareProxy(target), stdout, stderr)
}

// serveRole serves h with the server timeouts of mcpgate serve.
func serveRole(listen string, h http.Handler, stdout, stderr io.Writer) int {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitError
	}
	fmt.Fprintf(stdout, "listening on %s\n", ln.Addr())
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	fmt.Fprintln(stderr, srv.Serve(ln))
	return exitError
}
