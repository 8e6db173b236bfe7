package oauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate"
)

func TestCheckDialAddress(t *testing.T) {
	for _, tc := range []struct {
		addr          string
		allowLoopback bool
		ok            bool
	}{
		{"169.254.169.254:80", false, false}, // cloud metadata
		{"169.254.169.254:443", true, false},
		{"10.0.0.1:443", false, false},
		{"172.16.5.4:443", false, false},
		{"192.168.1.1:443", false, false},
		{"127.0.0.1:443", false, false},
		{"127.0.0.1:443", true, true},
		{"[::1]:443", false, false},
		{"[::1]:443", true, true},
		{"0.0.0.0:443", true, false},
		{"[::]:443", true, false},
		{"100.64.0.1:443", false, false}, // CGNAT
		{"224.0.0.1:443", false, false},  // multicast
		{"[fd00::1]:443", false, false},  // unique local
		{"[fe80::1]:443", false, false},  // link-local
		{"[::ffff:169.254.169.254]:443", false, false},
		{"[::ffff:10.0.0.1]:443", false, false},
		{"[64:ff9b::a9fe:a9fe]:443", false, false}, // NAT64 of 169.254.169.254
		{"255.255.255.255:443", false, false},
		{"93.184.216.34:443", false, true},
		{"[2606:4700::1111]:443", false, true},
		{"not-an-address", false, false},
	} {
		err := checkDialAddress(tc.addr, tc.allowLoopback)
		if (err == nil) != tc.ok {
			t.Errorf("checkDialAddress(%q, %v) = %v, want ok=%v", tc.addr, tc.allowLoopback, err, tc.ok)
		}
	}
}

// TestCIMDBlockedAddresses: metadata URLs naming or resolving to internal
// addresses are never connected to.
func TestCIMDBlockedAddresses(t *testing.T) {
	e := newEnv(t, nil)
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("CIMD fetch reached a loopback server: %s", r.URL)
	}))
	defer target.Close()
	port := target.Listener.Addr().(interface{ String() string }).String()
	port = port[strings.LastIndex(port, ":")+1:]
	for _, id := range []string{
		"https://169.254.169.254/latest/meta-data",
		"https://10.0.0.1/client.json",
		"https://127.0.0.1:" + port + "/client.json",
		"https://localhost:" + port + "/client.json", // resolves to loopback
		"https://[::1]:" + port + "/client.json",
	} {
		t.Run(id, func(t *testing.T) {
			_, err := e.srv.cimd.resolve(t.Context(), id)
			if !errors.Is(err, ErrBlockedAddress) {
				t.Errorf("resolve = %v, want ErrBlockedAddress", err)
			}
			v := url.Values{"response_type": {"code"}, "client_id": {id}, "redirect_uri": {"http://127.0.0.1/cb"},
				"code_challenge": {pkce(testVerifier)}, "code_challenge_method": {"S256"}}
			if resp := e.authorize(v); resp.StatusCode != http.StatusBadRequest {
				t.Errorf("authorize: %d, want 400", resp.StatusCode)
			}
		})
	}
	if got := e.alerts.list(); !slices.Contains(got, "oauth.cimd_blocked") {
		t.Errorf("alerts = %v, want oauth.cimd_blocked", got)
	}
	// Without test mode an http client_id is not a metadata URL at all.
	if e.srv.cimd.isCIMD(target.URL + "/client.json") {
		t.Error("http loopback client_id accepted as CIMD without test mode")
	}
}

// cimdHost serves metadata documents on loopback (test mode).
type cimdHost struct {
	srv     *httptest.Server
	fetches atomic.Int32
	mu      sync.Mutex
	docs    map[string]func(base string) (int, http.Header, string)
}

func (h *cimdHost) set(path string, f func(base string) (int, http.Header, string)) {
	h.mu.Lock()
	h.docs[path] = f
	h.mu.Unlock()
}

