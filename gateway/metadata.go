package gateway

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
)

// metadataURL is where the protected resource metadata for public lives:
// the path-inserted well-known URL of RFC 9728 §3.1.
func metadataURL(public *url.URL) string {
	p := strings.TrimSuffix(public.Path, "/")
	return public.Scheme + "://" + public.Host + "/.well-known/oauth-protected-resource" + p
}

// metadataHandler serves RFC 9728 protected resource metadata. The resource
// is the canonical MCP URL; access tokens must carry it as audience.
//
// [RFC 9728]: https://www.rfc-editor.org/rfc/rfc9728
func (g *Gateway) metadataHandler() http.Handler {
	var issuers []string
	if g.oauth != nil {
		issuers = []string{g.oauth.Issuer()}
	}
	md := &oauthex.ProtectedResourceMetadata{
		Resource:               g.resource(),
		AuthorizationServers:   issuers,
		ScopesSupported:        g.opts.ScopesSupported,
		BearerMethodsSupported: []string{"header"},
		ResourceName:           "mcpgate",
	}
	return auth.ProtectedResourceMetadataHandler(md)
}
