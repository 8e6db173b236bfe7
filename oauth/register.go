package oauth

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/ratelimit"
)

// ClientMetadata is the client metadata of dynamic registration
// ([RFC 7591] §2) and of Client ID Metadata Documents, as far as mcpgate
// uses it.
//
// [RFC 7591]: https://www.rfc-editor.org/rfc/rfc7591
type ClientMetadata struct {
	ClientID                string   `json:"client_id,omitempty"`
	ClientSecret            string   `json:"client_secret,omitempty"`
	ClientIDIssuedAt        int64    `json:"client_id_issued_at,omitempty"`
	ClientSecretExpiresAt   *int64   `json:"client_secret_expires_at,omitempty"`
	ClientName              string   `json:"client_name,omitempty"`
	ClientURI               string   `json:"client_uri,omitempty"`
	RedirectURIs            []string `json:"redirect_uris"`
	TokenEndpointAuthMethod string   `json:"token_endpoint_auth_method,omitempty"`
	GrantTypes              []string `json:"grant_types,omitempty"`
	ResponseTypes           []string `json:"response_types,omitempty"`
	Scope                   string   `json:"scope,omitempty"`
}

// registrationError is an RFC 7591 §3.2.2 error.
type registrationError struct {
	Code        string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

func (e *registrationError) Error() string { return e.Code + ": " + e.Description }

func badMetadata(format string, a ...any) error {
	return &registrationError{Code: "invalid_client_metadata", Description: fmt.Sprintf(format, a...)}
}

// serveRegister is the dynamic client registration endpoint (RFC 7591 §3).
func (s *Server) serveRegister(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeJSON(w, http.StatusMethodNotAllowed, &registrationError{Code: "invalid_request", Description: "use POST"})
		return
	}
	tok := s.opts.RegistrationToken
	if s.opts.RegistrationTokenFunc != nil {
		tok = s.opts.RegistrationTokenFunc()
	}
	if tok != "" {
		scheme, got, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		if !strings.EqualFold(scheme, "Bearer") || subtle.ConstantTimeCompare([]byte(got), []byte(tok)) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			writeJSON(w, http.StatusUnauthorized, &registrationError{Code: "invalid_token", Description: "an initial access token is required"})
			return
		}
	}
	if !s.regLimit.allow(r.Context(), r.RemoteAddr) {
		w.Header().Set("Retry-After", "60")
		writeJSON(w, http.StatusTooManyRequests, &registrationError{Code: "slow_down", Description: "too many registrations"})
		return
	}
	var md ClientMetadata
	dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
	if err := dec.Decode(&md); err != nil {
		writeJSON(w, http.StatusBadRequest, badMetadata("body is not a JSON client metadata document"))
		return
	}
	c, secret, err := s.register(r.Context(), &md)
	if err != nil {
		var re *registrationError
		if errors.As(err, &re) {
			writeJSON(w, http.StatusBadRequest, re)
			return
		}
		s.opts.Logger.ErrorContext(r.Context(), "oauth: register client", "err", err)
		writeJSON(w, http.StatusInternalServerError, &registrationError{Code: "server_error"})
		return
	}
	md2 := s.clientMetadata(c, secret)
	if secret != "" && md.TokenEndpointAuthMethod != "" {
		md2.TokenEndpointAuthMethod = md.TokenEndpointAuthMethod // both are accepted; echo the one asked for
	}
	writeJSON(w, http.StatusCreated, md2)
}

