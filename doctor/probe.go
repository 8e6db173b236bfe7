package doctor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// maxBody bounds what doctor reads of any response: metadata documents are
// a few kilobytes.
const maxBody = 1 << 20

// response is what one request got: a status and headers, or an error.
type response struct {
	url    string
	status int
	header http.Header
	body   []byte
	err    error
}

func (r *response) ok() bool { return r.err == nil && r.status == http.StatusOK }

// describe says in a few words what the request got.
func (r *response) describe() string {
	switch {
	case r.err != nil:
		return r.err.Error()
	case r.status >= 300 && r.status < 400:
		loc := r.header.Get("Location")
		if loc == "" {
			return fmt.Sprintf("%d without a Location", r.status)
		}
		base, err1 := url.Parse(r.url)
		to, err2 := url.Parse(loc)
		if err1 == nil && err2 == nil && origin(base.ResolveReference(to)) == origin(base) {
			return fmt.Sprintf("%d redirect to %s: too many redirects", r.status, loc)
		}
		return fmt.Sprintf("%d redirect to %s, another origin: not followed", r.status, loc)
	default:
		return fmt.Sprintf("%d", r.status)
	}
}

// prober sends doctor's requests, each bounded in time and size, following
// redirects only within the origin they started at, and remembers what it
// got so that the client families share one request per URL.
type prober struct {
	ctx    context.Context
	client *http.Client
	cache  map[string]*response
}

func newProber(ctx context.Context, o Options) *prober {
	return &prober{
		ctx: ctx,
		client: &http.Client{
			Transport: o.Transport,
			Timeout:   o.Timeout,
			CheckRedirect: func(req *http.Request, via []*http.Request) error {
				if len(via) >= 5 {
					return http.ErrUseLastResponse
				}
				if origin(req.URL) != origin(via[0].URL) {
					return http.ErrUseLastResponse
				}
				return nil
			},
		},
		cache: map[string]*response{},
	}
}

// do sends one request, or returns the answer to the same request sent
// before.
func (p *prober) do(method, u string, header http.Header, body string) *response {
	key := method + " " + u + " " + fmt.Sprint(header) + " " + body
	if r, ok := p.cache[key]; ok {
		return r
	}
	r := p.send(method, u, header, body)
	p.cache[key] = r
	return r
}

func (p *prober) send(method, u string, header http.Header, body string) *response {
	r := &response{url: u}
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(p.ctx, method, u, rd)
	if err != nil {
		r.err = fmt.Errorf("bad URL: %v", err)
		return r
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", "mcpgate-doctor")
	}
	resp, err := p.client.Do(req)
	if err != nil {
		r.err = errors.New(networkError(err))
		return r
	}
	defer resp.Body.Close()
	r.status, r.header = resp.StatusCode, resp.Header
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		r.err = fmt.Errorf("reading the answer: %s", networkError(err))
		return r
	}
	if len(b) > maxBody {
		r.err = fmt.Errorf("answer larger than %d bytes", maxBody)
		return r
	}
	r.body = b
	return r
}

// networkError shortens Go's error chain to what a person needs.
func networkError(err error) string {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "no answer in time (timeout)"
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}

func (p *prober) get(u string, header http.Header) *response {
	if header == nil {
		header = http.Header{"Accept": {"application/json"}}
	}
	return p.do(http.MethodGet, u, header, "")
}

func origin(u *url.URL) string { return strings.ToLower(u.Scheme + "://" + u.Host) }

// isLoopback reports whether host (a name or an address) is this machine
// only.
func isLoopback(host string) bool {
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// secureURL returns "" when u may carry credentials (https, or http on
// loopback as the MCP specification allows), else why not.
func secureURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fmt.Sprintf("%q is not an absolute URL", raw)
	}
	switch {
	case u.Scheme == "https":
		return ""
	case u.Scheme == "http" && isLoopback(u.Hostname()):
		return ""
	case u.Scheme == "http":
		return raw + " is plain http on a host other than loopback"
	}
	return fmt.Sprintf("%s is not an http(s) URL", raw)
}
