package gateway

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/oauthex"

	"github.com/mcpgate/mcpgate/authz"
	"github.com/mcpgate/mcpgate/oauth"
)

// prmPath is the well-known path of protected resource metadata; the
// metadata of the resource at /a/b lives at prmPath + "/a/b" ([RFC 9728]
// §3.1).
//
// [RFC 9728]: https://www.rfc-editor.org/rfc/rfc9728#section-3.1
const prmPath = "/.well-known/oauth-protected-resource"

// metadataURL is where the protected resource metadata for public lives:
// the path-inserted well-known URL of RFC 9728 §3.1.
func metadataURL(public *url.URL) string {
	p := strings.TrimSuffix(public.Path, "/")
	return public.Scheme + "://" + public.Host + prmPath + p
}

// endpoint is an MCP endpoint the gateway serves, and the protected
// resource it is: the built-in server or an upstream, each with its own
// URL (the audience of tokens issued for it), metadata and scopes.
type endpoint struct {
	name     string // the upstream's name; "" for the built-in server
	path     string // where it is served, e.g. /mcp/jira
	resource string // canonical URL, e.g. https://mcp.example.com/mcp/jira
	prm      string // URL of its protected resource metadata
	scopes   []string
	// descriptions are the words of the consent page for scopes; nil
	// leaves the login pages' own (the built-in server's).
	descriptions map[string]string
	policy       *authz.Policy
	handler      http.Handler
}

// upstreamEndpoint describes upstream u, served at u.Path.
func (g *Gateway) upstreamEndpoint(u Upstream) endpoint {
	ep := g.endpointAt(u.Path)
	ep.name, ep.policy, ep.handler = u.Name, u.Policy, u.Handler
	ep.scopes = u.Policy.Scopes()
	// An upstream's scopes are its own: described by its policy or by
	// their names, never by the built-in server's words.
	ep.descriptions = map[string]string{}
	if u.Policy != nil {
		for sc, text := range u.Policy.ScopeDescriptions {
			ep.descriptions[sc] = text
		}
	}
	return ep
}

// endpointAt returns the resource and metadata URLs of an endpoint at
// path: the public URL's own for the path it names, else the public URL's
// origin with path.
func (g *Gateway) endpointAt(path string) endpoint {
	if path == g.basePath() {
		return endpoint{path: path, resource: resourceOf(g.public), prm: metadataURL(g.public)}
	}
	return endpoint{path: path, resource: g.origin() + path, prm: g.origin() + prmPath + path}
}

// basePath is where the public URL serves MCP: the built-in server, or an
// upstream configured at that path.
func (g *Gateway) basePath() string {
	base := strings.TrimSuffix(g.public.Path, "/")
	if base == "" {
		base = "/mcp"
	}
	return base
}

// oauthResource is ep as the authorization server knows it.
func (ep *endpoint) oauthResource() oauth.Resource {
	return oauth.Resource{URL: ep.resource, Scopes: ep.scopes, ScopeDescriptions: ep.descriptions}
}

// metadataHandler serves the RFC 9728 protected resource metadata of every
// endpoint at its path-inserted well-known URL, and that of the endpoint
// at the public URL at the bare well-known path too, for clients that
// look there. Each names its own endpoint as the resource, and its own
// scopes.
//
// [RFC 9728]: https://www.rfc-editor.org/rfc/rfc9728
func (g *Gateway) metadataHandler(eps []endpoint) http.Handler {
	var issuers []string
	if g.oauth != nil {
		issuers = []string{g.oauth.Issuer()}
	}
	byPath := make(map[string]http.Handler, len(eps)+1)
	for _, ep := range eps {
		name := "mcpgate"
		if ep.name != "" {
			name += ": " + ep.name
		}
		h := auth.ProtectedResourceMetadataHandler(&oauthex.ProtectedResourceMetadata{
			Resource:               ep.resource,
			AuthorizationServers:   issuers,
			ScopesSupported:        ep.scopes,
			BearerMethodsSupported: []string{"header"},
			ResourceName:           name,
		})
		u, err := url.Parse(ep.prm)
		if err != nil {
			continue // built from a parsed URL and a checked path
		}
		byPath[u.Path] = h
		if ep.path == g.basePath() {
			byPath[prmPath] = h
		}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, ok := byPath[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
}
