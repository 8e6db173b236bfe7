package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	live "github.com/mcpgate/mcpgate/doctor"
)

// doctorURL runs `mcpgate doctor --url u --json` with the real binary and
// returns its report and exit code.
func doctorURL(t *testing.T, u string, args ...string) (*live.Report, cliResult) {
	t.Helper()
	res := mcpgateCLI(t, filepath.Join(t.TempDir(), "unused"), append([]string{"doctor", "--url", u, "--json"}, args...)...)
	var rep live.Report
	if err := json.Unmarshal([]byte(res.stdout), &rep); err != nil {
		t.Fatalf("doctor --url %s: exit %d, output is not JSON: %v\n%s%s", u, res.code, err, res.stdout, res.stderr)
	}
	return &rep, res
}

// checkAllGreen fails unless every discovery step passes for every family,
// the Inspector's Direct connection included: its page at
// http://localhost:6274 is a loopback origin, which mcpgate's CORS admits
// by default on the MCP endpoints, and registration admits any page.
func checkAllGreen(t *testing.T, rep *live.Report, res cliResult) {
	t.Helper()
	if res.code != 0 || rep.Failures != 0 || rep.Warnings != 0 {
		t.Errorf("exit %d, %d failure(s), %d warning(s); want 0\n%s", res.code, rep.Failures, rep.Warnings, res.stdout)
	}
	for _, st := range rep.Steps {
		if st.Result != live.OK {
			t.Errorf("step %s: %s, want %s: %+v", st.ID, st.Result, live.OK, st.Issues)
		}
	}
	for _, f := range rep.Families {
		want := live.OK
		if f.Result != want {
			t.Errorf("%s: %s at %s (%s), want %s", f.Name, f.Result, f.Step, f.Problem, want)
		}
	}
}

// TestDoctorURL checks the real binary with the real binary: every
// discovery step passes at the built-in server's /mcp, the table names each
// step, and nothing is registered.
func TestDoctorURL(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	srv := startServer(t, data)
	checkEndpoint(t, data, srv.url)
}

