package oauth

import (
	"context"
	"net/http"

	"github.com/rs/cors"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// Paths of the server's endpoints, under the issuer's path.
const (
	PathAuthorize  = "/authorize"
	PathToken      = "/token"
	PathRegister   = "/register"
	PathRevoke     = "/revoke"
	PathIntrospect = "/introspect"
	PathJWKS       = "/jwks.json"
)

// Handler returns the HTTP handler of every endpoint: RFC 8414 and OpenID
// discovery under /.well-known/ (including the path-inserted forms when the
// issuer has a path), /authorize, /token, /register, /revoke, /introspect
// and /jwks.json under the issuer's path. Mount it at the root of the
// issuer's host; it answers 404 for any other path.
func (s *Server) Handler() http.Handler { return s.handler }

// Paths returns the URL paths Handler serves, for muxes that mount each
// path explicitly: the well-known prefix and the endpoint paths.
func (s *Server) Paths() []string {
	p := s.path
	paths := []string{"/.well-known/oauth-authorization-server", "/.well-known/openid-configuration",
		p + PathAuthorize, p + PathToken, p + PathRevoke, p + PathIntrospect, p + PathJWKS}
	if p != "" {
		paths = append(paths, "/.well-known/oauth-authorization-server"+p, "/.well-known/openid-configuration"+p, p+"/.well-known/openid-configuration")
	}
	if !s.opts.DisableRegistration {
		paths = append(paths, p+PathRegister)
	}
	return paths
}

func (s *Server) buildHandler() http.Handler {
	p := s.path
	endpoints := op.Endpoints{
		Authorization: op.NewEndpoint(p + PathAuthorize),
		Token:         op.NewEndpoint(p + PathToken),
		Introspection: op.NewEndpoint(p + PathIntrospect),
		Revocation:    op.NewEndpoint(p + PathRevoke),
		JwksURI:       op.NewEndpoint(p + PathJWKS),
	}
	// The library's own CORS would grant every origin, with credentials,
	// on every endpoint, the authorization page included.
	protocol := op.RegisterServer(&opServer{Server: s}, endpoints, op.WithServerCORSOptions(nil))
	meta := op.RegisterMetadataServer(metadataServer{s: s}, op.WithServerCORSOptions(&apiCORS))
	api := cors.New(apiCORS).Handler

	mux := http.NewServeMux()
	mux.Handle(p+PathAuthorize, errorPage(protocol, s.opts.ErrorPage))
	mux.Handle(p+PathJWKS, api(protocol))
	mux.Handle(p+PathRevoke, api(challenge(requireClient(protocol, false))))
	mux.Handle(p+PathToken, api(noStore(basicChallenge(protocol))))
	mux.Handle(p+PathIntrospect, api(noStore(challenge(requireClient(protocol, true)))))
	if !s.opts.DisableRegistration {
		mux.Handle(p+PathRegister, api(noStore(http.HandlerFunc(s.serveRegister))))
	}
	return withRequester(meta.Intercept(mux))
}

// apiCORS lets a client running in any web page use the endpoints an
// OAuth client calls itself: discovery, registration, token, revocation,
// introspection and keys. They read no cookie, so a page gains nothing it
// could not do from a server; credentials are not allowed, and the
// client's own (a secret, an initial access token) are headers or form
// fields the page sends itself. The authorization endpoint is a page a
// person's browser opens, never a page's fetch, and gets no CORS.
var apiCORS = cors.Options{
	AllowedOrigins: []string{"*"},
	AllowedMethods: []string{http.MethodGet, http.MethodPost},
	AllowedHeaders: []string{"Authorization", "Content-Type", "Accept", "Mcp-Protocol-Version"},
	ExposedHeaders: []string{"WWW-Authenticate", "Retry-After"},
	MaxAge:         7200,
}

// noStore marks responses that carry tokens or secrets as uncacheable
// (RFC 6749 §5.1), error responses included.
func noStore(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Pragma", "no-cache")
		h.ServeHTTP(w, r)
	})
}

