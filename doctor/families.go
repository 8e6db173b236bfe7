package doctor

// Family is how one kind of MCP client discovers an authorization server
// and signs in: which URLs it tries in which order and what it refuses.
// Each is a model, written from the client's source where it is public and
// from the MCP specification revision it implements where it is not; Basis
// says which.
type Family struct {
	// Name is what users call the client.
	Name string `json:"name"`
	// Basis says what the model was read from.
	Basis string `json:"basis"`

	// PRMFromChallengeOnly: protected resource metadata is read only from
	// the challenge's resource_metadata URL; no well-known URL is tried.
	PRMFromChallengeOnly bool `json:"prm_from_challenge_only,omitempty"`
	// ChallengeURLStopsProbing: when the challenge names a metadata URL,
	// only that URL is tried, even if it fails; without one, the
	// path-inserted then the root well-known URL are, stopping at a 5xx or
	// a document that does not parse (the TypeScript SDK's
	// discoverMetadataWithFallback).
	ChallengeURLStopsProbing bool `json:"challenge_url_stops_probing,omitempty"`
	// LegacyWithoutPRM: with no protected resource metadata, the MCP
	// server's origin is taken as the authorization server (the
	// 2025-03-26 revision) and no resource indicator is sent.
	LegacyWithoutPRM bool `json:"legacy_without_prm,omitempty"`
	// OIDCDiscovery: OpenID Connect discovery URLs are tried after the
	// RFC 8414 one.
	OIDCDiscovery bool `json:"oidc_discovery,omitempty"`
	// ExactResource: the metadata's resource must equal the MCP URL
	// (RFC 9728 §3.3); otherwise the same origin and a path prefix of the
	// MCP URL's path suffice.
	ExactResource bool `json:"exact_resource,omitempty"`
	// RequireS256Listed: the client refuses an authorization server whose
	// metadata lacks code_challenge_methods_supported with S256; otherwise
	// only a list without S256 is refused.
	RequireS256Listed bool `json:"require_s256_listed,omitempty"`
	// CIMD: the client can identify itself with a client ID metadata
	// document where the server supports them, instead of registering.
	CIMD bool `json:"cimd,omitempty"`
	// Browser: the client runs in a web page, so every request it makes
	// is cross-origin and needs CORS. BrowserOrigin is the page's origin.
	Browser       bool   `json:"browser,omitempty"`
	BrowserOrigin string `json:"browser_origin,omitempty"`
	// BrowserOptional: the browser client can also send its requests
	// through a local proxy, which needs no CORS, so CORS problems are
	// warnings rather than failures.
	BrowserOptional bool `json:"browser_optional,omitempty"`
}

// Families are the clients doctor models, in the order it reports them.
var Families = []Family{
	{
		Name:              "Claude",
		Basis:             "MCP specification 2025-11-25 (authorization §2.3, §2.4.1, §2.5): Claude's connectors are closed source",
		OIDCDiscovery:     true,
		ExactResource:     true,
		RequireS256Listed: true,
		CIMD:              true,
	},
	{
		Name:              "VS Code",
		Basis:             "MCP specification 2025-11-25; VS Code publishes a client ID metadata document (https://vscode.dev/oauth/client-metadata.json)",
		OIDCDiscovery:     true,
		ExactResource:     true,
		RequireS256Listed: true,
		CIMD:              true,
	},
	{
		Name:                 "Cursor",
		Basis:                "MCP specification 2025-06-18 (metadata URL from the challenge only, RFC 8414 only, dynamic registration only): Cursor is closed source",
		ExactResource:        true,
		PRMFromChallengeOnly: true,
	},
	{
		Name:                     "MCP Inspector",
		Basis:                    "the TypeScript SDK's client/auth.js, which the Inspector's web page runs; the Inspector's client/src/App.tsx and lib/oauth/ for its connection and OAuth modes (Direct from the page, or through its local proxy)",
		ChallengeURLStopsProbing: true,
		LegacyWithoutPRM:         true,
		OIDCDiscovery:            true,
		Browser:                  true,
		BrowserOrigin:            "http://localhost:6274",
		BrowserOptional:          true,
	},
	{
		Name:                     "TypeScript SDK",
		Basis:                    "@modelcontextprotocol/sdk 1.32.2 client/auth.js: discoverOAuthServerInfo, buildDiscoveryUrls, selectResourceURL, startAuthorization, registerClient",
		ChallengeURLStopsProbing: true,
		LegacyWithoutPRM:         true,
		OIDCDiscovery:            true,
		CIMD:                     true,
	},
}
