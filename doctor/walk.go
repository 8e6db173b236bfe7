package doctor

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// protocolVersion is the MCP revision doctor announces, as the clients it
// models do.
const protocolVersion = "2025-11-25"

var (
	initializeBody = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"` + protocolVersion +
		`","capabilities":{},"clientInfo":{"name":"mcpgate-doctor","version":"1"}}}`
	initializeHeader = http.Header{
		"Content-Type": {"application/json"},
		"Accept":       {"application/json, text/event-stream"},
	}
	metadataHeader = http.Header{
		"Accept":               {"application/json"},
		"Mcp-Protocol-Version": {protocolVersion},
	}
)

// walk is one family's way through the steps. It stops at the family's
// first failure: later steps depend on what that one would have found.
type walk struct {
	c      *checker
	f      Family
	res    *FamilyResult
	failed bool

	prmURL string // the protected resource metadata the family used
	asURL  string // the authorization server metadata URL it used
	md     *serverMetadata
}

func (w *walk) fail(step, problem, fix string) {
	w.c.issue(step, Fail, w.f.Name, problem, fix)
	if !w.failed {
		w.failed = true
		w.res.Result, w.res.Step, w.res.Problem = Fail, step, problem
	}
}

func (w *walk) warn(step, problem, fix string) {
	w.c.issue(step, Warn, w.f.Name, problem, fix)
	if w.res.Result == OK {
		w.res.Result, w.res.Step, w.res.Problem = Warn, step, problem
	}
}

func (w *walk) run() {
	steps := []func() bool{w.checkURL, w.challenge, w.resourceMetadata, w.serverMetadata, w.pkce, w.registration, w.cors}
	for _, s := range steps {
		if !s() || w.failed {
			return
		}
	}
}

func (w *walk) checkURL() bool {
	c := w.c
	if p := secureURL(c.raw); p != "" {
		c.seen(StepURL, "%s", p)
		w.fail(StepURL, p+": tokens would cross the network in clear, and clients refuse it",
			"serve the MCP endpoint over https (a TLS proxy in front of mcpgate, and --public-url https://…)")
		return false
	}
	if c.url.Scheme == "http" {
		c.seen(StepURL, "plain http on loopback, which the MCP specification allows")
	} else {
		c.seen(StepURL, "https")
	}
	return true
}

// challenge sends the request every client starts with, an initialize
// without credentials, and reads the 401's Bearer challenge.
func (w *walk) challenge() bool {
	c := w.c
	r := c.p.do(http.MethodPost, c.raw, initializeHeader, initializeBody)
	fix := "answer a request without a token with 401 and WWW-Authenticate: Bearer resource_metadata=\"…\" (MCP authorization §2.3.1; mcpgate does)"
	switch {
	case r.err != nil:
		c.seen(StepChallenge, "POST initialize: %s", r.describe())
		w.fail(StepChallenge, "the MCP URL did not answer: "+r.describe(), "check the URL, DNS, TLS and that the server is up")
		return false
	case r.status/100 == 2:
		c.seen(StepChallenge, "POST initialize without credentials: %d", r.status)
		w.fail(StepChallenge, fmt.Sprintf("an initialize without credentials got %d: no client is asked to sign in, and anyone can use the server", r.status),
			"put an authenticating gateway such as mcpgate in front and give clients its URL")
		return false
	case r.status != http.StatusUnauthorized:
		c.seen(StepChallenge, "POST initialize without credentials: %s", r.describe())
		w.fail(StepChallenge, fmt.Sprintf("an initialize without credentials got %s, not 401", r.describe()), fix)
		return false
	}
	h := strings.Join(r.header.Values("WWW-Authenticate"), ", ")
	if h == "" {
		c.seen(StepChallenge, "401 without WWW-Authenticate")
		return w.noChallenge("the 401 has no WWW-Authenticate header", fix)
	}
	c.seen(StepChallenge, "401, WWW-Authenticate: %s", clip(h, 200))
	ch, found, err := bearerChallenge(h)
	if err != nil {
		return w.noChallenge("WWW-Authenticate does not parse: "+err.Error(), fix)
	}
	if !found {
		return w.noChallenge("the 401 has no Bearer challenge", fix)
	}
	if ch.Params["scope"] == "" {
		c.seen(StepChallenge, "no scope hint: clients take scopes_supported from the metadata")
	}
	rm := ch.Params["resource_metadata"]
	switch {
	case rm == "":
		c.seen(StepChallengeMetadata, "no resource_metadata parameter")
	case !absoluteURL(rm):
		c.seen(StepChallengeMetadata, "resource_metadata=%q is not an absolute URL", rm)
		rm = ""
	default:
		c.seen(StepChallengeMetadata, "resource_metadata=%s", rm)
		if p := secureURL(rm); p != "" {
			w.fail(StepChallengeMetadata, "the metadata URL "+p, "serve the metadata over https")
			return false
		}
	}
	if rm == "" && w.f.PRMFromChallengeOnly {
		w.fail(StepChallengeMetadata, "the 401 names no resource_metadata URL, the only place these clients look for protected resource metadata",
			"add resource_metadata=\"<metadata URL>\" to the 401's Bearer challenge (RFC 9728 §5.1; mcpgate does)")
		return false
	}
	w.prmURL = rm
	return true
}

