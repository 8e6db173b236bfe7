package doctor

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// resourceMetadata holds the fields of RFC 9728 protected resource
// metadata that clients use.
//
// [RFC 9728]: https://www.rfc-editor.org/rfc/rfc9728#section-2
type resourceMetadata struct {
	Resource             string   `json:"resource"`
	AuthorizationServers []string `json:"authorization_servers"`
	ScopesSupported      []string `json:"scopes_supported"`
}

// serverMetadata holds the fields of RFC 8414 authorization server
// metadata (or OpenID provider metadata) that MCP clients use.
//
// [RFC 8414]: https://www.rfc-editor.org/rfc/rfc8414#section-2
type serverMetadata struct {
	Issuer                        string   `json:"issuer"`
	AuthorizationEndpoint         string   `json:"authorization_endpoint"`
	TokenEndpoint                 string   `json:"token_endpoint"`
	RegistrationEndpoint          string   `json:"registration_endpoint"`
	ResponseTypesSupported        []string `json:"response_types_supported"`
	CodeChallengeMethodsSupported []string `json:"code_challenge_methods_supported"`
	// ClientIDMetadataDocumentSupported is the MCP specification's flag
	// for client ID metadata documents.
	ClientIDMetadataDocumentSupported bool `json:"client_id_metadata_document_supported"`

	// Required of OpenID provider metadata only.
	JWKSURI                          string   `json:"jwks_uri"`
	SubjectTypesSupported            []string `json:"subject_types_supported"`
	IDTokenSigningAlgValuesSupported []string `json:"id_token_signing_alg_values_supported"`
}

// parseResourceMetadata reads protected resource metadata, refusing what a
// client would refuse: not a JSON object, a missing or relative resource,
// an authorization server that is not an absolute URL.
func parseResourceMetadata(b []byte) (*resourceMetadata, error) {
	var m resourceMetadata
	if err := decodeObject(b, &m); err != nil {
		return nil, err
	}
	if m.Resource == "" {
		return nil, errors.New(`no "resource"`)
	}
	if !absoluteURL(m.Resource) {
		return nil, fmt.Errorf(`"resource" %q is not an absolute URL`, m.Resource)
	}
	for _, s := range m.AuthorizationServers {
		if !absoluteURL(s) {
			return nil, fmt.Errorf(`authorization server %q is not an absolute URL`, s)
		}
	}
	return &m, nil
}

// parseServerMetadata reads authorization server metadata, refusing what
// the TypeScript SDK's schemas refuse: a missing issuer, authorization or
// token endpoint, or response_types_supported; and for OpenID provider
// metadata (oidc) also a missing jwks_uri, subject_types_supported or
// id_token_signing_alg_values_supported, which OpenID Connect Discovery 1.0
// §3 requires.
func parseServerMetadata(b []byte, oidc bool) (*serverMetadata, error) {
	var m serverMetadata
	if err := decodeObject(b, &m); err != nil {
		return nil, err
	}
	var missing []string
	for _, f := range []struct{ name, v string }{
		{"issuer", m.Issuer}, {"authorization_endpoint", m.AuthorizationEndpoint}, {"token_endpoint", m.TokenEndpoint},
	} {
		if f.v == "" {
			missing = append(missing, f.name)
		} else if !absoluteURL(f.v) {
			return nil, fmt.Errorf("%s %q is not an absolute URL", f.name, f.v)
		}
	}
	if m.ResponseTypesSupported == nil {
		missing = append(missing, "response_types_supported")
	}
	if oidc {
		if m.JWKSURI == "" {
			missing = append(missing, "jwks_uri")
		}
		if m.SubjectTypesSupported == nil {
			missing = append(missing, "subject_types_supported")
		}
		if m.IDTokenSigningAlgValuesSupported == nil {
			missing = append(missing, "id_token_signing_alg_values_supported")
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("missing %s", strings.Join(missing, ", "))
	}
	if m.RegistrationEndpoint != "" && !absoluteURL(m.RegistrationEndpoint) {
		return nil, fmt.Errorf("registration_endpoint %q is not an absolute URL", m.RegistrationEndpoint)
	}
	return &m, nil
}

// decodeObject decodes a JSON object into v, with an error a person can
// act on for anything else.
func decodeObject(b []byte, v any) error {
	t := strings.TrimSpace(string(b))
	if !strings.HasPrefix(t, "{") {
		if len(t) > 40 {
			t = t[:40] + "…"
		}
		return fmt.Errorf("not a JSON object: %q", t)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("not valid metadata JSON: %v", err)
	}
	return nil
}

func absoluteURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != ""
}

// resourceAllowed is the TypeScript SDK's checkResourceAllowed: the
// configured resource has the requested one's origin and a path that is a
// prefix of its path, segment by segment.
func resourceAllowed(requested, configured string) bool {
	r, err1 := url.Parse(requested)
	c, err2 := url.Parse(configured)
	if err1 != nil || err2 != nil || origin(r) != origin(c) {
		return false
	}
	rp, cp := r.EscapedPath(), c.EscapedPath()
	if len(rp) < len(cp) {
		return false
	}
	if !strings.HasSuffix(rp, "/") {
		rp += "/"
	}
	if !strings.HasSuffix(cp, "/") {
		cp += "/"
	}
	return strings.HasPrefix(rp, cp)
}

// discoveryURLs are the metadata URLs tried for an authorization server,
// in the order of the MCP specification 2025-11-25 §2.3.3 and the
// TypeScript SDK's buildDiscoveryUrls; oidc false keeps only RFC 8414's.
func discoveryURLs(issuer string, oidc bool) []string {
	u, err := url.Parse(issuer)
	if err != nil || u.Host == "" {
		return nil
	}
	o := u.Scheme + "://" + u.Host
	p := strings.TrimSuffix(u.EscapedPath(), "/")
	if p == "" {
		out := []string{o + "/.well-known/oauth-authorization-server"}
		if oidc {
			out = append(out, o+"/.well-known/openid-configuration")
		}
		return out
	}
	out := []string{o + "/.well-known/oauth-authorization-server" + p}
	if oidc {
		out = append(out, o+"/.well-known/openid-configuration"+p, o+p+"/.well-known/openid-configuration")
	}
	return out
}
