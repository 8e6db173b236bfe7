package doctor_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/doctor"
	"github.com/mcpgate/mcpgate/gateway"
	"github.com/mcpgate/mcpgate/sqlite"
)

// deployment is mcpgate's real gateway (built-in server, embedded
// authorization server, SQLite store) on a loopback httptest server, behind
// wrap, which injects a fault the way a misconfigured proxy or a different
// server would.
func deployment(t *testing.T, oauth *gateway.OAuthOptions, wrap func(http.Handler) http.Handler) string {
	t.Helper()
	store, err := sqlite.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	srv := httptest.NewUnstartedServer(nil)
	public := "http://" + srv.Listener.Addr().String() + "/mcp"
	as, err := gateway.NewAuthServer(store, public, oauth, nil)
	if err != nil {
		t.Fatal(err)
	}
	gw, err := gateway.New(store, public, &gateway.Options{AuthServer: as})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gw.Close() })
	srv.Config.Handler = wrap(gw.Handler())
	srv.Start()
	t.Cleanup(srv.Close)
	return public
}

// withCORS answers CORS as a proxy in front of mcpgate would, for the
// loopback page origins mcpgate admits, so that a browser client can call
// every endpoint.
func withCORS(allowHeaders string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			o := r.Header.Get("Origin")
			if o == "" {
				next.ServeHTTP(w, r)
				return
			}
			h := w.Header()
			if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
				h.Set("Access-Control-Allow-Origin", o)
				h.Set("Access-Control-Allow-Methods", "GET, POST, DELETE")
				h.Set("Access-Control-Allow-Headers", allowHeaders)
				h.Set("Vary", "Origin")
				w.WriteHeader(http.StatusNoContent)
				return
			}
			next.ServeHTTP(&headerEditor{ResponseWriter: w, edit: func(h http.Header) {
				h.Del("Access-Control-Allow-Credentials")
				h.Set("Access-Control-Allow-Origin", o)
				h.Set("Access-Control-Expose-Headers", "WWW-Authenticate, Mcp-Session-Id")
			}}, r)
		})
	}
}

// withoutCORS is a deployment that answers no preflight and grants no
// cross-origin reads anywhere.
func withoutCORS(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodOptions {
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		next.ServeHTTP(&headerEditor{ResponseWriter: w, edit: func(h http.Header) {
			for k := range h {
				if strings.HasPrefix(k, "Access-Control-") {
					h.Del(k)
				}
			}
		}}, r)
	})
}

// headerEditor edits the response headers just before they are sent.
type headerEditor struct {
	http.ResponseWriter
	edit  func(http.Header)
	wrote bool
}

func (e *headerEditor) WriteHeader(code int) {
	if !e.wrote {
		e.wrote = true
		e.edit(e.Header())
	}
	e.ResponseWriter.WriteHeader(code)
}

func (e *headerEditor) Write(b []byte) (int, error) {
	if !e.wrote {
		e.WriteHeader(http.StatusOK)
	}
	return e.ResponseWriter.Write(b)
}

func (e *headerEditor) Flush() {
	if f, ok := e.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// notFound answers 404 at the paths that start with any of prefixes.
func notFound(prefixes ...string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			for _, p := range prefixes {
				if strings.HasPrefix(r.URL.Path, p) {
					http.NotFound(w, r)
					return
				}
			}
			next.ServeHTTP(w, r)
		})
	}
}

// editJSON rewrites the JSON object served at the paths that start with
// prefix.
func editJSON(prefix string, edit func(base string, m map[string]any)) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !strings.HasPrefix(r.URL.Path, prefix) {
				next.ServeHTTP(w, r)
				return
			}
			rec := httptest.NewRecorder()
			next.ServeHTTP(rec, r)
			var m map[string]any
			body := rec.Body.Bytes()
			if json.Unmarshal(body, &m) == nil {
				edit("http://"+r.Host, m)
				body, _ = json.Marshal(m)
			}
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			w.WriteHeader(rec.Code)
			w.Write(body)
		})
	}
}

// editChallenge rewrites WWW-Authenticate.
func editChallenge(edit func(string) string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(&headerEditor{ResponseWriter: w, edit: func(h http.Header) {
				if v := h.Get("WWW-Authenticate"); v != "" {
					if v = edit(v); v == "" {
						h.Del("WWW-Authenticate")
					} else {
						h.Set("WWW-Authenticate", v)
					}
				}
			}}, r)
		})
	}
}