// noChallenge is a 401 without a Bearer challenge to read: clients that
// probe the well-known metadata URLs go on (the TypeScript SDK calls its
// auth flow on any 401), the others stop.
func (w *walk) noChallenge(problem, fix string) bool {
	if w.f.PRMFromChallengeOnly {
		w.fail(StepChallenge, problem+", the only place these clients look for the metadata URL", fix)
		return false
	}
	w.warn(StepChallenge, problem+": these clients go on to the well-known metadata URLs", fix)
	w.prmURL = ""
	return true
}

// resourceMetadata finds protected resource metadata where the family
// looks for it and checks its resource.
func (w *walk) resourceMetadata() bool {
	c := w.c
	o := origin(c.url)
	pathURL := o + "/.well-known/oauth-protected-resource" + strings.TrimSuffix(c.url.EscapedPath(), "/")
	rootURL := o + "/.well-known/oauth-protected-resource"
	var tries []string
	if w.prmURL != "" {
		tries = append(tries, w.prmURL)
	}
	if !w.f.PRMFromChallengeOnly && (w.prmURL == "" || !w.f.ChallengeURLStopsProbing) {
		for _, u := range []string{pathURL, rootURL} {
			if !slices.Contains(tries, u) {
				tries = append(tries, u)
			}
		}
	}
	var md *resourceMetadata
	var tried []string
	for _, u := range tries {
		r := c.p.get(u, metadataHeader)
		if !r.ok() {
			c.seen(StepPRM, "%s: %s", u, r.describe())
			tried = append(tried, u+" ("+r.describe()+")")
			if r.err == nil && r.status >= 500 && w.f.ChallengeURLStopsProbing {
				break
			}
			continue
		}
		m, err := parseResourceMetadata(r.body)
		if err != nil {
			c.seen(StepPRM, "%s: 200, %v", u, err)
			tried = append(tried, u+" (200, "+err.Error()+")")
			if w.f.ChallengeURLStopsProbing {
				break // the SDK's schema check throws; it does not go on
			}
			continue
		}
		c.seen(StepPRM, "%s: 200", u)
		md, w.prmURL = m, u
		break
	}
	fix := fmt.Sprintf("serve RFC 9728 metadata at %s, name it in the 401's resource_metadata, and give the root URL too (mcpgate serves all three)", pathURL)
	if md == nil {
		w.prmURL = ""
		return w.withoutResourceMetadata("no protected resource metadata at "+strings.Join(tried, "; "), fix)
	}
	c.seen(StepResource, "%s: resource %s", w.prmURL, md.Resource)
	if md.Resource != c.raw {
		switch {
		case w.f.ExactResource:
			w.fail(StepResource, fmt.Sprintf("the metadata at %s names resource %s, not the MCP URL %s: clients that check it exactly refuse it (RFC 9728 §3.3)", w.prmURL, md.Resource, c.raw),
				"make resource exactly the URL clients connect to (for mcpgate: --public-url, and /mcp/<name> for an upstream)")
			return false
		case resourceAllowed(c.raw, md.Resource):
			w.warn(StepResource, fmt.Sprintf("the metadata names resource %s, a prefix of the MCP URL: the SDK accepts it and asks for tokens for %s", md.Resource, md.Resource),
				"make resource exactly the MCP URL, so tokens are bound to this server alone")
		default:
			w.fail(StepResource, fmt.Sprintf("the metadata at %s names resource %s, which does not cover the MCP URL %s: every client refuses it", w.prmURL, md.Resource, c.raw),
				"make resource exactly the URL clients connect to (for mcpgate: --public-url, and /mcp/<name> for an upstream)")
			return false
		}
	}
	if len(md.AuthorizationServers) == 0 {
		return w.withoutResourceMetadata(fmt.Sprintf("the metadata at %s names no authorization_servers", w.prmURL),
			"list the authorization server's issuer in authorization_servers")
	}
	c.seen(StepPRM, "authorization server %s", md.AuthorizationServers[0])
	w.asURL = md.AuthorizationServers[0]
	return true
}

