// Package federation signs people in to mcpgate's authorization server at
// an upstream OpenID provider (Keycloak, Entra ID, Okta, Auth0, Google, …)
// and keeps that provider's tokens for them.
//
// A sign-in is the OpenID Connect authorization code flow with PKCE (S256)
// and a nonce, as a confidential client: [Federation.Begin] stores a
// random state (only its SHA-256) with the nonce and the PKCE verifier,
// and returns the provider's authorization URL; the provider sends the
// browser back to the callback, and [Federation.Finish] takes the state
// (once), exchanges the code and validates the ID token (signature by the
// provider's published keys, alg allow-list, iss, aud = the client id, exp,
// nonce). The person then has a local subject derived from the issuer and
// their sub ([Subject]), and mcpgate issues its own tokens to their apps:
// the provider's tokens never reach an MCP client.
//
// The provider's access and refresh tokens are stored sealed with the
// store's encryption key (package seal). [Federation.AccessToken] returns
// a user's current access token, refreshing it when it is about to
// expire, for the upstream MCP servers configured to receive it.
package federation

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/sync/singleflight"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/seal"
)

// Provider is an upstream OpenID provider people may sign in with.
type Provider struct {
	// Name is shown on the sign-in button ("Sign in with Acme SSO");
	// default: the issuer's host.
	Name string
	// Issuer is the provider's issuer URL, exactly as its discovery
	// document and ID tokens state it: https, or http on a loopback host.
	Issuer string
	// ClientID is mcpgate's client id at the provider; ID tokens must name
	// it in aud.
	ClientID string
	// ClientSecret returns mcpgate's client secret, read each time it is
	// needed (a secret.Ref's Get), so a rotated file is picked up. Nil
	// means a public client: PKCE only.
	ClientSecret func() (string, error)
	// Scopes asked for; default openid, profile and email. openid is
	// always asked for. Add offline_access for providers that issue
	// refresh tokens only then (Okta, Auth0, Entra ID).
	Scopes []string
	// Algorithms allowed for ID token signatures; default RS256, ES256
	// and EdDSA. Only asymmetric algorithms are honoured.
	Algorithms []string
	// AuthParams are added to the authorization request, for providers
	// that need more than the standard: Google's access_type=offline
	// (refresh tokens), Auth0's audience (access tokens for an API).
	// The parameters of the flow itself cannot be set.
	AuthParams map[string]string
}

// reservedParams are the authorization request parameters of the flow,
// which AuthParams may not override.
var reservedParams = []string{"response_type", "client_id", "redirect_uri", "scope", "state", "nonce",
	"code_challenge", "code_challenge_method", "response_mode", "request", "request_uri"}

// Store is what federation keeps: sign-ins in progress and the users'
// provider tokens. The sqlite, postgres and inmem stores implement it.
type Store interface {
	mcpgate.LoginStateStore
	mcpgate.IdPTokenStore
}

// Options configure a Federation. RedirectURL and Keys are required.
type Options struct {
	// RedirectURL is the callback the provider sends the browser back to,
	// registered at every provider: the public origin and
	// /login/oidc/callback.
	RedirectURL string
	// Keys seal the providers' tokens in the store.
	Keys seal.Keys
	// Client talks to the providers; nil means a client with a 10 s
	// timeout.
	Client *http.Client
	// StateTTL is how long a sign-in may take at the provider; 10 minutes
	// by default.
	StateTTL time.Duration
	// Now is the clock; time.Now by default.
	Now func() time.Time
	// Logger receives sign-in and refresh events, never a token; nil
	// discards them.
	Logger *slog.Logger
}

// Errors of Finish and AccessToken. Finish's errors wrap one of the first
// four; the messages never carry a token.
var (
	// ErrState: the state is unknown, expired or was used already.
	ErrState = errors.New("federation: unknown, expired or used sign-in state")
	// ErrUnknownProvider: no configured provider has that id or issuer.
	ErrUnknownProvider = errors.New("federation: unknown identity provider")
	// ErrIdentity: the provider's answer does not prove who signed in (a
	// bad ID token: signature, issuer, audience, expiry, nonce).
	ErrIdentity = errors.New("federation: identity not proven")
	// ErrUnavailable: the provider could not be reached or failed.
	ErrUnavailable = errors.New("federation: identity provider unavailable")
	// ErrNotFederated: the principal did not sign in at a provider
	// through mcpgate's own sign-in (an API key, another issuer's token).
	ErrNotFederated = errors.New("federation: not a federated user")
	// ErrSignInAgain: mcpgate holds no usable provider token for the user
	// any more (the provider refused the refresh, or there was none).
	ErrSignInAgain = errors.New("federation: sign in again")
)

// Federation runs federated sign-ins and keeps the providers' tokens.
type Federation struct {
	store     Store
	providers []*provider
	opts      Options
	refreshes singleflight.Group
	cache     tokenCache

	keysMu sync.RWMutex // guards opts.Keys, which SetKeys replaces
}

// keys returns the keys tokens are sealed and opened with.
func (f *Federation) keys() seal.Keys {
	f.keysMu.RLock()
	defer f.keysMu.RUnlock()
	return f.opts.Keys
}