func chain(ws ...func(http.Handler) http.Handler) func(http.Handler) http.Handler {
	return func(h http.Handler) http.Handler {
		for i := len(ws) - 1; i >= 0; i-- {
			h = ws[i](h)
		}
		return h
	}
}

// incompleteOpenID leaves out of the OpenID configuration fields OpenID
// Connect Discovery requires, as OAuth servers that serve their RFC 8414
// document at the OpenID path do.
var incompleteOpenID = editJSON("/.well-known/openid-configuration", func(_ string, m map[string]any) {
	delete(m, "subject_types_supported")
	delete(m, "id_token_signing_alg_values_supported")
})

var cors = withCORS("authorization, content-type, mcp-protocol-version, mcp-session-id")

var (
	strict = []string{"Claude", "VS Code"}
	sdk    = []string{"MCP Inspector", "TypeScript SDK"}
	all    = []string{"Claude", "VS Code", "Cursor", "MCP Inspector", "TypeScript SDK"}
)

func plus(a []string, b ...string) []string { return append(slices.Clone(a), b...) }

// TestFaults injects one fault per case into a deployment of mcpgate and
// checks that exactly the expected steps fail or warn, for exactly the
// expected client families, and that a failure means exit 1.
func TestFaults(t *testing.T) {
	type want struct{ fail, warn []string }
	for _, tc := range []struct {
		name  string
		oauth *gateway.OAuthOptions
		wrap  func(http.Handler) http.Handler
		want  map[string]want // step → families
	}{
		{
			name: "healthy, behind a proxy that adds CORS",
			wrap: cors,
			want: map[string]want{},
		},
		{
			name: "protected resource metadata missing",
			wrap: chain(cors, notFound("/.well-known/oauth-protected-resource")),
			want: map[string]want{doctor.StepPRM: {fail: plus(strict, "Cursor"), warn: sdk}},
		},
		{
			name: "resource names another server",
			wrap: chain(cors, editJSON("/.well-known/oauth-protected-resource", func(base string, m map[string]any) {
				m["resource"] = base + "/other"
			})),
			want: map[string]want{doctor.StepResource: {fail: all}},
		},
		{
			name: "resource is the origin, not the MCP URL",
			wrap: chain(cors, editJSON("/.well-known/oauth-protected-resource", func(base string, m map[string]any) {
				m["resource"] = base
			})),
			want: map[string]want{doctor.StepResource: {fail: plus(strict, "Cursor"), warn: sdk}},
		},
		{
			name: "no CORS",
			wrap: withoutCORS,
			want: map[string]want{doctor.StepCORS: {warn: []string{"MCP Inspector"}}},
		},
		{
			name: "CORS without Authorization on the MCP endpoint",
			wrap: withCORS("content-type, mcp-protocol-version"),
			want: map[string]want{doctor.StepCORS: {warn: []string{"MCP Inspector"}}},
		},
		{
			name: "authorization server metadata only at the OpenID path",
			wrap: chain(cors, notFound("/.well-known/oauth-authorization-server")),
			want: map[string]want{doctor.StepASMetadata: {fail: []string{"Cursor"}}},
		},
		{
			name: "only incomplete OpenID provider metadata",
			wrap: chain(cors, notFound("/.well-known/oauth-authorization-server"), incompleteOpenID),
			want: map[string]want{doctor.StepASMetadata: {fail: all}},
		},
		{
			name: "no code_challenge_methods_supported",
			wrap: chain(cors, editJSON("/.well-known/", func(_ string, m map[string]any) {
				delete(m, "code_challenge_methods_supported")
			})),
			want: map[string]want{doctor.StepPKCE: {fail: strict, warn: plus(sdk, "Cursor")}},
		},
		{
			name: "plain PKCE only",
			wrap: chain(cors, editJSON("/.well-known/", func(_ string, m map[string]any) {
				if _, ok := m["code_challenge_methods_supported"]; ok {
					m["code_challenge_methods_supported"] = []string{"plain"}
				}
			})),
			want: map[string]want{doctor.StepPKCE: {fail: all}},
		},
		{
			name: "401 without resource_metadata",
			wrap: chain(cors, editChallenge(func(v string) string {
				return regexp.MustCompile(`resource_metadata="[^"]*",?\s*`).ReplaceAllString(v, "")
			})),
			want: map[string]want{doctor.StepChallengeMetadata: {fail: []string{"Cursor"}}},
		},
		{
			name: "401 without WWW-Authenticate",
			wrap: chain(cors, editChallenge(func(string) string { return "" })),
			want: map[string]want{doctor.StepChallenge: {fail: []string{"Cursor"}, warn: plus(strict, sdk...)}},
		},
		{
			name:  "registration needs an initial access token",
			oauth: &gateway.OAuthOptions{RegistrationToken: "doctor-test-registration-token"}, // gitleaks:allow
			wrap:  cors,
			want:  map[string]want{doctor.StepRegistration: {fail: []string{"Cursor", "MCP Inspector"}}},
		},
		{
			name:  "neither registration nor client ID metadata documents",
			oauth: &gateway.OAuthOptions{DisableRegistration: true, DisableCIMD: true},
			wrap:  cors,
			want:  map[string]want{doctor.StepRegistration: {fail: all}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := deployment(t, tc.oauth, tc.wrap)
			r, err := doctor.Check(context.Background(), u, &doctor.Options{Timeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			var text bytes.Buffer
			r.WriteText(&text)
			wantFailures := 0
			for _, st := range r.Steps {
				var gotFail, gotWarn []string
				for _, is := range st.Issues {
					if is.Result == doctor.Fail {
						gotFail = append(gotFail, is.Families...)
					} else {
						gotWarn = append(gotWarn, is.Families...)
					}
				}
				w := tc.want[st.ID]
				if len(w.fail) > 0 {
					wantFailures++
				}
				if !sameSet(gotFail, w.fail) || !sameSet(gotWarn, w.warn) {
					t.Errorf("step %s: fails %v, warns %v; want fails %v, warns %v", st.ID, gotFail, gotWarn, w.fail, w.warn)
				}
			}
			if r.Failures != wantFailures {
				t.Errorf("Failures = %d, want %d", r.Failures, wantFailures)
			}
			// The model against the real SDK: with a client ID metadata
			// document to offer (the SDK as modelled), and without (the
			// Inspector, whose CORS step a Node process cannot take).
			for _, c := range []struct{ family, cimd string }{
				{"TypeScript SDK", "https://client.example/oauth/metadata.json"},
				{"MCP Inspector", ""},
			} {
				fr := familyResult(t, r, c.family)
				got := sdkDiscovery(t, u, c.cimd)
				if got.Reached != (fr.Result != doctor.Fail) {
					t.Errorf("%s: doctor says %s (%s: %s), the SDK reached the authorization URL: %v (%s)",
						c.family, fr.Result, fr.Step, fr.Problem, got.Reached, got.Error)
				}
				legacy := fr.Result == doctor.Warn && fr.Step == doctor.StepPRM
				if got.Reached && (got.Resource == "") != legacy {
					t.Errorf("%s: the SDK asked for resource %q; doctor's fallback warning: %v", c.family, got.Resource, legacy)
				}
			}
			if t.Failed() {
				t.Logf("report:\n%s", text.String())
			}
		})
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	a, b = slices.Compact(a), slices.Compact(b)
	return slices.Equal(a, b)
}

func familyResult(t *testing.T, r *doctor.Report, name string) doctor.FamilyResult {
	t.Helper()
	for _, f := range r.Families {
		if f.Name == name {
			return f
		}
	}
	t.Fatalf("no family %q in the report", name)
	return doctor.FamilyResult{}
}

// sdkOutcome is what interop/sdk-discovery.mjs printed.
type sdkOutcome struct {
	Reached  bool   `json:"reached"`
	Error    string `json:"error"`
	Resource string `json:"resource"`
}

// sdkDiscovery runs the TypeScript SDK client against mcpURL up to the
// authorization URL it would open.
func sdkDiscovery(t *testing.T, mcpURL, cimd string) sdkOutcome {
	t.Helper()
	node, err := filepath.Abs(filepath.Join("..", "interop", "node_modules", ".bin", "node"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(node); err != nil {
		if os.Getenv("MCPGATE_SKIP_NODE") == "1" {
			t.Skip("node not installed and MCPGATE_SKIP_NODE=1")
		}
		t.Fatal("node is not installed: run `npm ci` in interop/ (scripts/test.sh does)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join("..", "interop", "sdk-discovery.mjs"))
	cmd.Env = append(os.Environ(), "MCP_URL="+mcpURL, "CIMD_URL="+cimd)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("sdk-discovery.mjs: %v\n%s", err, stderr.String())
	}
	var o sdkOutcome
	if err := json.Unmarshal(out, &o); err != nil {
		t.Fatalf("sdk-discovery.mjs printed %q: %v\n%s", out, err, stderr.String())
	}
	return o
}
