package authn

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/apikey"
)

// okHandler records the principal and TokenInfo it was called with.
type okHandler struct {
	p  *mcpgate.Principal
	ti *auth.TokenInfo
}

func (h *okHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.p = mcpgate.PrincipalFromContext(r.Context())
	h.ti = auth.TokenInfoFromContext(r.Context())
	w.WriteHeader(http.StatusNoContent)
}

func TestAuthenticatorHandler(t *testing.T) {
	s := newMemStore()
	now := time.Now()
	good, goodRec := mustCreateKey(t, s, now, nil)
	revoked, revokedRec := mustCreateKey(t, s, now, nil)
	s.RevokeKey(context.Background(), revokedRec.ID, now.Add(-time.Second))
	expired, _ := mustCreateKey(t, s, now, func(k *mcpgate.APIKey) { k.ExpiresAt = now.Add(-time.Second) })
	unknown, _, _, _ := apikey.Generate()

	var failures []error
	a := New(Chain(NewKeyVerifier(s, &KeyVerifierOptions{TouchInterval: -1})), &Options{
		ResourceMetadataURL: "https://gw.example/.well-known/oauth-protected-resource/mcp",
		Scope:               "notes:read docs:read",
		OnFailure:           func(_ *http.Request, err error) { failures = append(failures, err) },
	})
	const (
		missing = `Bearer resource_metadata="https://gw.example/.well-known/oauth-protected-resource/mcp", scope="notes:read docs:read"`
		invalid = missing + `, error="invalid_token"`
	)
	tests := []struct {
		name      string
		headers   []string
		wantCode  int
		wantChall string
	}{
		{"valid", []string{"Bearer " + good}, http.StatusNoContent, ""},
		{"valid lower scheme", []string{"bearer " + good}, http.StatusNoContent, ""},
		{"no header", nil, http.StatusUnauthorized, missing},
		{"basic", []string{"Basic dXNlcjpwYXNz"}, http.StatusUnauthorized, missing},
		{"malformed", []string{"Bearer a b"}, http.StatusUnauthorized, invalid},
		{"two headers", []string{"Bearer " + good, "Bearer " + good}, http.StatusUnauthorized, invalid},
		{"wrong secret", []string{"Bearer " + wrongSecret(t, good)}, http.StatusUnauthorized, invalid},
		{"bad checksum", []string{"Bearer " + damageLast(good)}, http.StatusUnauthorized, invalid},
		{"unknown", []string{"Bearer " + unknown}, http.StatusUnauthorized, invalid},
		{"revoked", []string{"Bearer " + revoked}, http.StatusUnauthorized, invalid},
		{"expired", []string{"Bearer " + expired}, http.StatusUnauthorized, invalid},
		{"not a key", []string{"Bearer eyJhbGciOiJub25lIn0.e30."}, http.StatusUnauthorized, invalid},
	}
	var body401 string
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next := &okHandler{}
			r := httptest.NewRequest("POST", "/mcp", nil)
			for _, h := range tt.headers {
				r.Header.Add("Authorization", h)
			}
			w := httptest.NewRecorder()
			nfail := len(failures)
			a.Handler(next).ServeHTTP(w, r)
			if got := w.Code; got != tt.wantCode {
				t.Fatalf("status = %d, want %d", got, tt.wantCode)
			}
			if got := w.Header().Get("WWW-Authenticate"); got != tt.wantChall {
				t.Errorf("WWW-Authenticate = %q\nwant %q", got, tt.wantChall)
			}
			if tt.wantCode == http.StatusNoContent {
				if next.p == nil || next.p.KeyID != goodRec.ID {
					t.Fatalf("next saw principal %+v", next.p)
				}
				if got := PrincipalFromTokenInfo(next.ti); got != next.p {
					t.Errorf("TokenInfo carries %+v, want the same principal", got)
				}
				if next.ti.UserID != "acme/alice" {
					t.Errorf("TokenInfo.UserID = %q", next.ti.UserID)
				}
				if len(failures) != nfail {
					t.Errorf("OnFailure called on success")
				}
				return
			}
			if next.p != nil {
				t.Fatal("next was called")
			}
			if len(failures) != nfail+1 || !errors.Is(failures[len(failures)-1], mcpgate.ErrUnauthenticated) {
				t.Errorf("OnFailure not called with an unauthenticated error: %v", failures[nfail:])
			}
			if got := w.Header().Get("Cache-Control"); got != "no-store" {
				t.Errorf("Cache-Control = %q", got)
			}
			if got := w.Header().Get("Content-Type"); got != "application/json" {
				t.Errorf("Content-Type = %q", got)
			}
			// One body for every cause: nothing tells which part was wrong.
			if body401 == "" {
				body401 = w.Body.String()
			}
			if got := w.Body.String(); got != body401 {
				t.Errorf("body %q differs from another failure's %q", got, body401)
			}
			var body struct{ Error, ErrorDescription string }
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body.Error != "unauthorized" {
				t.Errorf("body = %q, %v", w.Body.String(), err)
			}
		})
	}
}