// register validates md and stores the client it describes.
func (s *Server) register(ctx context.Context, md *ClientMetadata) (*mcpgate.Client, string, error) {
	// RFC 7591 §3.2.1 lets the server replace requested metadata: grant
	// types, response types and scopes it does not support are dropped
	// rather than refused (clients such as VS Code ask for more grants
	// than they need), and the response says what was registered.
	nc := NewClient{
		Name:         md.ClientName,
		RedirectURIs: md.RedirectURIs,
		Source:       SourceDCR,
	}
	switch md.TokenEndpointAuthMethod {
	case "", "none":
	case "client_secret_basic", "client_secret_post":
		nc.Confidential = true
	default:
		return nil, "", badMetadata("token_endpoint_auth_method %q is not supported", md.TokenEndpointAuthMethod)
	}
	if len(md.ResponseTypes) > 0 && !slices.Contains(md.ResponseTypes, "code") {
		return nil, "", badMetadata("only response_type code is supported")
	}
	for _, g := range md.GrantTypes {
		switch g {
		case GrantAuthorizationCode, GrantRefreshToken:
			nc.GrantTypes = append(nc.GrantTypes, g)
			// client_credentials is dropped: a machine client acts with
			// no user behind it, so only an operator may create one
			// (mcpgate clients add --machine). Open registration must
			// not hand anyone a token source.
		}
	}
	if len(md.GrantTypes) > 0 && len(nc.GrantTypes) == 0 {
		return nil, "", badMetadata("none of the grant_types is supported")
	}
	if md.Scope != "" {
		for _, sc := range strings.Fields(md.Scope) {
			if slices.Contains(s.allScopes(), sc) && !slices.Contains(nc.Scopes, sc) {
				nc.Scopes = append(nc.Scopes, sc)
			}
		}
		if len(nc.Scopes) == 0 {
			return nil, "", badMetadata("none of the requested scopes is supported")
		}
	}
	return s.AddClient(ctx, nc)
}

func (s *Server) clientMetadata(c *mcpgate.Client, secret string) *ClientMetadata {
	md := &ClientMetadata{
		ClientID:                c.ID,
		ClientSecret:            secret,
		ClientIDIssuedAt:        c.CreatedAt.Unix(),
		ClientName:              c.Name,
		RedirectURIs:            c.RedirectURIs,
		TokenEndpointAuthMethod: "none",
		GrantTypes:              c.GrantTypes,
		ResponseTypes:           []string{"code"},
		Scope:                   strings.Join(c.Scopes, " "),
	}
	if secret != "" {
		zero := int64(0)
		md.ClientSecretExpiresAt = &zero
		md.TokenEndpointAuthMethod = "client_secret_basic"
	}
	return md
}

// NewClient describes a client to register.
type NewClient struct {
	Name         string
	RedirectURIs []string // https, or http on a loopback host (any port)
	// Confidential clients get a secret; public ones use PKCE alone.
	Confidential bool
	// GrantTypes default to authorization_code and refresh_token;
	// client_credentials needs Confidential and Source SourceCLI.
	GrantTypes []string
	Scopes     []string // empty: any supported scope
	// Subject and Tenant are the identity of a client_credentials client;
	// Subject defaults to the client id.
	Subject, Tenant string
	Source          string // SourceCLI (default), SourceDCR
	// Introspection lets the client introspect tokens issued to other
	// clients, as a resource server does; it needs Confidential and
	// Source SourceCLI. Such a client with no RedirectURIs and no
	// GrantTypes gets no grant at all: it only introspects.
	Introspection bool
}

