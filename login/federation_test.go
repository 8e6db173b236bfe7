package login

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/federation"
	"github.com/mcpgate/mcpgate/inmem"
	"github.com/mcpgate/mcpgate/seal"
	"github.com/mcpgate/mcpgate/sqlite"
)

// fakeOP is an OpenID provider on httptest whose ID tokens a test can
// spoil: discovery, a JWKS with one RSA key, and a token endpoint that
// checks the client's secret and the PKCE verifier before it answers.
type fakeOP struct {
	t     *testing.T
	srv   *httptest.Server
	key   *rsa.PrivateKey
	now   func() time.Time
	mu    sync.Mutex
	codes map[string]fakeCode
	// spoil edits the claims (and may change the alg) of the next ID
	// tokens.
	spoil func(claims jwt.MapClaims) jwt.SigningMethod
	// exchanges counts codes the token endpoint accepted.
	exchanges int
	issued    int
}

type fakeCode struct{ nonce, challenge, sub string }

const fakeClientID, fakeClientSecret = "mcpgate-test", "op-secret" // gitleaks:allow

func newFakeOP(t *testing.T, now func() time.Time) *fakeOP {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	op := &fakeOP{t: t, key: key, now: now, codes: map[string]fakeCode{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]string{
			"issuer": op.srv.URL, "authorization_endpoint": op.srv.URL + "/authorize",
			"token_endpoint": op.srv.URL + "/token", "jwks_uri": op.srv.URL + "/jwks",
		})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) {
		e := big.NewInt(int64(key.E)).Bytes()
		json.NewEncoder(w).Encode(map[string]any{"keys": []map[string]string{{
			"kty": "RSA", "kid": "k1", "alg": "RS256", "use": "sig",
			"n": base64.RawURLEncoding.EncodeToString(key.N.Bytes()), "e": base64.RawURLEncoding.EncodeToString(e),
		}}})
	})
	mux.HandleFunc("POST /token", op.token)
	op.srv = httptest.NewServer(mux)
	t.Cleanup(op.srv.Close)
	return op
}

func (op *fakeOP) exchanged() int {
	op.mu.Lock()
	defer op.mu.Unlock()
	return op.exchanges
}

// authorize plays the person signing in as sub at the provider: it reads
// the authorization request the pages sent the browser to and returns
// the callback path with a new code.
func (op *fakeOP) authorize(authURL, sub string) string {
	op.t.Helper()
	u, err := url.Parse(authURL)
	if err != nil || !strings.HasPrefix(authURL, op.srv.URL+"/authorize?") {
		op.t.Fatalf("not sent to the provider: %q", authURL)
	}
	q := u.Query()
	if q.Get("response_type") != "code" || q.Get("client_id") != fakeClientID || q.Get("code_challenge_method") != "S256" ||
		q.Get("code_challenge") == "" || q.Get("nonce") == "" || len(q.Get("state")) < 43 || !strings.Contains(q.Get("scope"), "openid") {
		op.t.Fatalf("authorization request lacks code flow, PKCE S256, nonce, state or openid: %s", u.RawQuery)
	}
	op.mu.Lock()
	op.issued++
	code := fmt.Sprintf("code-%d", op.issued)
	op.codes[code] = fakeCode{nonce: q.Get("nonce"), challenge: q.Get("code_challenge"), sub: sub}
	op.mu.Unlock()
	cb, _ := url.Parse(q.Get("redirect_uri"))
	return cb.Path + "?" + url.Values{"code": {code}, "state": {q.Get("state")}, "iss": {op.srv.URL}}.Encode()
}

func (op *fakeOP) token(w http.ResponseWriter, r *http.Request) {
	id, secret, ok := r.BasicAuth()
	if !ok {
		id, secret = r.PostFormValue("client_id"), r.PostFormValue("client_secret")
	}
	op.mu.Lock()
	c, found := op.codes[r.PostFormValue("code")]
	delete(op.codes, r.PostFormValue("code"))
	op.mu.Unlock()
	sum := sha256.Sum256([]byte(r.PostFormValue("code_verifier")))
	if id != fakeClientID || secret != fakeClientSecret || !found ||
		base64.RawURLEncoding.EncodeToString(sum[:]) != c.challenge {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		w.Write([]byte(`{"error":"invalid_grant"}`))
		return
	}
	now := op.now()
	claims := jwt.MapClaims{"iss": op.srv.URL, "sub": c.sub, "aud": fakeClientID, "nonce": c.nonce,
		"iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(), "preferred_username": c.sub}
	method := jwt.SigningMethod(jwt.SigningMethodRS256)
	if op.spoil != nil {
		if m := op.spoil(claims); m != nil {
			method = m
		}
	}
	tok := jwt.NewWithClaims(method, claims)
	tok.Header["kid"] = "k1"
	var key any = op.key
	if method == jwt.SigningMethodHS256 {
		key = []byte("a published key is no secret")
	}
	idToken, err := tok.SignedString(key)
	if err != nil {
		op.t.Error(err)
	}
	op.mu.Lock()
	op.exchanges++
	op.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"access_token": "op-access-" + c.sub, "refresh_token": "op-refresh-" + c.sub, // gitleaks:allow
		"token_type": "Bearer", "expires_in": 300, "id_token": idToken})
}

