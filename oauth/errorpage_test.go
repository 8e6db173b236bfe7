package oauth

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// browserAuthorize sends v to /authorize as a browser does and returns the
// status, the Location header and the body.
func (e *env) browserAuthorize(v url.Values, accept string) (int, http.Header, string) {
	e.t.Helper()
	req, _ := http.NewRequest("GET", e.http.URL+PathAuthorize+"?"+v.Encode(), nil)
	req.Header.Set("Accept", accept)
	resp, err := noRedirectClient().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

const browserAccept = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"

// TestErrorPageSaysWhy: each refusal /authorize cannot redirect is a page
// in plain words, naming what the person can do, with the protocol detail
// for the developer, and never a redirect; the cause of an unusable client
// metadata document is given (to browsers and JSON callers alike) without
// the addresses its host resolved to or the dialer's own words.
func TestErrorPageSaysWhy(t *testing.T) {
	var pages []*AuthorizeFailure
	e := newEnv(t, func(o *Options) {
		o.AllowLoopbackCIMD = true
		o.ErrorPage = func(w http.ResponseWriter, r *http.Request, f *AuthorizeFailure) {
			pages = append(pages, f)
			plainErrorPage(w, r, f)
		}
	})
	h := newCIMDHost(t)
	h.set("/notjson.json", func(string) (int, http.Header, string) { return 200, nil, "<html>hello</html>" })
	h.set("/gone.json", func(string) (int, http.Header, string) { return 404, nil, "no" })
	c := e.addPublicClient("https://app.example.com/cb")
	// strict is a server outside test mode: loopback documents are refused.
	strict := newEnv(t, func(o *Options) {
		o.ErrorPage = func(w http.ResponseWriter, r *http.Request, f *AuthorizeFailure) {
			pages = append(pages, f)
			plainErrorPage(w, r, f)
		}
	})
	sc := strict.addPublicClient("https://app.example.com/cb")

	// A port nothing listens on.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	_, port, _ := net.SplitHostPort(h.srv.Listener.Addr().String())

	for _, tc := range []struct {
		name     string
		strict   bool
		edit     func(url.Values)
		status   int
		title    string
		want     []string // in the page
		wantJSON string   // in the JSON error_description
	}{
		{"unknown client", false, func(v url.Values) { v.Set("client_id", "mcpc_nope") }, 400,
			"This app is not known to this server", []string{"remove this server from it and add it again", "mcpc_nope"}, "unknown client"},
		{"missing client", false, func(v url.Values) { v.Del("client_id") }, 400,
			"This sign-in link is incomplete", []string{"Go back to the app"}, "client_id is required"},
		{"redirect not registered", false, func(v url.Values) { v.Set("redirect_uri", "https://evil.example.com/cb") }, 400,
			"This app asked to send you somewhere it did not register", []string{"evil.example.com", "redirect_uri is not registered"}, "redirect_uri is not registered"},
		{"metadata 404", false, func(v url.Values) { v.Set("client_id", h.srv.URL+"/gone.json") }, 400,
			"This app's details could not be loaded", []string{"answered HTTP 404 Not Found"}, "answered HTTP 404"},
		{"metadata not JSON", false, func(v url.Values) { v.Set("client_id", h.srv.URL+"/notjson.json") }, 400,
			"This app's details could not be loaded", []string{"not a JSON object"}, "not a JSON object"},
		{"metadata refused connection", false, func(v url.Values) { v.Set("client_id", "http://"+closed+"/client.json") }, 400,
			"This app's details could not be loaded", []string{"refused the connection"}, "refused the connection"},
		{"metadata host internal", true, func(v url.Values) { v.Set("client_id", "https://localhost:"+port+"/client.json") }, 400,
			"This app's details could not be loaded", []string{"private, loopback or reserved network address"}, "private, loopback or reserved"},
		{"metadata URL not https", false, func(v url.Values) { v.Set("client_id", "http://app.example.com/client.json") }, 400,
			"This app is not known to this server", []string{"must be https"}, "unknown client"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, v := e, authorizeParams(c)
			if tc.strict {
				e, v = strict, authorizeParams(sc)
			}
			tc.edit(v)
			n := len(pages)
			status, hdr, body := e.browserAuthorize(v, browserAccept)
			if status != tc.status || hdr.Get("Location") != "" {
				t.Fatalf("status %d, Location %q; want %d and no redirect", status, hdr.Get("Location"), tc.status)
			}
			if !strings.HasPrefix(hdr.Get("Content-Type"), "text/html") || !strings.Contains(hdr.Get("Content-Security-Policy"), "frame-ancestors 'none'") || hdr.Get("Cache-Control") != "no-store" {
				t.Errorf("headers %v", hdr)
			}
			if len(pages) != n+1 {
				t.Fatalf("Options.ErrorPage called %d times, want once", len(pages)-n)
			}
			f := pages[n]
			if f.Title != tc.title || f.What == "" || f.Todo == "" {
				t.Errorf("page %+v, want title %q with what and todo", f, tc.title)
			}
			for _, w := range append(tc.want, tc.title) {
				if !strings.Contains(body, htmlText(w)) {
					t.Errorf("page lacks %q:\n%s", w, body)
				}
			}
			if !strings.Contains(body, "<details>") {
				t.Errorf("no collapsed detail for the developer:\n%s", body)
			}
			for _, leak := range []string{"dial tcp", "connect:", "127.0.0.1:" + port + " ", "[::1]", "lookup ", "oauth:"} {
				if strings.Contains(body, leak) {
					t.Errorf("page shows %q:\n%s", leak, body)
				}
			}
			if strings.Contains(tc.name, "internal") && (strings.Contains(f.Cause, "127.0.0.1") || strings.Contains(f.Cause, "::1")) {
				t.Errorf("cause names the resolved address: %q", f.Cause)
			}

			// A non-browser caller gets the JSON error, with the same cause.
			status, hdr, body = e.browserAuthorize(v, "application/json")
			var j struct {
				Error       string `json:"error"`
				Description string `json:"error_description"`
			}
			if err := json.Unmarshal([]byte(body), &j); err != nil || status != tc.status || hdr.Get("Location") != "" {
				t.Fatalf("JSON caller: %d %q %s: %v", status, hdr.Get("Location"), body, err)
			}
			if !strings.Contains(j.Description, tc.wantJSON) || strings.Contains(j.Description, "dial tcp") {
				t.Errorf("JSON error_description %q, want it to contain %q", j.Description, tc.wantJSON)
			}
			if len(pages) != n+1 {
				t.Error("the error page was written for a JSON caller")
			}
		})
	}
}

// htmlText is s as html/template escapes text.
func htmlText(s string) string {
	return strings.NewReplacer("&", "&amp;", "'", "&#39;", `"`, "&#34;", "<", "&lt;", ">", "&gt;").Replace(s)
}