// basicChallenge adds the WWW-Authenticate challenge that RFC 6749 §5.2
// requires on a 401 answering a client that tried HTTP Basic.
func basicChallenge(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, _, ok := r.BasicAuth(); ok {
			w = &challengeWriter{ResponseWriter: w}
		}
		h.ServeHTTP(w, r)
	})
}

// challenge adds the WWW-Authenticate challenge to every 401 answer of an
// endpoint only servers and confidential clients call, authenticated or
// not (RFC 7662 §2.3, RFC 9110 §15.5.2); /token keeps it for Basic
// attempts, so that a browser-based client is not shown a password prompt.
func challenge(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(&challengeWriter{ResponseWriter: w}, r)
	})
}

// requireClient answers 401 invalid_client to a request that does not
// identify its client as the endpoint requires, before the library would
// answer 400: with needSecret, a client secret (introspection is for
// confidential clients, [RFC 7662] §2.1); otherwise a client id at least
// (a public client may revoke its own tokens, [RFC 7009] §2.1).
//
// [RFC 7662]: https://www.rfc-editor.org/rfc/rfc7662
// [RFC 7009]: https://www.rfc-editor.org/rfc/rfc7009
func requireClient(h http.Handler, needSecret bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			op.WriteError(w, r, oidc.ErrInvalidRequest().WithDescription("error parsing form"), nil)
			return
		}
		id, secret, basic := r.BasicAuth()
		if !basic {
			id, secret = r.Form.Get("client_id"), r.Form.Get("client_secret")
		}
		switch {
		case id == "":
			op.WriteError(w, r, invalidClient("client authentication required"), nil)
		case needSecret && secret == "":
			op.WriteError(w, r, invalidClient("client must authenticate with its secret"), nil)
		default:
			h.ServeHTTP(w, r)
		}
	})
}

type challengeWriter struct{ http.ResponseWriter }

func (c *challengeWriter) WriteHeader(code int) {
	if code == http.StatusUnauthorized {
		c.Header().Set("WWW-Authenticate", `Basic realm="mcpgate", charset="UTF-8"`)
	}
	c.ResponseWriter.WriteHeader(code)
}

type metadataServer struct {
	op.UnimplementedMetadataServer
	s *Server
}

func (m metadataServer) AuthorizationServerMetadata(ctx context.Context, r *op.Request[op.MetadataRequest]) (*op.Response, error) {
	if r.Data.IssuerPath != m.s.path {
		return nil, op.NewStatusError(oidc.ErrInvalidRequest().WithDescription("unknown issuer"), http.StatusNotFound)
	}
	return op.NewResponse(m.s.Metadata()), nil
}

func (m metadataServer) OpenIDConfiguration(ctx context.Context, r *op.Request[op.MetadataRequest]) (*op.Response, error) {
	if r.Data.IssuerPath != m.s.path {
		return nil, op.NewStatusError(oidc.ErrInvalidRequest().WithDescription("unknown issuer"), http.StatusNotFound)
	}
	return op.NewResponse(m.s.OpenIDConfiguration()), nil
}

// OpenIDConfiguration is the OpenID Provider metadata document ([OpenID
// Discovery] §3): the authorization server's metadata, and the fields that
// specification requires of every document.
//
// mcpgate issues no ID tokens, but clients that look for a server at
// /.well-known/openid-configuration (the MCP TypeScript SDK among them)
// reject a document without these fields, and Discovery requires them
// whatever the server issues. Their values say what an ID token would be:
// the subject is the same user id for every client ("public"), and the
// server signs with RS256, the one algorithm Discovery requires of every
// provider and the one its access tokens use.
//
// [OpenID Discovery]: https://openid.net/specs/openid-connect-discovery-1_0.html#ProviderMetadata
type OpenIDConfiguration struct {
	*Metadata
	SubjectTypesSupported            []string `json:"subject_types_supported"`
	IDTokenSigningAlgValuesSupported []string `json:"id_token_signing_alg_values_supported"`
}