func TestAuthenticatorMinimalChallenge(t *testing.T) {
	a := New(VerifierFunc(func(context.Context, string) (*mcpgate.Principal, error) {
		return nil, errUnknownKey
	}), nil)
	for _, tt := range []struct{ header, want string }{
		{"", "Bearer"},
		{"Bearer x", `Bearer error="invalid_token"`},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		if tt.header != "" {
			r.Header.Set("Authorization", tt.header)
		}
		w := httptest.NewRecorder()
		a.Handler(&okHandler{}).ServeHTTP(w, r)
		if got := w.Header().Get("WWW-Authenticate"); w.Code != 401 || got != tt.want {
			t.Errorf("%q: %d %q, want 401 %q", tt.header, w.Code, got, tt.want)
		}
	}
}

func TestAuthenticatorVerifierFailure(t *testing.T) {
	s := newMemStore()
	key, _ := mustCreateKey(t, s, time.Now(), nil)
	s.failKey.Store(true)
	a := New(NewKeyVerifier(s, nil), &Options{Logger: discardLogger()})
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Authorization", "Bearer "+key)
	w := httptest.NewRecorder()
	a.Handler(&okHandler{}).ServeHTTP(w, r)
	if w.Code != http.StatusServiceUnavailable {
		t.Fatalf("status = %d, want 503", w.Code)
	}
	if strings.Contains(w.Body.String(), "store is down") {
		t.Errorf("body leaks the internal error: %s", w.Body)
	}
	// A verifier returning neither is a bug, not a pass.
	a = New(VerifierFunc(func(context.Context, string) (*mcpgate.Principal, error) { return nil, nil }), &Options{Logger: discardLogger()})
	if p, err := a.Check(r); p != nil || err == nil {
		t.Errorf("Check = %v, %v; want an error", p, err)
	}
}

func TestWriteInsufficientScope(t *testing.T) {
	tests := []struct {
		name   string
		url    string
		scopes []string
		want   string
	}{
		{"full", "https://gw.example/prm", []string{"notes:write", "docs:read"},
			`Bearer error="insufficient_scope", scope="notes:write docs:read", resource_metadata="https://gw.example/prm"`},
		{"no url", "", []string{"notes:write"}, `Bearer error="insufficient_scope", scope="notes:write"`},
		{"escaped", `https://x/"a\b`, []string{`we"ird`}, `Bearer error="insufficient_scope", scope="we\"ird", resource_metadata="https://x/\"a\\b"`},
		{"control chars dropped", "https://x/\r\nSet-Cookie: a", nil, `Bearer error="insufficient_scope", resource_metadata="https://x/Set-Cookie: a"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			WriteInsufficientScope(w, tt.url, tt.scopes...)
			if w.Code != http.StatusForbidden {
				t.Errorf("status = %d", w.Code)
			}
			if got := w.Header().Get("WWW-Authenticate"); got != tt.want {
				t.Errorf("WWW-Authenticate = %s\nwant %s", got, tt.want)
			}
			var body struct {
				Error string `json:"error"`
				Scope string `json:"scope"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
				t.Fatal(err)
			}
			if body.Error != "insufficient_scope" || body.Scope != strings.Join(tt.scopes, " ") {
				t.Errorf("body = %s", w.Body)
			}
		})
	}
}

