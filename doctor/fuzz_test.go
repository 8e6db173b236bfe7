package doctor

import (
	"maps"
	"testing"
)

// FuzzParseChallenges checks that any WWW-Authenticate value parses
// without a panic and that what parses formats back into a value that
// parses to the same challenges.
func FuzzParseChallenges(f *testing.F) {
	for _, s := range []string{
		`Bearer resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp", scope="docs:read notes:read"`,
		`Bearer error="insufficient_scope", scope="a b", resource_metadata="https://x/y"`,
		`Newauth realm="apps", type=1, title="Login to \"apps\"", Basic realm="simple"`,
		`Negotiate abc+/==, Bearer`,
		`Basic, Bearer error=invalid_token`,
		``, `,`, `Bearer scope="`, `Bearer a=b=c`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		cs, err := ParseChallenges(h)
		if err != nil {
			return
		}
		var again string
		for i, c := range cs {
			if i > 0 {
				again += ", "
			}
			again += c.String()
		}
		cs2, err := ParseChallenges(again)
		if err != nil {
			t.Fatalf("%q parsed, but its formatting %q does not: %v", h, again, err)
		}
		if len(cs2) != len(cs) {
			t.Fatalf("%q: %d challenges, %q: %d", h, len(cs), again, len(cs2))
		}
		for i := range cs {
			if cs[i].Scheme != cs2[i].Scheme || cs[i].Token68 != cs2[i].Token68 || !maps.Equal(cs[i].Params, cs2[i].Params) {
				t.Fatalf("%q → %+v, but %q → %+v", h, cs[i], again, cs2[i])
			}
		}
	})
}

// FuzzParseMetadata checks that any document parses as metadata without a
// panic, and that what is accepted holds what clients rely on.
func FuzzParseMetadata(f *testing.F) {
	for _, s := range []string{
		`{"resource":"https://mcp.example.com/mcp","authorization_servers":["https://mcp.example.com"],"scopes_supported":["a"]}`,
		`{"issuer":"https://as.example.com","authorization_endpoint":"https://as.example.com/authorize","token_endpoint":"https://as.example.com/token","response_types_supported":["code"],"code_challenge_methods_supported":["S256"],"client_id_metadata_document_supported":true}`,
		`{"resource":1}`, `[]`, `null`, `{"issuer":"x"}`, "\xff{",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if m, err := parseResourceMetadata(b); err == nil {
			if !absoluteURL(m.Resource) {
				t.Fatalf("accepted resource %q", m.Resource)
			}
			for _, s := range m.AuthorizationServers {
				if !absoluteURL(s) {
					t.Fatalf("accepted authorization server %q", s)
				}
				_ = discoveryURLs(s, true)
			}
		}
		for _, oidc := range []bool{false, true} {
			if m, err := parseServerMetadata(b, oidc); err == nil {
				if !absoluteURL(m.Issuer) || !absoluteURL(m.AuthorizationEndpoint) || !absoluteURL(m.TokenEndpoint) || m.ResponseTypesSupported == nil ||
					oidc && (m.JWKSURI == "" || m.SubjectTypesSupported == nil || m.IDTokenSigningAlgValuesSupported == nil) {
					t.Fatalf("accepted incomplete metadata %+v", m)
				}
			}
		}
	})
}