// fedEnv is the pages with federated sign-in at a fakeOP.
type fedEnv struct {
	*env
	op    *fakeOP
	store *inmem.FederationStore
	fed   *federation.Federation
}

func newFedEnv(t *testing.T) *fedEnv {
	t.Helper()
	fe := &fedEnv{store: inmem.NewFederationStore()}
	var opURL string
	fe.env = newEnv(t, func(o *Options) {
		fe.op = newFakeOP(t, o.Now)
		opURL = fe.op.srv.URL
		f, err := federation.New(fe.store, []federation.Provider{{
			Name: "Acme SSO", Issuer: opURL, ClientID: fakeClientID,
			ClientSecret: func() (string, error) { return fakeClientSecret, nil },
		}}, &federation.Options{
			RedirectURL: "http://127.0.0.1:8080" + Callback,
			Keys:        seal.Keys{Current: make([]byte, 32)},
			Now:         o.Now,
		})
		if err != nil {
			t.Fatal(err)
		}
		fe.fed = f
		o.Federation = f
	})
	return fe
}

// start follows the provider button for request req and returns where
// the browser was sent.
func (fe *fedEnv) start(a *agent, req string) string {
	fe.t.Helper()
	page := a.get("/login?req=" + url.QueryEscape(req))
	wantStatus(fe.t, page, http.StatusOK)
	if !strings.Contains(page.Body, `id="provider-0"`) || !strings.Contains(page.Body, "Sign in with Acme SSO") {
		fe.t.Fatalf("sign-in page offers no provider:\n%s", page.Body)
	}
	res := a.get("/login/oidc/start?provider=0&req=" + url.QueryEscape(req))
	if res.Status != http.StatusSeeOther {
		fe.t.Fatalf("start: status %d: %s", res.Status, res.Body)
	}
	return res.Header.Get("Location")
}

func (fe *fedEnv) tokensOf(sub string) *mcpgate.IdPTokens {
	t, err := fe.store.IdPTokens(fe.t.Context(), federation.Subject(fe.op.srv.URL, sub))
	if err != nil {
		return nil
	}
	return t
}

// TestFederatedSignIn signs in at the provider for a pending request: the
// browser lands on consent as the federated subject, the session approves
// as that subject, and the provider's tokens are kept sealed.
func TestFederatedSignIn(t *testing.T) {
	fe := newFedEnv(t)
	req := fe.backend.addRequest("cli-app", appRedirect, "notes:read")
	a := fe.agent()
	cb := fe.op.authorize(fe.start(a, req), "alice@acme")
	if _, ok := a.cookies["mcpgate-oidc"]; !ok {
		t.Fatalf("no state cookie set; cookies %v", a.cookies)
	}
	res := a.get(cb)
	wantRedirect(t, res, "/consent?req="+req)
	if _, ok := a.cookies["mcpgate-oidc"]; ok {
		t.Error("state cookie kept after the callback")
	}
	page := a.get("/consent?req=" + req)
	wantStatus(t, page, http.StatusOK)
	if !strings.Contains(page.Body, "Signed in as <strong>alice@acme (Acme SSO)</strong>") {
		t.Errorf("consent does not name the person as the provider does:\n%s", page.Body)
	}
	wantSub := federation.Subject(fe.op.srv.URL, "alice@acme")
	res = a.post("/consent", url.Values{"csrf": {csrf(t, page)}, "req": {req}, "action": {"approve"}, "scope": {"notes:read"}})
	if res.Status != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), appRedirect) {
		t.Fatalf("approve: %d %s", res.Status, res.Header.Get("Location"))
	}
	ap, _ := fe.backend.lastApproval()
	if ap.User.Subject != wantSub || ap.User.Method != mcpgate.MethodFederated || ap.User.KeyID != "" {
		t.Errorf("approved as %+v, want subject %s by %s", ap.User, wantSub, mcpgate.MethodFederated)
	}
	tok := fe.tokensOf("alice@acme")
	if tok == nil {
		t.Fatal("no provider tokens kept")
	}
	if strings.Contains(string(tok.AccessToken), "op-access") || strings.Contains(string(tok.RefreshToken), "op-refresh") {
		t.Error("provider tokens stored in the clear")
	}
	// mcpgate's own principal for that user gets the token for upstreams.
	got, err := fe.fed.AccessToken(t.Context(), &mcpgate.Principal{Subject: wantSub, Method: mcpgate.MethodOAuth})
	if err != nil || got != "op-access-alice@acme" {
		t.Errorf("AccessToken = %q, %v", got, err)
	}
}