// withoutResourceMetadata is what a family does when it finds no usable
// protected resource metadata: the 2025-03-26 fallback to the MCP server's
// origin, or a failure.
func (w *walk) withoutResourceMetadata(problem, fix string) bool {
	if !w.f.LegacyWithoutPRM {
		w.fail(StepPRM, problem, fix)
		return false
	}
	w.asURL = origin(w.c.url) + "/"
	w.warn(StepPRM, problem+": it falls back to the MCP server's origin as authorization server (the 2025-03-26 revision) and sends no resource indicator, so its tokens are not bound to this server", fix)
	return true
}

// serverMetadata finds the authorization server's metadata at the URLs the
// family tries, in its order.
func (w *walk) serverMetadata() bool {
	c := w.c
	if p := secureURL(w.asURL); p != "" {
		w.fail(StepASMetadata, "the authorization server "+p, "serve the authorization server over https")
		return false
	}
	urls := discoveryURLs(w.asURL, w.f.OIDCDiscovery)
	var tried []string
	for _, u := range urls {
		r := c.p.get(u, metadataHeader)
		if !r.ok() {
			c.seen(StepASMetadata, "%s: %s", u, r.describe())
			tried = append(tried, u+" ("+r.describe()+")")
			if r.err == nil && r.status >= 500 {
				w.fail(StepASMetadata, fmt.Sprintf("%s answered %d: discovery stops there", u, r.status), "fix the authorization server's metadata endpoint")
				return false
			}
			continue
		}
		oidc := strings.Contains(u, "/openid-configuration")
		md, err := parseServerMetadata(r.body, oidc)
		if err != nil {
			c.seen(StepASMetadata, "%s: 200, %v", u, err)
			fix := "serve complete RFC 8414 metadata (issuer, authorization_endpoint, token_endpoint, response_types_supported)"
			if oidc {
				fix = "serve complete OpenID provider metadata (OpenID Connect Discovery 1.0 §3 requires jwks_uri, subject_types_supported and id_token_signing_alg_values_supported too), or RFC 8414 metadata at " + urls[0]
			}
			w.fail(StepASMetadata, fmt.Sprintf("the metadata at %s is not usable: %v", u, err), fix)
			return false
		}
		c.seen(StepASMetadata, "%s: 200", u)
		w.md, w.asURL = md, u
		break
	}
	if w.md == nil {
		fix := fmt.Sprintf("serve RFC 8414 metadata at %s", urls[0])
		if !w.f.OIDCDiscovery {
			fix += " (these clients do not read OpenID configuration)"
		}
		w.fail(StepASMetadata, "no authorization server metadata at "+strings.Join(tried, "; "), fix)
		return false
	}
	md := w.md
	for _, ep := range []struct{ name, u string }{
		{"authorization_endpoint", md.AuthorizationEndpoint}, {"token_endpoint", md.TokenEndpoint}, {"registration_endpoint", md.RegistrationEndpoint},
	} {
		if ep.u == "" {
			continue
		}
		if p := secureURL(ep.u); p != "" {
			w.fail(StepASMetadata, ep.name+" "+p, "serve every endpoint of the authorization server over https")
			return false
		}
	}
	if !slices.Contains(md.ResponseTypesSupported, "code") {
		w.fail(StepASMetadata, fmt.Sprintf("response_types_supported %v lacks \"code\": MCP clients use the authorization code flow only", md.ResponseTypesSupported),
			"support the authorization code flow and list \"code\"")
		return false
	}
	return true
}