func newCIMDHost(t *testing.T) *cimdHost {
	h := &cimdHost{docs: map[string]func(string) (int, http.Header, string){}}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.fetches.Add(1)
		h.mu.Lock()
		f, ok := h.docs[r.URL.Path]
		h.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		st, hdr, body := f("http://" + r.Host)
		for k, v := range hdr {
			w.Header()[k] = v
		}
		w.WriteHeader(st)
		fmt.Fprint(w, body)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func doc(id, redirect string) string {
	return fmt.Sprintf(`{"client_id":%q,"client_name":"Doc App","redirect_uris":[%q],"token_endpoint_auth_method":"none"}`, id, redirect)
}

func TestCIMD(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.AllowLoopbackCIMD = true })
	h := newCIMDHost(t)
	ok := func(base string) (int, http.Header, string) {
		return 200, http.Header{"Cache-Control": {"max-age=600"}}, doc(base+"/good.json", "http://127.0.0.1/cb")
	}
	h.set("/good.json", ok)
	h.set("/mismatch.json", func(base string) (int, http.Header, string) {
		return 200, nil, doc(base+"/other.json", "http://127.0.0.1/cb")
	})
	h.set("/big.json", func(base string) (int, http.Header, string) {
		return 200, nil, `{"client_id":"` + base + `/big.json","client_name":"` + strings.Repeat("x", 70<<10) + `","redirect_uris":["http://127.0.0.1/cb"]}`
	})
	h.set("/redirect.json", func(base string) (int, http.Header, string) {
		return 302, http.Header{"Location": {base + "/good.json"}}, ""
	})
	h.set("/secret.json", func(base string) (int, http.Header, string) {
		return 200, nil, `{"client_id":"` + base + `/secret.json","client_secret":"x","redirect_uris":["http://127.0.0.1/cb"]}`
	})
	h.set("/badredirect.json", func(base string) (int, http.Header, string) {
		return 200, nil, doc(base+"/badredirect.json", "http://evil.example.com/cb")
	})

	good := h.srv.URL + "/good.json"
	c := &mcpgate.Client{ID: good, RedirectURIs: []string{"http://127.0.0.1/cb"}}
	id := e.login(authorizeParams(c))
	pr, err := e.srv.PendingRequest(t.Context(), id, "")
	if err != nil || pr.ClientName != "Doc App" || pr.ClientID != good {
		t.Fatalf("PendingRequest = %+v, %v", pr, err)
	}
	tr := e.exchange(c, e.code(authorizeParams(c)), nil)
	if tr.AccessToken == "" {
		t.Fatalf("token: %s %s", tr.Error, tr.Description)
	}
	if r := e.refresh(c, tr.RefreshToken); r.AccessToken == "" {
		t.Errorf("refresh: %s", r.Error)
	}
	if n := h.fetches.Load(); n != 1 {
		t.Errorf("%d fetches, want 1 (cached per max-age)", n)
	}
	wrong := authorizeParams(c)
	wrong.Set("redirect_uri", "http://127.0.0.1/other")
	if resp := e.authorize(wrong); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("redirect not in the document: %d, want 400", resp.StatusCode)
	}

	for _, path := range []string{"/mismatch.json", "/big.json", "/redirect.json", "/secret.json", "/badredirect.json", "/missing.json"} {
		t.Run(path, func(t *testing.T) {
			bad := &mcpgate.Client{ID: h.srv.URL + path, RedirectURIs: []string{"http://127.0.0.1/cb"}}
			if resp := e.authorize(authorizeParams(bad)); resp.StatusCode != http.StatusBadRequest {
				t.Errorf("authorize: %d, want 400", resp.StatusCode)
			}
		})
	}

	// Revoking a CIMD client refuses it from then on, and its tokens.
	if err := e.srv.RevokeClient(t.Context(), good); err != nil {
		t.Fatal(err)
	}
	if _, err := e.verify(tr.AccessToken); err == nil {
		t.Error("token of a revoked CIMD client verifies")
	}
	if resp := e.authorize(authorizeParams(c)); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("revoked CIMD client: authorize %d, want 400", resp.StatusCode)
	}
}

func TestCacheTTL(t *testing.T) {
	for cc, want := range map[string]string{
		"":                     "5m0s",
		"max-age=600":          "10m0s",
		"public, max-age=5":    "1m0s",
		"max-age=99999999":     "24h0m0s",
		"no-store":             "1m0s",
		"max-age=garbage":      "5m0s",
		"no-cache, max-age=60": "1m0s",
	} {
		if got := cacheTTL(cc).String(); got != want {
			t.Errorf("cacheTTL(%q) = %s, want %s", cc, got, want)
		}
	}
}

func FuzzParseCIMD(f *testing.F) {
	f.Add("https://a.example/c.json", []byte(`{"client_id":"https://a.example/c.json","redirect_uris":["https://a.example/cb"]}`))
	f.Add("https://a.example/c.json", []byte(`{"client_id":1}`))
	f.Add("https://a.example/c.json", []byte(`[]`))
	f.Fuzz(func(t *testing.T, id string, body []byte) {
		c, err := parseCIMD(id, body, []string{"cursor"})
		if err != nil {
			return
		}
		if c.ID != id || len(c.RedirectURIs) == 0 {
			t.Fatalf("accepted %+v", c)
		}
		for _, u := range c.RedirectURIs {
			if validRedirectURI(u, []string{"cursor"}) != nil {
				t.Fatalf("accepted redirect %q", u)
			}
		}
	})
}

func FuzzRedirectAllowed(f *testing.F) {
	f.Add("http://127.0.0.1/cb", "http://127.0.0.1:8080/cb")
	f.Add("https://a.example/cb", "https://a.example/cb")
	f.Add("https://a.example/cb", "https://a.example/cb/../cb")
	f.Fuzz(func(t *testing.T, registered, requested string) {
		if !redirectAllowed([]string{registered}, requested) || registered == requested {
			return
		}
		// Only a loopback port may differ.
		r, err1 := url.Parse(registered)
		q, err2 := url.Parse(requested)
		if err1 != nil || err2 != nil || q.Scheme != "http" || !isLoopbackHost(q.Hostname()) ||
			r.Hostname() != q.Hostname() || r.EscapedPath() != q.EscapedPath() || r.RawQuery != q.RawQuery {
			t.Fatalf("%q allowed for registered %q", requested, registered)
		}
	})
}