// TestFederatedCallbackRefusals: the callback links nothing unless the
// state is this browser's, known, and new, and the ID token is the
// provider's, for this client, with this sign-in's nonce.
func TestFederatedCallbackRefusals(t *testing.T) {
	fe := newFedEnv(t)
	req := fe.backend.addRequest("cli-app", appRedirect, "notes:read")

	t.Run("forged state", func(t *testing.T) {
		a := fe.agent()
		fe.op.authorize(fe.start(a, req), "mallory")
		forged := strings.Repeat("A", 43)
		a.cookies["mcpgate-oidc"] = forged // the attacker's own page cannot do even this
		res := a.get(Callback + "?code=code-1&state=" + forged)
		wantStatus(t, res, http.StatusBadRequest)
		if fe.op.exchanged() != 0 || fe.tokensOf("mallory") != nil {
			t.Error("a forged state exchanged a code or linked tokens")
		}
		if _, ok := a.cookies["mcpgate-session"]; ok {
			t.Error("a forged state started a session")
		}
	})

	t.Run("missing cookie", func(t *testing.T) {
		a := fe.agent()
		cb := fe.op.authorize(fe.start(a, req), "bob")
		victim := fe.agent() // another browser, handed the callback link
		res := victim.get(cb)
		wantStatus(t, res, http.StatusBadRequest)
		if _, ok := victim.cookies["mcpgate-session"]; ok || fe.tokensOf("bob") != nil {
			t.Error("a callback without the state cookie signed in")
		}
		// The state was not used up by the refused attempt: the browser
		// that started the sign-in still finishes it.
		wantRedirect(t, a.get(cb), "/consent?req="+req)
	})

	t.Run("replayed state", func(t *testing.T) {
		a := fe.agent()
		cookieBefore := ""
		cb := fe.op.authorize(fe.start(a, req), "carol-idp")
		cookieBefore = a.cookies["mcpgate-oidc"]
		wantRedirect(t, a.get(cb), "/consent?req="+req)
		exchanged := fe.op.exchanged()
		a.cookies["mcpgate-oidc"] = cookieBefore // replay with the cookie too
		delete(a.cookies, "mcpgate-session")
		res := a.get(cb)
		wantStatus(t, res, http.StatusBadRequest)
		if fe.op.exchanged() != exchanged {
			t.Error("a replayed state exchanged a code again")
		}
		if _, ok := a.cookies["mcpgate-session"]; ok {
			t.Error("a replayed state started a session")
		}
	})

	spoilers := []struct {
		name  string
		spoil func(jwt.MapClaims) jwt.SigningMethod
	}{
		{"wrong nonce", func(c jwt.MapClaims) jwt.SigningMethod { c["nonce"] = "another sign-in's nonce"; return nil }},
		{"missing nonce", func(c jwt.MapClaims) jwt.SigningMethod { delete(c, "nonce"); return nil }},
		{"another audience", func(c jwt.MapClaims) jwt.SigningMethod { c["aud"] = "some-other-app"; return nil }},
		{"audiences without azp", func(c jwt.MapClaims) jwt.SigningMethod { c["aud"] = []string{fakeClientID, "other"}; return nil }},
		{"another issuer", func(c jwt.MapClaims) jwt.SigningMethod { c["iss"] = "https://evil.example.com"; return nil }},
		{"expired", func(c jwt.MapClaims) jwt.SigningMethod {
			c["exp"] = time.Unix(c["iat"].(int64), 0).Add(-time.Hour).Unix()
			return nil
		}},
		{"HS256 with a public key", func(c jwt.MapClaims) jwt.SigningMethod { return jwt.SigningMethodHS256 }},
		{"no sub", func(c jwt.MapClaims) jwt.SigningMethod { delete(c, "sub"); return nil }},
	}
	for _, sp := range spoilers {
		t.Run(sp.name, func(t *testing.T) {
			fe.op.spoil = sp.spoil
			defer func() { fe.op.spoil = nil }()
			sub := "victim-" + strings.ReplaceAll(sp.name, " ", "-")
			a := fe.agent()
			res := a.get(fe.op.authorize(fe.start(a, req), sub))
			wantStatus(t, res, http.StatusUnauthorized)
			if _, ok := a.cookies["mcpgate-session"]; ok || fe.tokensOf(sub) != nil {
				t.Error("an ID token that proves nothing signed in")
			}
		})
	}

	t.Run("issuer mix-up", func(t *testing.T) {
		a := fe.agent()
		cb := fe.op.authorize(fe.start(a, req), "dave-idp")
		cb = strings.Replace(cb, "iss="+url.QueryEscape(fe.op.srv.URL), "iss="+url.QueryEscape("https://other-idp.example.com"), 1)
		wantStatus(t, a.get(cb), http.StatusUnauthorized)
		if fe.tokensOf("dave-idp") != nil {
			t.Error("an authorization response from another issuer linked tokens")
		}
	})

	t.Run("cancelled at the provider", func(t *testing.T) {
		a := fe.agent()
		u, _ := url.Parse(fe.start(a, req))
		res := a.get(Callback + "?error=access_denied&state=" + url.QueryEscape(u.Query().Get("state")))
		wantStatus(t, res, http.StatusUnauthorized)
		if !strings.Contains(res.Body, "/login?req="+req) {
			t.Errorf("no way back to the sign-in page of the request:\n%s", res.Body)
		}
	})

	t.Run("unknown provider", func(t *testing.T) {
		wantStatus(t, fe.agent().get("/login/oidc/start?provider=7&req="+req), http.StatusNotFound)
	})

	t.Run("unknown request", func(t *testing.T) {
		wantStatus(t, fe.agent().get("/login/oidc/start?provider=0&req=nope"), http.StatusBadRequest)
	})
}