// OpenIDConfiguration returns the server's OpenID Provider metadata.
func (s *Server) OpenIDConfiguration() *OpenIDConfiguration {
	return &OpenIDConfiguration{
		Metadata:                         s.Metadata(),
		SubjectTypesSupported:            []string{"public"},
		IDTokenSigningAlgValuesSupported: []string{"RS256"},
	}
}

// Metadata is the authorization server metadata document ([RFC 8414] §2).
// It advertises only what the server does.
//
// [RFC 8414]: https://www.rfc-editor.org/rfc/rfc8414
type Metadata struct {
	Issuer                                     string   `json:"issuer"`
	AuthorizationEndpoint                      string   `json:"authorization_endpoint"`
	TokenEndpoint                              string   `json:"token_endpoint"`
	JWKSURI                                    string   `json:"jwks_uri"`
	RegistrationEndpoint                       string   `json:"registration_endpoint,omitempty"`
	RevocationEndpoint                         string   `json:"revocation_endpoint"`
	IntrospectionEndpoint                      string   `json:"introspection_endpoint"`
	ScopesSupported                            []string `json:"scopes_supported,omitempty"`
	ResponseTypesSupported                     []string `json:"response_types_supported"`
	ResponseModesSupported                     []string `json:"response_modes_supported"`
	GrantTypesSupported                        []string `json:"grant_types_supported"`
	TokenEndpointAuthMethodsSupported          []string `json:"token_endpoint_auth_methods_supported"`
	RevocationEndpointAuthMethodsSupported     []string `json:"revocation_endpoint_auth_methods_supported"`
	IntrospectionEndpointAuthMethodsSupported  []string `json:"introspection_endpoint_auth_methods_supported"`
	CodeChallengeMethodsSupported              []string `json:"code_challenge_methods_supported"`
	AuthorizationResponseISSParameterSupported bool     `json:"authorization_response_iss_parameter_supported"`
	ClientIDMetadataDocumentSupported          bool     `json:"client_id_metadata_document_supported,omitempty"`
}

// Metadata returns the server's metadata document.
func (s *Server) Metadata() *Metadata {
	m := &Metadata{
		Issuer:                                     s.opts.Issuer,
		AuthorizationEndpoint:                      s.endpoint(PathAuthorize),
		TokenEndpoint:                              s.endpoint(PathToken),
		JWKSURI:                                    s.endpoint(PathJWKS),
		RevocationEndpoint:                         s.endpoint(PathRevoke),
		IntrospectionEndpoint:                      s.endpoint(PathIntrospect),
		ScopesSupported:                            s.allScopes(),
		ResponseTypesSupported:                     []string{"code"},
		ResponseModesSupported:                     []string{"query"},
		GrantTypesSupported:                        []string{"authorization_code", "refresh_token", "client_credentials"},
		TokenEndpointAuthMethodsSupported:          []string{"none", "client_secret_basic", "client_secret_post"},
		RevocationEndpointAuthMethodsSupported:     []string{"none", "client_secret_basic", "client_secret_post"},
		IntrospectionEndpointAuthMethodsSupported:  []string{"client_secret_basic", "client_secret_post"},
		CodeChallengeMethodsSupported:              []string{"S256"},
		AuthorizationResponseISSParameterSupported: true,
		ClientIDMetadataDocumentSupported:          !s.opts.DisableCIMD,
	}
	if !s.opts.DisableRegistration {
		m.RegistrationEndpoint = s.endpoint(PathRegister)
	}
	return m
}

// Keys serves the JWKS: the active signing key and retired keys whose
// tokens may still be live.
func (s *opServer) Keys(ctx context.Context, r *op.Request[struct{}]) (*op.Response, error) {
	ks := s.keySet()
	resp := op.NewResponse(rawJSON(ks.JWKS()))
	resp.Header.Set("Cache-Control", "max-age=300")
	return resp, nil
}

type rawJSON []byte

func (r rawJSON) MarshalJSON() ([]byte, error) { return r, nil }