// SetKeys replaces the keys the providers' tokens are sealed with while
// the federation runs, as when the encryption key is rotated: tokens are
// sealed with k.Current from then on and opened with either. Tokens
// already stored stay sealed as they are, so a token sealed only with a
// key that is later dropped can no longer be opened; its user signs in
// again.
func (f *Federation) SetKeys(k seal.Keys) error {
	if err := k.Check(); err != nil {
		return err
	}
	if len(k.Current) == 0 {
		return errors.New("federation: a current key is required")
	}
	f.keysMu.Lock()
	defer f.keysMu.Unlock()
	f.opts.Keys = k
	return nil
}

// New checks the providers and returns a Federation. It does not contact
// the providers: each one's discovery document is read when first needed.
func New(store Store, providers []Provider, opts *Options) (*Federation, error) {
	if store == nil {
		return nil, errors.New("federation: a store is required")
	}
	if len(providers) == 0 {
		return nil, errors.New("federation: no identity provider")
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	if _, err := url.Parse(o.RedirectURL); err != nil || !strings.HasPrefix(o.RedirectURL, "http") {
		return nil, fmt.Errorf("federation: redirect URL %q is not an http(s) URL", o.RedirectURL)
	}
	if err := o.Keys.Check(); err != nil {
		return nil, err
	}
	if len(o.Keys.Current) == 0 {
		return nil, errors.New("federation: an encryption key is required to keep identity provider tokens")
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if o.StateTTL <= 0 {
		o.StateTTL = 10 * time.Minute
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	f := &Federation{store: store, opts: o}
	for i, p := range providers {
		if err := CheckIssuer(p.Issuer); err != nil {
			return nil, err
		}
		if p.ClientID == "" {
			return nil, fmt.Errorf("federation: identity provider %s: a client id is required", p.Issuer)
		}
		for _, q := range providers[:i] {
			if q.Issuer == p.Issuer {
				return nil, fmt.Errorf("federation: identity provider %s is configured twice", p.Issuer)
			}
		}
		if p.Name == "" {
			u, _ := url.Parse(p.Issuer)
			p.Name = u.Host
		}
		if len(p.Scopes) == 0 {
			p.Scopes = []string{"openid", "profile", "email"}
		} else if !slices.Contains(p.Scopes, "openid") {
			p.Scopes = append([]string{"openid"}, p.Scopes...)
		}
		for k := range p.AuthParams {
			if slices.Contains(reservedParams, k) {
				return nil, fmt.Errorf("federation: identity provider %s: the authorization parameter %s cannot be set", p.Issuer, k)
			}
		}
		if len(p.Algorithms) == 0 {
			p.Algorithms = []string{"RS256", "ES256", "EdDSA"}
		}
		f.providers = append(f.providers, &provider{Provider: p, id: strconv.Itoa(i), client: o.Client})
	}
	return f, nil
}

// CheckIssuer reports an error unless issuer is an https URL, or an http
// one on a loopback host, without query or fragment.
func CheckIssuer(issuer string) error {
	u, err := url.Parse(issuer)
	if err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("federation: issuer %q is not a URL such as https://idp.example.com", issuer)
	}
	switch {
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && isLoopback(u.Hostname()):
		return nil
	}
	return fmt.Errorf("federation: issuer %q must be https (http only on a loopback host)", issuer)
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ProviderInfo is a provider as the sign-in page shows it.
type ProviderInfo struct {
	ID     string // stable for the process: the provider's position
	Name   string
	Issuer string
}

// Providers returns the configured providers, in order.
func (f *Federation) Providers() []ProviderInfo {
	out := make([]ProviderInfo, len(f.providers))
	for i, p := range f.providers {
		out[i] = ProviderInfo{ID: p.id, Name: p.Name, Issuer: p.Issuer}
	}
	return out
}

func (f *Federation) byID(id string) *provider {
	for _, p := range f.providers {
		if p.id == id {
			return p
		}
	}
	return nil
}

func (f *Federation) byIssuer(iss string) *provider {
	for _, p := range f.providers {
		if p.Issuer == iss {
			return p
		}
	}
	return nil
}

// subjectPrefix starts every federated subject. Local user names may not
// start with it (see login.ValidateUsername).
const subjectPrefix = "oidc:"

// Subject is the local subject of the person sub at issuer: "oidc:", 16
// characters that stand for the issuer (base64url of its SHA-256), ":"
// and sub. It is the same at every sign-in, differs between issuers for
// the same sub, and cannot be a local user's name.
func Subject(issuer, sub string) string {
	h := sha256.Sum256([]byte(issuer))
	return subjectPrefix + base64.RawURLEncoding.EncodeToString(h[:12]) + ":" + sub
}

// Describe names a federated subject for people: the provider's sub and
// the provider's name, "alice (Acme SSO)"; "" for a subject of no
// configured provider.
func (f *Federation) Describe(subject string) string {
	for _, p := range f.providers {
		if sub, ok := strings.CutPrefix(subject, Subject(p.Issuer, "")); ok && sub != "" {
			return sub + " (" + p.Name + ")"
		}
	}
	return ""
}

// IsFederated reports whether subject has the form Subject gives.
func IsFederated(subject string) bool {
	rest, ok := strings.CutPrefix(subject, subjectPrefix)
	return ok && len(rest) > 17 && rest[16] == ':'
}

// hashState is what the store keeps of a state.
func hashState(state string) []byte {
	h := sha256.Sum256([]byte(state))
	return h[:]
}

func equal(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// oauthContext makes golang.org/x/oauth2 use the configured client.
func (f *Federation) oauthContext(ctx context.Context) context.Context {
	return context.WithValue(ctx, oauth2.HTTPClient, f.opts.Client)
}