// TestFederatedSubjects: one provider's sub maps to one stable subject,
// another provider's same sub to another, and neither can be a local
// user's name.
func TestFederatedSubjects(t *testing.T) {
	a, b := federation.Subject("https://idp.example.com", "alice"), federation.Subject("https://other.example.com", "alice")
	if a == b || a != federation.Subject("https://idp.example.com", "alice") {
		t.Errorf("subjects %q and %q", a, b)
	}
	if !federation.IsFederated(a) || federation.IsFederated("alice") {
		t.Error("IsFederated")
	}
	if err := ValidateUsername(a); err == nil {
		t.Errorf("local user name %q allowed", a)
	}
}

// FuzzFederatedCallback: whatever the query and cookie, a callback whose
// state was never issued signs nobody in and never panics.
func FuzzFederatedCallback(f *testing.F) {
	f.Add("code=c&state=s", "s")
	f.Add("state=&code=", "")
	f.Add("error=access_denied&state=x", "x")
	f.Add("code=c&state=s&iss=https%3A%2F%2Fevil", "s")
	f.Add("state=%00%ff&state=two", "\x00")
	f.Fuzz(func(t *testing.T, query, cookie string) {
		fe := fuzzFedEnv(t)
		req := httptest.NewRequest(http.MethodGet, "http://127.0.0.1:8080"+Callback, nil)
		req.URL.RawQuery = query
		if cookie != "" {
			req.AddCookie(&http.Cookie{Name: "mcpgate-oidc", Value: cookie})
		}
		w := httptest.NewRecorder()
		fe.pages.Handler().ServeHTTP(w, req)
		if w.Code == http.StatusSeeOther || w.Code < 400 {
			t.Fatalf("callback %q with cookie %q: status %d", query, cookie, w.Code)
		}
		for _, c := range w.Result().Cookies() {
			if strings.Contains(c.Name, "session") && c.Value != "" {
				t.Fatalf("callback %q started a session", query)
			}
		}
	})
}

var (
	fuzzEnvOnce sync.Once
	fuzzEnv     *fedEnv
)

// fuzzFedEnv is one fedEnv for every input of a fuzz run.
func fuzzFedEnv(t *testing.T) *fedEnv {
	fuzzEnvOnce.Do(func() { fuzzEnv = newFedEnv(t) })
	return fuzzEnv
}