func TestChain(t *testing.T) {
	ctx := context.Background()
	s := newMemStore()
	key, _ := mustCreateKey(t, s, time.Now(), nil)
	keys := NewKeyVerifier(s, &KeyVerifierOptions{TouchInterval: -1})
	var jwtCalls, otherCalls int
	jwt := VerifierFunc(func(_ context.Context, token string) (*mcpgate.Principal, error) {
		jwtCalls++
		if token == "good.jwt.token" {
			return &mcpgate.Principal{Subject: "bob", Method: mcpgate.MethodJWT}, nil
		}
		if token == "outage" {
			return nil, errStoreDown
		}
		return nil, rejection{mcpgate.ReasonBadSignature, "bad signature"}
	})
	other := VerifierFunc(func(_ context.Context, token string) (*mcpgate.Principal, error) {
		otherCalls++
		if token == "opaque" {
			return &mcpgate.Principal{Subject: "carol", Method: mcpgate.MethodOAuth}, nil
		}
		return nil, rejection{mcpgate.ReasonUnknownToken, "unknown token"}
	})
	c := Chain(keys, jwt, other)
	tests := []struct {
		name               string
		token              string
		wantSubject        string
		wantErr            error
		wantJWT, wantOther int
	}{
		{"api key", key, "alice", nil, 0, 0},
		{"damaged api key", damageLast(key), "", errKeyChecksum, 0, 0},
		{"jwt", "good.jwt.token", "bob", nil, 1, 0},
		{"second verifier", "opaque", "carol", nil, 1, 1},
		{"nobody", "nope", "", mcpgate.ErrUnauthenticated, 1, 1},
		{"outage stops the chain", "outage", "", errStoreDown, 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			jwtCalls, otherCalls = 0, 0
			p, err := c.Verify(ctx, tt.token)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Verify = %v, %v; want %v", p, err, tt.wantErr)
				}
			} else if err != nil || p.Subject != tt.wantSubject {
				t.Fatalf("Verify = %+v, %v; want subject %q", p, err, tt.wantSubject)
			}
			if jwtCalls != tt.wantJWT || otherCalls != tt.wantOther {
				t.Errorf("calls = %d, %d; want %d, %d", jwtCalls, otherCalls, tt.wantJWT, tt.wantOther)
			}
		})
	}
	if _, err := Chain(nil).Verify(ctx, key); !errors.Is(err, mcpgate.ErrUnauthenticated) {
		t.Errorf("Chain(nil) accepted an API key: %v", err)
	}
	if _, err := Chain(nil).Verify(ctx, "x"); !errors.Is(err, mcpgate.ErrUnauthenticated) {
		t.Errorf("empty chain: %v", err)
	}
}

func TestTokenInfo(t *testing.T) {
	if TokenInfo(nil) != nil || PrincipalFromTokenInfo(nil) != nil {
		t.Error("nil not mapped to nil")
	}
	if PrincipalFromTokenInfo(&auth.TokenInfo{Extra: map[string]any{"principal": "x"}}) != nil {
		t.Error("foreign Extra mapped to a principal")
	}
	p := &mcpgate.Principal{Subject: "s", Scopes: []string{"a"}}
	ti := TokenInfo(p)
	if !ti.Expiration.Equal(NeverExpires) || ti.UserID != "s" || ti.Scopes[0] != "a" || PrincipalFromTokenInfo(ti) != p {
		t.Errorf("TokenInfo = %+v", ti)
	}
	exp := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	p.Expires, p.Tenant = exp, "t"
	if ti := TokenInfo(p); !ti.Expiration.Equal(exp) || ti.UserID != "t/s" {
		t.Errorf("TokenInfo = %+v", ti)
	}
}

// TestMCPToolSeesPrincipal runs a real MCP server behind the Authenticator
// and checks that a tool handler finds the principal in req.Extra.TokenInfo,
// and that the SDK refuses a session to another principal.
func TestMCPToolSeesPrincipal(t *testing.T) {
	s := newMemStore()
	alice, aliceRec := mustCreateKey(t, s, time.Now(), nil)
	bob, _ := mustCreateKey(t, s, time.Now(), func(k *mcpgate.APIKey) { k.Subject = "bob" })

	server := mcp.NewServer(&mcp.Implementation{Name: "test", Version: "1"}, nil)
	type out struct {
		Subject, KeyID string
	}
	mcp.AddTool(server, &mcp.Tool{Name: "whoami"}, func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, out, error) {
		p := PrincipalFromTokenInfo(req.Extra.TokenInfo)
		if p == nil {
			return nil, out{}, errors.New("no principal")
		}
		return nil, out{p.Subject, p.KeyID}, nil
	})
	a := New(NewKeyVerifier(s, &KeyVerifierOptions{TouchInterval: -1}), nil)
	srv := httptest.NewServer(a.Handler(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, nil)))
	defer srv.Close()

	var key string
	transport := &mcp.StreamableClientTransport{
		Endpoint: srv.URL,
		HTTPClient: &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			r = r.Clone(r.Context())
			r.Header.Set("Authorization", "Bearer "+key)
			return http.DefaultTransport.RoundTrip(r)
		})},
		MaxRetries: -1,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	key = alice
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "c", Version: "1"}, nil).Connect(ctx, transport, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "whoami"})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(res.StructuredContent)
	var got out
	json.Unmarshal(raw, &got)
	if want := (out{"alice", aliceRec.ID}); got != want {
		t.Errorf("whoami = %s, want %+v", raw, want)
	}

	// Bob presenting Alice's session id is refused by the SDK.
	key = bob
	if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "whoami"}); err == nil {
		t.Error("another principal used the session")
	}

	// Without a key the gateway answers 401 before the SDK sees anything.
	resp, err := http.Post(srv.URL, "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("no key: status %d", resp.StatusCode)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