func (w *walk) pkce() bool {
	c, md := w.c, w.md
	methods := md.CodeChallengeMethodsSupported
	if methods == nil {
		c.seen(StepPKCE, "%s: no code_challenge_methods_supported", w.asURL)
	} else {
		c.seen(StepPKCE, "%s: code_challenge_methods_supported %v", w.asURL, methods)
	}
	fix := `advertise code_challenge_methods_supported: ["S256"] and enforce it (mcpgate does)`
	switch {
	case slices.Contains(methods, "S256"):
		return true
	case methods == nil && w.f.RequireS256Listed:
		w.fail(StepPKCE, "the metadata does not list code_challenge_methods_supported: these clients refuse to proceed without S256 listed (MCP authorization 2025-11-25, authorization code protection)", fix)
		return false
	case methods == nil:
		w.warn(StepPKCE, "the metadata does not list code_challenge_methods_supported: these clients send S256 anyway, which works only if the server supports it unlisted", fix)
		return true
	default:
		w.fail(StepPKCE, fmt.Sprintf("code_challenge_methods_supported %v lacks S256, the only method MCP clients use", methods), fix)
		return false
	}
}

// registration checks that the family can get a client id: a client ID
// metadata document where both sides support them, else dynamic
// registration.
func (w *walk) registration() bool {
	c, md := w.c, w.md
	c.seen(StepRegistration, "%s: client_id_metadata_document_supported %v", w.asURL, md.ClientIDMetadataDocumentSupported)
	var dcr regResult
	if md.RegistrationEndpoint != "" {
		dcr = c.register(md.RegistrationEndpoint)
	} else {
		c.seen(StepRegistration, "%s: no registration_endpoint", w.asURL)
	}
	if w.f.CIMD && md.ClientIDMetadataDocumentSupported {
		return true
	}
	switch {
	case md.RegistrationEndpoint == "" && w.f.CIMD:
		w.fail(StepRegistration, "neither a registration_endpoint nor client_id_metadata_document_supported: no way to get a client id",
			"turn on dynamic client registration (RFC 7591) or client ID metadata documents")
		return false
	case md.RegistrationEndpoint == "":
		w.fail(StepRegistration, "no registration_endpoint: these clients register dynamically and do not use client ID metadata documents",
			"turn on dynamic client registration (RFC 7591)")
		return false
	case dcr.problem != "":
		w.fail(StepRegistration, dcr.problem, dcr.fix)
		return false
	}
	return true
}

type regResult struct{ problem, fix string }

// register checks a registration endpoint: without Options.Register by a
// registration the server must refuse with an RFC 7591 error, with it by
// registering a public client for real.
func (c *checker) register(ep string) regResult {
	if c.reg == nil {
		c.reg = map[string]regResult{}
	}
	if r, ok := c.reg[ep]; ok {
		return r
	}
	res := c.sendRegistration(ep)
	c.reg[ep] = res
	return res
}