// TestFederatedSignInAcrossReplicas: the sign-in starts on one replica and
// the provider sends the browser back to another; they share only the
// store (two handles on one SQLite file), which holds the state.
func TestFederatedSignInAcrossReplicas(t *testing.T) {
	dir := t.TempDir()
	open := func() *sqlite.DB {
		db, err := sqlite.Open(t.Context(), dir)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	storeA, storeB := open(), open()
	var op *fakeOP
	replica := func(store federation.Store) func(*Options) {
		return func(o *Options) {
			if op == nil {
				op = newFakeOP(t, o.Now)
			}
			f, err := federation.New(store, []federation.Provider{{
				Name: "Acme SSO", Issuer: op.srv.URL, ClientID: fakeClientID,
				ClientSecret: func() (string, error) { return fakeClientSecret, nil },
			}}, &federation.Options{RedirectURL: "http://127.0.0.1:8080" + Callback, Keys: seal.Keys{Current: make([]byte, 32)}, Now: o.Now})
			if err != nil {
				t.Fatal(err)
			}
			o.Federation = f
		}
	}
	a := newEnv(t, replica(storeA))
	b := newEnv(t, replica(storeB))
	req := a.backend.addRequest("cli-app", appRedirect, "notes:read")
	b.backend.requests = a.backend.requests // one authorization server behind both

	browser := a.agent()
	res := browser.get("/login/oidc/start?provider=0&req=" + req)
	if res.Status != http.StatusSeeOther {
		t.Fatalf("start on replica A: %d %s", res.Status, res.Body)
	}
	cb := op.authorize(res.Header.Get("Location"), "erin")
	browser.base = b.srv.URL // the load balancer picks replica B
	wantRedirect(t, browser.get(cb), "/consent?req="+req)
	if _, err := storeA.IdPTokens(t.Context(), federation.Subject(op.srv.URL, "erin")); err != nil {
		t.Errorf("tokens stored by replica B not seen by replica A: %v", err)
	}
	// And the state is gone for both.
	browser.base = a.srv.URL
	wantStatus(t, browser.get(cb), http.StatusBadRequest)
}

// TestFederatedSubjectDisabled: once a federated subject is marked
// disabled (as mcpgate users disable does), its existing session can no
// longer approve, a new sign-in at the provider is refused with a page
// and keeps no provider tokens, and the mark signs in with no password;
// without the mark the same person signs in again.
func TestFederatedSubjectDisabled(t *testing.T) {
	fe := newFedEnv(t)
	req := fe.backend.addRequest("cli-app", appRedirect, "notes:read")
	sub := federation.Subject(fe.op.srv.URL, "alice@acme")

	a := fe.agent()
	wantRedirect(t, a.get(fe.op.authorize(fe.start(a, req), "alice@acme")), "/consent?req="+req)
	page := a.get("/consent?req=" + req)
	wantStatus(t, page, http.StatusOK)

	if err := fe.users.CreateUser(t.Context(), DisabledFederatedUser(sub, fe.clock.Now())); err != nil {
		t.Fatal(err)
	}
	res := a.post("/consent", url.Values{"csrf": {csrf(t, page)}, "req": {req}, "action": {"approve"}, "scope": {"notes:read"}})
	wantRedirect(t, res, "/login?req="+req)
	if _, ok := fe.backend.lastApproval(); ok {
		t.Fatal("the session of a disabled federated subject approved an app")
	}
	if _, ok := a.cookies["mcpgate-session"]; ok {
		t.Error("the session of a disabled federated subject was kept")
	}

	// A new sign-in at the provider is refused, and its tokens not kept.
	b := fe.agent()
	res = b.get(fe.op.authorize(fe.start(b, req), "alice@acme"))
	wantStatus(t, res, http.StatusForbidden)
	if !strings.Contains(res.Body, "Your account is disabled here") {
		t.Errorf("refusal page does not say why:\n%s", res.Body)
	}
	if _, ok := b.cookies["mcpgate-session"]; ok {
		t.Error("a disabled federated subject got a session")
	}
	if fe.tokensOf("alice@acme") != nil {
		t.Error("the provider tokens of a disabled federated subject were kept")
	}

	// Someone else at the same provider is not affected.
	c := fe.agent()
	wantRedirect(t, c.get(fe.op.authorize(fe.start(c, req), "bob@acme")), "/consent?req="+req)

	// The mark is no account: no password signs in to it.
	for _, pw := range []string{NoPassword, "", "anything"} {
		if res := fe.agent().login(req, sub, pw); res.Status == http.StatusSeeOther {
			t.Errorf("password %q signed in to the mark of %s", pw, sub)
		}
	}

	// Enabled again (the mark deleted): the person signs in.
	fe.users.mu.Lock()
	delete(fe.users.users, sub)
	fe.users.mu.Unlock()
	d := fe.agent()
	wantRedirect(t, d.get(fe.op.authorize(fe.start(d, req), "alice@acme")), "/consent?req="+req)
	page = d.get("/consent?req=" + req)
	wantStatus(t, page, http.StatusOK)
	res = d.post("/consent", url.Values{"csrf": {csrf(t, page)}, "req": {req}, "action": {"approve"}, "scope": {"notes:read"}})
	if ap, ok := fe.backend.lastApproval(); res.Status != http.StatusSeeOther || !ok || ap.User.Subject != sub {
		t.Errorf("after enabling: approve %d, approval %+v", res.Status, ap)
	}
}

// TestFederatedStartLimited: sign-ins begun at the provider, each of which
// stores a state, are limited per client address: past the budget the
// start page answers 429 with Retry-After and stores nothing, and the
// budget refills with time.
func TestFederatedStartLimited(t *testing.T) {
	fe := newFedEnv(t)
	start := "/login/oidc/start?provider=0"
	for i := range startLimit.Burst {
		a := fe.agent()
		if res := a.get(start); res.Status != http.StatusSeeOther {
			t.Fatalf("start %d: status %d", i, res.Status)
		}
	}
	a := fe.agent()
	res := a.get(start)
	wantStatus(t, res, http.StatusTooManyRequests)
	if res.Header.Get("Retry-After") == "" || !strings.Contains(res.Body, "Too many sign-ins were started from your network") {
		t.Errorf("429 without Retry-After or a page: %v\n%s", res.Header, res.Body)
	}
	if _, ok := a.cookies["mcpgate-oidc"]; ok {
		t.Error("a refused start set a state cookie")
	}
	// Password sign-in from the same address is not charged for it.
	req := fe.backend.addRequest("cli-app", appRedirect, "notes:read")
	wantRedirect(t, fe.agent().login(req, "alice", alicePassword), "/consent?req="+req)

	fe.clock.Advance(startLimit.Per / time.Duration(startLimit.Rate))
	if res := fe.agent().get(start); res.Status != http.StatusSeeOther {
		t.Errorf("after the budget refilled: status %d", res.Status)
	}
	if res := fe.agent().get(start); res.Status != http.StatusTooManyRequests {
		t.Errorf("one refill admitted two starts: status %d", res.Status)
	}
}

// TestFederatedStartLimitedShared: with a limiter shared by replicas, the
// budget is the address's across all of them.
func TestFederatedStartLimitedShared(t *testing.T) {
	shared := inmem.New(nil)
	one := newEnv(t, func(o *Options) { o.Limiter = shared; o.Federation = stubFederation{} })
	two := newEnv(t, func(o *Options) { o.Limiter = shared; o.Federation = stubFederation{} })
	start := "/login/oidc/start?provider=0"
	for i := range startLimit.Burst {
		e := one
		if i%2 == 1 {
			e = two
		}
		if res := e.agent().get(start); res.Status != http.StatusSeeOther {
			t.Fatalf("start %d: status %d", i, res.Status)
		}
	}
	for _, e := range []*env{one, two} {
		if res := e.agent().get(start); res.Status != http.StatusTooManyRequests {
			t.Errorf("past the shared budget: status %d", res.Status)
		}
	}
}

// stubFederation begins every sign-in at a provider that is never
// visited.
type stubFederation struct{}

func (stubFederation) Providers() []federation.ProviderInfo {
	return []federation.ProviderInfo{{ID: "0", Name: "Stub"}}
}

func (stubFederation) Begin(context.Context, string, string) (string, string, error) {
	return "https://idp.example.com/authorize", strings.Repeat("s", 43), nil
}

func (stubFederation) Abort(context.Context, string) (string, error) { return "", federation.ErrState }

func (stubFederation) Finish(context.Context, string, string, string) (*federation.Identity, error) {
	return nil, federation.ErrState
}

func (stubFederation) Describe(string) string { return "" }

func (stubFederation) Forget(context.Context, string) error { return nil }