// TestCIMDFetchesBounded: unauthenticated /authorize requests cannot make
// the server fetch metadata documents at will. Concurrent requests for one
// URL share a fetch, a failed fetch is remembered for a while, fetches per
// requesting address are rate limited, and a document is kept as long as
// its Cache-Control allows, within bounds.
func TestCIMDFetchesBounded(t *testing.T) {
	const calls = 100
	authorizeAll := func(e *env, ids func(i int) string, concurrent bool) {
		var wg sync.WaitGroup
		for i := range calls {
			v := url.Values{"response_type": {"code"}, "client_id": {ids(i)}, "redirect_uri": {"http://127.0.0.1/cb"},
				"code_challenge": {pkce(testVerifier)}, "code_challenge_method": {"S256"}}
			if !concurrent {
				e.authorize(v)
				continue
			}
			wg.Go(func() { e.authorize(v) })
		}
		wg.Wait()
	}

	t.Run("concurrent requests share one fetch", func(t *testing.T) {
		e := newEnv(t, func(o *Options) { o.AllowLoopbackCIMD = true })
		h := newCIMDHost(t)
		release := make(chan struct{})
		h.set("/slow.json", func(base string) (int, http.Header, string) {
			<-release
			return 200, nil, doc(base+"/slow.json", "http://127.0.0.1/cb")
		})
		done := make(chan struct{})
		go func() {
			authorizeAll(e, func(int) string { return h.srv.URL + "/slow.json" }, true)
			close(done)
		}()
		for h.fetches.Load() == 0 {
			time.Sleep(time.Millisecond)
		}
		time.Sleep(200 * time.Millisecond) // let the other requests arrive
		close(release)
		<-done
		if n := h.fetches.Load(); n != 1 {
			t.Errorf("%d concurrent requests caused %d fetches, want 1", calls, n)
		}
	})

	t.Run("a failure is remembered", func(t *testing.T) {
		e := newEnv(t, func(o *Options) { o.AllowLoopbackCIMD = true })
		h := newCIMDHost(t)
		authorizeAll(e, func(int) string { return h.srv.URL + "/missing.json" }, false)
		if n := h.fetches.Load(); n != 1 {
			t.Errorf("%d requests for a missing document caused %d fetches, want 1", calls, n)
		}
		h.set("/missing.json", func(base string) (int, http.Header, string) {
			return 200, nil, doc(base+"/missing.json", "http://127.0.0.1/cb")
		})
		e.clock.Add(cimdFailureTTL + time.Second)
		c := &mcpgate.Client{ID: h.srv.URL + "/missing.json", RedirectURIs: []string{"http://127.0.0.1/cb"}}
		e.login(authorizeParams(c)) // fetched again once the failure is forgotten
	})

	t.Run("fetches per address are limited", func(t *testing.T) {
		e := newEnv(t, func(o *Options) { o.AllowLoopbackCIMD = true })
		h := newCIMDHost(t)
		authorizeAll(e, func(i int) string { return fmt.Sprintf("%s/c%d.json", h.srv.URL, i) }, false)
		if n := h.fetches.Load(); n > cimdFetchesPerMinute {
			t.Errorf("%d requests for distinct documents caused %d fetches, want at most %d", calls, n, cimdFetchesPerMinute)
		}
		c := &mcpgate.Client{ID: h.srv.URL + "/next.json", RedirectURIs: []string{"http://127.0.0.1/cb"}}
		if resp := e.authorize(authorizeParams(c)); resp.StatusCode != http.StatusTooManyRequests {
			t.Errorf("authorize over the limit: %d, want 429", resp.StatusCode)
		}
		// Another address has its own budget.
		h.set("/next.json", func(base string) (int, http.Header, string) {
			return 200, nil, doc(base+"/next.json", "http://127.0.0.1/cb")
		})
		ctx := context.WithValue(t.Context(), requesterKey{}, "203.0.113.7")
		if _, err := e.srv.cimd.resolve(ctx, c.ID); err != nil {
			t.Errorf("fetch for another address: %v", err)
		}
	})

	t.Run("Cache-Control max-age within bounds", func(t *testing.T) {
		e := newEnv(t, func(o *Options) { o.AllowLoopbackCIMD = true })
		h := newCIMDHost(t)
		h.set("/c.json", func(base string) (int, http.Header, string) {
			return 200, http.Header{"Cache-Control": {"max-age=120"}}, doc(base+"/c.json", "http://127.0.0.1/cb")
		})
		c := &mcpgate.Client{ID: h.srv.URL + "/c.json", RedirectURIs: []string{"http://127.0.0.1/cb"}}
		e.login(authorizeParams(c))
		e.clock.Add(119 * time.Second)
		e.login(authorizeParams(c))
		if n := h.fetches.Load(); n != 1 {
			t.Errorf("within max-age: %d fetches, want 1", n)
		}
		e.clock.Add(2 * time.Second)
		e.login(authorizeParams(c))
		if n := h.fetches.Load(); n != 2 {
			t.Errorf("after max-age: %d fetches, want 2", n)
		}
	})
}