func (c *checker) sendRegistration(ep string) regResult {
	hdr := http.Header{"Content-Type": {"application/json"}, "Accept": {"application/json"}}
	fixOpen := "let clients register without a token (MCP clients cannot be given one), and limit registrations per address (mcpgate does); or offer client ID metadata documents"
	if c.opts.Register {
		body := `{"client_name":"mcpgate doctor","redirect_uris":["http://127.0.0.1:33418/callback"],"grant_types":["authorization_code","refresh_token"],"response_types":["code"],"token_endpoint_auth_method":"none"}`
		r := c.p.do(http.MethodPost, ep, hdr, body)
		var out struct {
			ClientID string `json:"client_id"`
		}
		if r.err != nil || r.status/100 != 2 {
			c.seen(StepRegistration, "%s: registering a public client: %s", ep, r.describe())
			if r.err == nil && (r.status == 401 || r.status == 403) {
				return regResult{fmt.Sprintf("registration answered %d: it needs an initial access token", r.status), fixOpen}
			}
			return regResult{"registering a public client got " + r.describe(), "accept RFC 7591 registrations of public clients with loopback redirect URIs"}
		}
		if err := json.Unmarshal(r.body, &out); err != nil || out.ClientID == "" {
			c.seen(StepRegistration, "%s: registered, but the answer has no client_id", ep)
			return regResult{"the registration answer has no client_id", "answer a registration with the RFC 7591 client information response"}
		}
		c.seen(StepRegistration, "%s: registered client %s (it stays registered; remove it with `mcpgate clients revoke %s`)", ep, out.ClientID, out.ClientID)
		return regResult{}
	}
	r := c.p.do(http.MethodPost, ep, hdr, `{}`)
	var e struct {
		Error string `json:"error"`
	}
	switch {
	case r.err != nil:
		c.seen(StepRegistration, "%s: %s", ep, r.describe())
		return regResult{"the registration endpoint did not answer: " + r.describe(), "check the registration endpoint"}
	case r.status == 401 || r.status == 403:
		c.seen(StepRegistration, "%s: an empty registration got %d", ep, r.status)
		return regResult{fmt.Sprintf("registration answered %d: it needs an initial access token", r.status), fixOpen}
	case r.status/100 == 2:
		c.seen(StepRegistration, "%s: an empty registration got %d", ep, r.status)
		return regResult{fmt.Sprintf("an empty registration (no redirect_uris) got %d: the server registers clients it cannot redirect to safely", r.status),
			"refuse registrations without redirect_uris with 400 invalid_redirect_uri (RFC 7591 §3.2.2)"}
	case r.status != http.StatusBadRequest || json.Unmarshal(r.body, &e) != nil || e.Error == "":
		c.seen(StepRegistration, "%s: an empty registration got %s", ep, r.describe())
		return regResult{fmt.Sprintf("an empty registration got %s, not 400 with an RFC 7591 error", r.describe()), "answer invalid registrations with 400 and {\"error\": …} (RFC 7591 §3.2.2)"}
	}
	c.seen(StepRegistration, "%s: an empty registration got 400 %s (nothing registered; --register registers for real)", ep, e.Error)
	return regResult{}
}

