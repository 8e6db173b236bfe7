package oauth

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
)

// sdkEnv is the authorization server plus a small MCP server protected by
// its Verifier, as the gateway assembles them, on one httptest server.
type sdkEnv struct {
	*env
	refreshes atomic.Int32
	logins    atomic.Int32
}

func newSDKEnv(t *testing.T, edit func(*Options)) *sdkEnv {
	t.Helper()
	se := &sdkEnv{}
	se.env = newEnv(t, func(o *Options) {
		// Shorter than oauth2's 10s expiry delta: the client refreshes
		// before every request, so refresh is exercised at once.
		o.AccessTokenTTL = 5 * time.Second
		// The SDK's middleware checks expiry against the real clock: with
		// the frozen test clock every token would look expired once the
		// test has run 5 s, as it may on a loaded machine.
		o.Now = time.Now
		if edit != nil {
			edit(o)
		}
	})
	e := se.env
	mcpURL := e.srv.Resource()

	server := mcp.NewServer(&mcp.Implementation{Name: "protected", Version: "1"}, nil)
	mcp.AddTool(server, &mcp.Tool{Name: "whoami", Description: "who is calling"},
		func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
			ti := req.Extra.TokenInfo
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: ti.UserID + " " + strings.Join(ti.Scopes, ",")}}}, nil, nil
		})
	verify := func(ctx context.Context, token string, _ *http.Request) (*auth.TokenInfo, error) {
		p, err := e.srv.Verifier().Verify(ctx, token)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", auth.ErrInvalidToken, err)
		}
		return &auth.TokenInfo{Scopes: p.Scopes, Expiration: p.Expires, UserID: p.ID()}, nil
	}
	prmURL := e.http.URL + "/.well-known/oauth-protected-resource/mcp"
	protected := auth.RequireBearerToken(verify, &auth.RequireBearerTokenOptions{ResourceMetadataURL: prmURL})(
		mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, nil))

	mux := http.NewServeMux()
	mux.Handle("/mcp", protected)
	mux.Handle("/.well-known/oauth-protected-resource/mcp", auth.ProtectedResourceMetadataHandler(&oauthex.ProtectedResourceMetadata{
		Resource:             mcpURL,
		AuthorizationServers: []string{e.srv.Issuer()},
		ScopesSupported:      testScopes,
	}))
	// The login pages' part, for clients driven from outside Go: approve a
	// pending request as alice and answer with the client redirect.
	mux.HandleFunc("/test/approve", func(w http.ResponseWriter, r *http.Request) {
		se.logins.Add(1)
		id := r.URL.Query().Get("req")
		pr, err := e.srv.PendingRequest(r.Context(), id, "")
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		to, err := e.srv.Approve(r.Context(), id, alice, pr.Scopes)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		fmt.Fprint(w, to)
	})
	as := e.srv.Handler()
	mux.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, PathToken) {
			r.ParseForm()
			if r.PostForm.Get("grant_type") == "refresh_token" {
				se.refreshes.Add(1)
			}
		}
		as.ServeHTTP(w, r)
	}))
	e.serve(mux)
	return se
}