// TestDoctorURLUpstream: every discovery step passes at an upstream's
// /mcp/<name>, whose metadata names that path as its resource.
func TestDoctorURLUpstream(t *testing.T) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"jsonrpc":"2.0","id":1,"result":{}}`)
	}))
	defer upstream.Close()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	cfg := filepath.Join(dir, "mcpgate.yaml")
	if err := os.WriteFile(cfg, []byte("upstreams:\n  - name: api\n    url: "+upstream.URL+"/mcp\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, data, "--config", cfg)
	checkEndpoint(t, data, srv.base+"/mcp/api")
}

// checkEndpoint runs doctor --url on the MCP endpoint u of the server
// whose data directory is data, in JSON and as text.
func checkEndpoint(t *testing.T, data, u string) {
	t.Helper()
	rep, res := doctorURL(t, u)
	checkAllGreen(t, rep, res)
	if t.Failed() {
		return
	}
	text := mcpgateCLI(t, data, "doctor", "--url", u)
	if text.code != 0 {
		t.Fatalf("text output: exit %d\n%s%s", text.code, text.stdout, text.stderr)
	}
	for _, want := range []string{"OK    challenge", "OK    prm-resource", "OK    pkce", "OK    cors", "OK    Claude", "OK    MCP Inspector", "every step passes", "0 step(s) failed, 0 warned."} {
		if !strings.Contains(text.stdout, want) {
			t.Errorf("text output lacks %q:\n%s", want, text.stdout)
		}
	}
	list := mcpgateCLI(t, data, "clients", "list", "--json")
	if list.code != 0 || strings.Contains(list.stdout, "mcpgate doctor") {
		t.Errorf("without --register doctor registered a client (exit %d):\n%s", list.code, list.stdout)
	}
}

// TestDoctorURLRegister registers a client for real with --register, and
// the client is then in the store.
func TestDoctorURLRegister(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	srv := startServer(t, data)
	rep, res := doctorURL(t, srv.url, "--register")
	checkAllGreen(t, rep, res)
	var id string
	for _, st := range rep.Steps {
		for _, s := range st.Seen {
			if m := regexp.MustCompile(`registered client (\S+)`).FindStringSubmatch(s); m != nil {
				id = m[1]
			}
		}
	}
	if id == "" {
		t.Fatalf("doctor --register reports no registered client:\n%s", res.stdout)
	}
	list := mcpgateCLI(t, data, "clients", "list", "--json")
	if !strings.Contains(list.stdout, id) || !strings.Contains(list.stdout, "mcpgate doctor") {
		t.Errorf("client %s is not in the store:\n%s%s", id, list.stdout, list.stderr)
	}
}

// doctorInProcess runs `mcpgate doctor` through run, as main does.
func doctorInProcess(args ...string) (stdout, stderr string, code int) {
	var out, errb bytes.Buffer
	code = run(context.Background(), append([]string{"doctor"}, args...), strings.NewReader(""), &out, &errb)
	return out.String(), errb.String(), code
}

func TestDoctorURLBadArguments(t *testing.T) {
	for _, args := range [][]string{
		{"--url", "ftp://mcp.example.com/mcp"},
		{"--url", "mcp.example.com/mcp"},
		{"--url", "https://user:pw@mcp.example.com/mcp"},
		{"--url", "https://mcp.example.com/mcp", "--timeout", "0s"},
		{"--register"},
	} {
		if out, errb, code := doctorInProcess(args...); code != exitUsage {
			t.Errorf("doctor %v: exit %d, want %d\n%s%s", args, code, exitUsage, out, errb)
		}
	}
}

// TestDoctorURLUnreachable: a server that does not answer in time, one
// that is not there, one that answers garbage, and one that redirects to
// another origin each fail the first step, within the timeout, and the
// redirect is not followed.
func TestDoctorURLUnreachable(t *testing.T) {
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body) // then the server notices the client leave
		select {
		case <-r.Context().Done():
		case <-time.After(30 * time.Second):
		}
	}))
	defer hang.Close()
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	garbage := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("WWW-Authenticate", `Bearer resource_metadata="https://x/y", scope="unterminated`)
		w.WriteHeader(http.StatusUnauthorized)
		w.Write([]byte("\xff\xfe{{{"))
	}))
	defer garbage.Close()
	var elsewhereHit atomic.Int32
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		elsewhereHit.Add(1)
	}))
	defer elsewhere.Close()
	redirect := httptest.NewServer(http.RedirectHandler(elsewhere.URL+"/mcp", http.StatusTemporaryRedirect))
	defer redirect.Close()

	for _, tc := range []struct{ name, url, want string }{
		{"timeout", hang.URL + "/mcp", "timeout"},
		{"refused", gone.URL + "/mcp", "refused"},
		{"garbage", garbage.URL + "/mcp", "does not parse"},
		{"off-origin redirect", redirect.URL + "/mcp", "not followed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			out, errb, code := doctorInProcess("--url", tc.url, "--timeout", "500ms", "--json")
			if took := time.Since(start); took > 10*time.Second {
				t.Errorf("took %s with --timeout 500ms", took)
			}
			if code != exitError {
				t.Fatalf("exit %d, want %d\n%s%s", code, exitError, out, errb)
			}
			var rep live.Report
			if err := json.Unmarshal([]byte(out), &rep); err != nil {
				t.Fatal(err)
			}
			ch := rep.Steps[1]
			if ch.ID != live.StepChallenge || ch.Result != live.Fail || len(ch.Issues) == 0 {
				t.Fatalf("challenge step = %+v, want a failure", ch)
			}
			if tc.name == "garbage" {
				// Only the clients that need the challenge stop there; the
				// others look for the metadata, and fail later.
				var failing []string
				for _, is := range ch.Issues {
					if !strings.Contains(is.Problem, tc.want) {
						t.Errorf("challenge issue %q does not say %q", is.Problem, tc.want)
					}
					if is.Result == live.Fail {
						failing = append(failing, is.Families...)
					}
				}
				if len(failing) != 1 || failing[0] != "Cursor" {
					t.Errorf("challenge step fails %v, want Cursor only", failing)
				}
				for _, f := range rep.Families {
					if f.Result != live.Fail {
						t.Errorf("%s: %s, want fail", f.Name, f.Result)
					}
				}
				return
			}
			if len(ch.Issues) != 1 || len(ch.Issues[0].Families) != len(live.Families) || !strings.Contains(ch.Issues[0].Problem, tc.want) {
				t.Errorf("challenge step = %+v, want a failure for every family saying %q", ch, tc.want)
			}
		})
	}
	if n := elsewhereHit.Load(); n != 0 {
		t.Errorf("the off-origin redirect was followed %d time(s)", n)
	}
}

// TestDoctorURLBehindFaultyProxy puts the real binary behind a reverse
// proxy that drops resource_metadata from the 401, as a proxy rewriting
// WWW-Authenticate might: doctor fails the step for the one family that
// needs it and exits 1.
func TestDoctorURLBehindFaultyProxy(t *testing.T) {
	proxy := httptest.NewUnstartedServer(nil)
	public := "http://" + proxy.Listener.Addr().String() + "/mcp"
	srv := startServer(t, filepath.Join(t.TempDir(), "data"), "--public-url", public)
	var listen string
	eventually(t, 10*time.Second, func() error {
		m := regexp.MustCompile(`msg="mcpgate listening" addr=(\S+)`).FindStringSubmatch(srv.logs.String())
		if m == nil {
			return fmt.Errorf("no listening address logged yet")
		}
		listen = m[1]
		return nil
	})
	target, _ := url.Parse("http://" + listen)
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.ModifyResponse = func(r *http.Response) error {
		if v := r.Header.Get("WWW-Authenticate"); v != "" {
			r.Header.Set("WWW-Authenticate", regexp.MustCompile(`resource_metadata="[^"]*",?\s*`).ReplaceAllString(v, ""))
		}
		return nil
	}
	proxy.Config.Handler = rp
	proxy.Start()
	defer proxy.Close()

	rep, res := doctorURL(t, public)
	if res.code != exitError || rep.Failures != 1 {
		t.Fatalf("exit %d, %d failure(s); want exit 1 and one failing step\n%s", res.code, rep.Failures, res.stdout)
	}
	for _, f := range rep.Families {
		failed := f.Result == live.Fail
		if failed != (f.Name == "Cursor") || failed && f.Step != live.StepChallengeMetadata {
			t.Errorf("%s: %s at %s (%s); want only Cursor to fail, at %s", f.Name, f.Result, f.Step, f.Problem, live.StepChallengeMetadata)
		}
	}
}