// cors checks, for a family that runs in a web page, that each endpoint it
// calls lets its page's origin read the answers.
func (w *walk) cors() bool {
	if !w.f.Browser {
		return true
	}
	c, origin := w.c, w.f.BrowserOrigin
	type probe struct {
		what, url string
		preflight string // the request headers of a preflight, or "" for a GET
	}
	probes := []probe{{"MCP endpoint", c.raw, "authorization, content-type, mcp-protocol-version"}}
	if w.prmURL != "" {
		probes = append(probes, probe{"resource metadata", w.prmURL, ""})
	}
	probes = append(probes, probe{"authorization server metadata", w.asURL, ""},
		probe{"token endpoint", w.md.TokenEndpoint, "content-type"})
	if w.md.RegistrationEndpoint != "" && !(w.f.CIMD && w.md.ClientIDMetadataDocumentSupported) {
		probes = append(probes, probe{"registration endpoint", w.md.RegistrationEndpoint, "content-type"})
	}
	var problems []string
	anyACAO := false
	for _, p := range probes {
		var r *response
		if p.preflight != "" {
			r = c.p.do(http.MethodOptions, p.url, http.Header{
				"Origin":                         {origin},
				"Access-Control-Request-Method":  {"POST"},
				"Access-Control-Request-Headers": {p.preflight},
			}, "")
		} else {
			r = c.p.get(p.url, http.Header{"Origin": {origin}, "Accept": {"application/json"}})
		}
		problem := corsProblem(r, origin, p.preflight)
		if r.err == nil && r.header.Get("Access-Control-Allow-Origin") != "" {
			anyACAO = true
		}
		kind := "GET"
		if p.preflight != "" {
			kind = "preflight"
		}
		if problem == "" {
			c.seen(StepCORS, "%s %s from %s: allowed", kind, p.url, origin)
			continue
		}
		c.seen(StepCORS, "%s %s from %s: %s", kind, p.url, origin, problem)
		problems = append(problems, p.what+" ("+problem+")")
	}
	if len(problems) == 0 {
		return true
	}
	fix := "answer preflights (OPTIONS) and responses with Access-Control-Allow-Origin for the page's origin, allowing the Authorization, Content-Type and Mcp-Protocol-Version headers and exposing WWW-Authenticate and Mcp-Session-Id"
	what := "CORS refuses the page at "
	if !anyACAO {
		what = "no CORS at all: "
	}
	if w.f.BrowserOptional {
		w.warn(StepCORS, what+strings.Join(problems, ", ")+": the page cannot make these requests itself (the Inspector's Direct connection, or its OAuth requests in Direct mode); routed through the Inspector's proxy they work",
			fix+"; or set the Inspector's connection and OAuth requests to go through its proxy")
		return true
	}
	w.fail(StepCORS, what+strings.Join(problems, ", "), fix)
	return false
}

// corsProblem says why a browser at origin could not read r (a preflight
// for the given request headers, or a GET), or "" when it could.
func corsProblem(r *response, origin, requestHeaders string) string {
	if r.err != nil {
		return r.describe()
	}
	if requestHeaders != "" && r.status/100 != 2 {
		return fmt.Sprintf("preflight answered %d", r.status)
	}
	acao := r.header.Get("Access-Control-Allow-Origin")
	if acao == "" {
		return "no Access-Control-Allow-Origin"
	}
	if acao != "*" && acao != origin {
		return "Access-Control-Allow-Origin is " + acao
	}
	if requestHeaders == "" {
		return ""
	}
	if m := r.header.Get("Access-Control-Allow-Methods"); m != "" && !listHas(m, "POST") && strings.TrimSpace(m) != "*" {
		return "POST not in Access-Control-Allow-Methods"
	}
	allowed := r.header.Get("Access-Control-Allow-Headers")
	var missing []string
	for _, h := range strings.Split(requestHeaders, ",") {
		h = strings.TrimSpace(h)
		// "*" does not cover Authorization (Fetch standard, CORS protocol).
		if listHas(allowed, h) || strings.TrimSpace(allowed) == "*" && !strings.EqualFold(h, "authorization") {
			continue
		}
		missing = append(missing, h)
	}
	if len(missing) > 0 {
		return "Access-Control-Allow-Headers lacks " + strings.Join(missing, ", ")
	}
	return ""
}

func listHas(list, v string) bool {
	for _, x := range strings.Split(list, ",") {
		if strings.EqualFold(strings.TrimSpace(x), v) {
			return true
		}
	}
	return false
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