// browser plays the user: it follows the authorization URL to the login
// page, approves as alice and returns what the client's redirect carries.
func (se *sdkEnv) browser(ctx context.Context, args *auth.AuthorizationArgs) (*auth.AuthorizationResult, error) {
	se.logins.Add(1)
	resp, err := noRedirectClient().Get(args.URL)
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || resp.StatusCode != http.StatusFound || loc.Query().Get("req") == "" {
		return nil, fmt.Errorf("authorize: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	id := loc.Query().Get("req")
	pr, err := se.srv.PendingRequest(ctx, id, "")
	if err != nil {
		return nil, err
	}
	to, err := se.srv.Approve(ctx, id, alice, pr.Scopes)
	if err != nil {
		return nil, err
	}
	u, _ := url.Parse(to)
	if e := u.Query().Get("error"); e != "" {
		return nil, fmt.Errorf("authorization error %s", e)
	}
	return &auth.AuthorizationResult{Code: u.Query().Get("code"), State: u.Query().Get("state"), Iss: u.Query().Get("iss")}, nil
}

// run connects the SDK client, calls the tool twice (the second call
// after a refresh) and checks what the server saw.
func (se *sdkEnv) run(t *testing.T, h *auth.AuthorizationCodeHandler, check func()) {
	t.Helper()
	ctx := t.Context()
	client := mcp.NewClient(&mcp.Implementation{Name: "sdk-client", Version: "1"}, nil)
	session, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: se.srv.Resource(), OAuthHandler: h}, nil)
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	defer session.Close()
	for i := range 2 {
		res, err := session.CallTool(ctx, &mcp.CallToolParams{Name: "whoami"})
		if err != nil {
			t.Fatalf("CallTool %d: %v", i, err)
		}
		who, scopes, _ := strings.Cut(res.Content[0].(*mcp.TextContent).Text, " ")
		sorted := strings.Split(scopes, ",")
		slices.Sort(sorted)
		got := who + " " + strings.Join(sorted, ",")
		if want := "acme/alice docs:read,notes:read,notes:write"; got != want {
			t.Errorf("whoami = %q, want %q", got, want)
		}
	}
	if n := se.logins.Load(); n != 1 {
		t.Errorf("%d logins, want 1", n)
	}
	if n := se.refreshes.Load(); n == 0 {
		t.Error("the client never refreshed its token")
	}
	check()
	grants, err := se.srv.Grants().ListGrants(ctx, "alice")
	if err != nil || len(grants) != 1 {
		t.Fatalf("grants = %v, %v", grants, err)
	}
	// Revoking the app on the connected-apps page stops its token at once:
	// the client's next call is refused, so it sends the user through
	// authorization again.
	if err := se.srv.Grants().RevokeGrant(ctx, "alice", grants[0].ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := session.CallTool(ctx, &mcp.CallToolParams{Name: "whoami"}); err != nil {
		t.Fatalf("CallTool after re-authorization: %v", err)
	}
	if n := se.logins.Load(); n != 2 {
		t.Errorf("%d logins after revoking the grant, want 2", n)
	}
}

func TestSDKClientDCR(t *testing.T) {
	se := newSDKEnv(t, nil)
	h, err := auth.NewAuthorizationCodeHandler(&auth.AuthorizationCodeHandlerConfig{
		DynamicClientRegistrationConfig: &auth.DynamicClientRegistrationConfig{Metadata: &oauthex.ClientRegistrationMetadata{
			ClientName:              "Go SDK client",
			RedirectURIs:            []string{"http://127.0.0.1:47011/callback"},
			GrantTypes:              []string{"authorization_code", "refresh_token"},
			TokenEndpointAuthMethod: "none",
		}},
		AuthorizationCodeFetcher: se.browser,
	})
	if err != nil {
		t.Fatal(err)
	}
	se.run(t, h, func() {
		clients, _ := se.srv.ListClients(t.Context())
		if len(clients) != 1 || clients[0].Source != SourceDCR || clients[0].Name != "Go SDK client" {
			t.Errorf("clients = %+v", clients)
		}
	})
}

func TestSDKClientCIMD(t *testing.T) {
	redirect := "http://127.0.0.1:47012/callback"
	var fetched atomic.Int32
	// The document names its own URL, taken from the request so that the
	// handler is set before the server starts.
	docs := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetched.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "max-age=3600")
		fmt.Fprintf(w, `{"client_id":%q,"client_name":"Go SDK via CIMD","redirect_uris":[%q],"grant_types":["authorization_code","refresh_token"],"token_endpoint_auth_method":"none"}`, "https://"+r.Host+r.URL.Path, redirect)
	}))
	docs.StartTLS()
	t.Cleanup(docs.Close)
	docURL := docs.URL + "/oauth/client.json"
	fetchClient := docs.Client()
	fetchClient.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	se := newSDKEnv(t, func(o *Options) { o.AllowLoopbackCIMD = true; o.CIMDClient = fetchClient })

	h, err := auth.NewAuthorizationCodeHandler(&auth.AuthorizationCodeHandlerConfig{
		ClientIDMetadataDocumentConfig: &auth.ClientIDMetadataDocumentConfig{URL: docURL},
		RedirectURL:                    redirect,
		AuthorizationCodeFetcher:       se.browser,
	})
	if err != nil {
		t.Fatal(err)
	}
	se.run(t, h, func() {
		if n := fetched.Load(); n != 1 {
			t.Errorf("metadata document fetched %d times, want 1", n)
		}
		if clients, _ := se.srv.ListClients(t.Context()); len(clients) != 0 {
			t.Errorf("a CIMD client was stored: %+v", clients)
		}
	})
}

// TestSDKClientIssuerPath: with an issuer that has a path, the client finds
// the path-inserted RFC 8414 document and the endpoints under the path.
func TestSDKClientIssuerPath(t *testing.T) {
	se := newSDKEnv(t, func(o *Options) { o.Issuer = strings.TrimSuffix(o.Resource, "/mcp") + "/auth" })
	if !strings.HasSuffix(se.srv.Metadata().TokenEndpoint, "/auth/token") {
		t.Fatalf("token endpoint %s", se.srv.Metadata().TokenEndpoint)
	}
	h, err := auth.NewAuthorizationCodeHandler(&auth.AuthorizationCodeHandlerConfig{
		DynamicClientRegistrationConfig: &auth.DynamicClientRegistrationConfig{Metadata: &oauthex.ClientRegistrationMetadata{
			ClientName:   "Go SDK client",
			RedirectURIs: []string{"http://127.0.0.1:47015/callback"},
			GrantTypes:   []string{"authorization_code", "refresh_token"},
		}},
		AuthorizationCodeFetcher: se.browser,
	})
	if err != nil {
		t.Fatal(err)
	}
	se.run(t, h, func() {})
}