// AddClient validates and stores a new client and returns it with its
// secret ("" for a public client). The secret is shown once and only its
// hash is kept.
func (s *Server) AddClient(ctx context.Context, nc NewClient) (*mcpgate.Client, string, error) {
	if nc.Introspection {
		if !nc.Confidential {
			return nil, "", badMetadata("introspection requires a confidential client")
		}
		if nc.Source != "" && nc.Source != SourceCLI {
			return nil, "", badMetadata("introspection is only for clients added with the CLI")
		}
	}
	gts := nc.GrantTypes
	if len(gts) == 0 && !(nc.Introspection && len(nc.RedirectURIs) == 0) {
		gts = []string{GrantAuthorizationCode, GrantRefreshToken}
	}
	for _, g := range gts {
		switch g {
		case GrantAuthorizationCode, GrantRefreshToken:
		case GrantClientCredentials:
			if !nc.Confidential {
				return nil, "", badMetadata("client_credentials requires a confidential client")
			}
			if nc.Source != "" && nc.Source != SourceCLI {
				return nil, "", badMetadata("client_credentials is only for clients added with the CLI")
			}
		default:
			return nil, "", badMetadata("grant_type %q is not supported", g)
		}
	}
	if slices.Contains(gts, GrantAuthorizationCode) && len(nc.RedirectURIs) == 0 {
		return nil, "", &registrationError{Code: "invalid_redirect_uri", Description: "redirect_uris are required"}
	}
	for _, u := range nc.RedirectURIs {
		if err := validRedirectURI(u, s.opts.PrivateUseSchemes); err != nil {
			return nil, "", &registrationError{Code: "invalid_redirect_uri", Description: fmt.Sprintf("%q: %v", u, err)}
		}
	}
	for _, sc := range nc.Scopes {
		if !slices.Contains(s.allScopes(), sc) {
			return nil, "", badMetadata("scope %q is not supported", sc)
		}
	}
	if len(nc.Name) > 200 {
		return nil, "", badMetadata("client_name is too long")
	}
	source := nc.Source
	if source == "" {
		source = SourceCLI
	}
	c := &mcpgate.Client{
		ID:            "mcpc_" + randomToken(16),
		Name:          nc.Name,
		RedirectURIs:  slices.Clone(nc.RedirectURIs),
		GrantTypes:    gts,
		Scopes:        slices.Clone(nc.Scopes),
		Subject:       nc.Subject,
		Tenant:        nc.Tenant,
		Source:        source,
		Introspection: nc.Introspection,
		CreatedAt:     s.now(),
	}
	var secret string
	if nc.Confidential {
		secret = "mcps_" + randomToken(32)
		c.SecretHash = hashToken(secret)
	}
	if err := s.clients.CreateClient(ctx, c); err != nil {
		return nil, "", err
	}
	return c, secret, nil
}

// ListClients returns every stored client, newest first.
func (s *Server) ListClients(ctx context.Context) ([]*mcpgate.Client, error) {
	return s.clients.ListClients(ctx)
}

// RevokeClient revokes a client, its grants and its tokens; it takes
// effect on this server at once and on others through the change feed.
// A CIMD client (an https client id) is recorded as revoked even if it was
// never stored. ErrNotFound for an unknown client.
func (s *Server) RevokeClient(ctx context.Context, id string) error {
	now := s.now()
	err := s.clients.RevokeClient(ctx, id, now)
	if errors.Is(err, mcpgate.ErrNotFound) && s.cimd.isCIMD(id) {
		err = s.clients.CreateClient(ctx, &mcpgate.Client{ID: id, Source: SourceCIMD, CreatedAt: now})
		if err == nil {
			err = s.clients.RevokeClient(ctx, id, now)
		}
	}
	if err != nil {
		return err
	}
	s.ApplyChange(mcpgate.Change{Kind: mcpgate.ChangeClient, ID: id, At: now})
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// clientIP is the address the request came from. Proxy headers are not
// trusted: behind a proxy, every client shares the proxy's budget.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// addrLimiter limits events per client address (IPv4, or the IPv6 /64) on
// a mcpgate.Limiter: in this process, or shared by every replica when the
// gateway hands the authorization server its Redis limiter. Entries are
// bounded and idle ones evicted by the limiter.
type addrLimiter struct {
	store  mcpgate.Limiter
	prefix string
	limit  mcpgate.Limit
}

// newAddrLimiter allows perMin events a minute per address, all at once if
// they come together; a negative perMin allows everything.
func newAddrLimiter(store mcpgate.Limiter, prefix string, perMin int) *addrLimiter {
	l := &addrLimiter{store: store, prefix: prefix + "|"}
	if perMin > 0 {
		l.limit = mcpgate.Limit{Rate: perMin, Per: time.Minute, Burst: perMin}
	}
	return l
}

// allow reports whether the address remote (host or host:port) may cause
// one more event. A limiter that cannot decide refuses: these events
// create clients or cause outbound fetches.
func (l *addrLimiter) allow(ctx context.Context, remote string) bool {
	if l.limit.IsOff() {
		return true
	}
	d, err := l.store.Allow(ctx, l.prefix+ratelimit.AddressKey(remote), l.limit, 1)
	return err == nil && d.Allowed
}
