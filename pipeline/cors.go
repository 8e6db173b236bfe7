package pipeline

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// Words of [Options].CORSOrigins besides exact origins.
const (
	// AnyOrigin admits a page of any origin.
	AnyOrigin = "*"
	// LoopbackOrigins admits pages served from loopback addresses or
	// localhost, on any port: local tools such as the MCP Inspector.
	LoopbackOrigins = "loopback"
)

// Headers of the CORS grant of an MCP endpoint. A browser client sends the
// MCP headers of Streamable HTTP and its bearer token, and must read the
// session id, the challenge of a 401 and the rate-limit fields.
const (
	corsAllowMethods  = "GET, POST, DELETE"
	corsAllowHeaders  = "Authorization, Content-Type, Accept, Mcp-Protocol-Version, Mcp-Session-Id, Last-Event-Id, Mcp-Method, Mcp-Name"
	corsExposeHeaders = "Mcp-Session-Id, Mcp-Protocol-Version, WWW-Authenticate, RateLimit, RateLimit-Policy, Retry-After, X-Request-Id"
	// corsMaxAge is how long a browser may reuse a preflight, in seconds:
	// the most Chromium honours.
	corsMaxAge = "7200"
)

// origins is the set of origins whose pages may call an endpoint.
type origins struct {
	any, loopback bool
	exact         map[string]bool // scheme://host[:port], lower-case
}

// ValidateOrigins reports the first entry of list that is neither an
// origin (scheme://host[:port], http or https, nothing after the host),
// [AnyOrigin] nor [LoopbackOrigins].
func ValidateOrigins(list []string) error {
	_, err := parseOrigins(list)
	return err
}

// parseOrigins returns the set list names, without the entries that are
// not valid (they match no origin), and the first such entry's error.
func parseOrigins(list []string) (origins, error) {
	o := origins{exact: map[string]bool{}}
	var first error
	for _, s := range list {
		switch s = strings.TrimSpace(s); s {
		case AnyOrigin:
			o.any = true
			continue
		case LoopbackOrigins:
			o.loopback = true
			continue
		}
		u, err := url.Parse(s)
		if err != nil || u.Scheme != "http" && u.Scheme != "https" || u.Host == "" ||
			u.User != nil || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(s, "?") || strings.HasSuffix(s, "#") {
			if first == nil {
				first = fmt.Errorf("CORS origin %q: want scheme://host[:port] (no path), %q or %q", s, AnyOrigin, LoopbackOrigins)
			}
			continue
		}
		o.exact[strings.ToLower(s)] = true
	}
	return o, first
}

// allows reports whether a page of origin may call the endpoint. The
// opaque origin "null" (a sandboxed frame, a local file) is never listed.
func (o *origins) allows(origin string) bool {
	if origin == "null" {
		return false
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" || u.Scheme != "http" && u.Scheme != "https" {
		return false
	}
	return o.any || o.exact[strings.ToLower(u.Scheme+"://"+u.Host)] || o.loopback && LoopbackHost(u.Host)
}

// isPreflight reports whether r is a CORS preflight: the OPTIONS request a
// browser sends before a cross-origin request it may not make unasked.
func isPreflight(r *http.Request) bool {
	return r.Method == http.MethodOptions && r.Header.Get("Origin") != "" && r.Header.Get("Access-Control-Request-Method") != ""
}

// grantCORS lets a page of origin, already allowed, read the answer: the
// same headers on every answer, refusals included, so that a browser
// client reads the challenge of a 401 and the Retry-After of a 429.
// Credentials are never allowed: the endpoint reads bearer tokens, never
// cookies.
func grantCORS(h http.Header, origin string) {
	h["Access-Control-Allow-Origin"] = []string{origin}
	h["Access-Control-Expose-Headers"] = []string{corsExposeHeaders}
}

// answerPreflight answers the preflight of an allowed origin; grantCORS
// has set the common headers.
func answerPreflight(w http.ResponseWriter) {
	h := w.Header()
	h["Access-Control-Allow-Methods"] = []string{corsAllowMethods}
	h["Access-Control-Allow-Headers"] = []string{corsAllowHeaders}
	h["Access-Control-Max-Age"] = []string{corsMaxAge}
	w.WriteHeader(http.StatusNoContent)
}
