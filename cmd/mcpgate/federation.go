package main

import (
	"log/slog"
	"net/url"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/federation"
	"github.com/mcpgate/mcpgate/login"
	"github.com/mcpgate/mcpgate/seal"
	"github.com/mcpgate/mcpgate/secret"
)

// LoginProviderConfig is an OpenID provider people may sign in with on the
// sign-in page (`login_providers:` in the config file; --login-issuer adds
// one).
type LoginProviderConfig struct {
	Name         string   `yaml:"name"`
	Issuer       string   `yaml:"issuer"`
	ClientID     string   `yaml:"client_id"`
	ClientSecret string   `yaml:"client_secret"`
	Scopes       []string `yaml:"scopes"`
	Algorithms   []string `yaml:"algorithms"`
	// AuthParams are added to the authorization request (Google:
	// access_type: offline; Auth0: audience).
	AuthParams map[string]string `yaml:"auth_params"`
}

// loginProviders returns the providers that flags and the config file
// configure.
func (c *ServeCmd) loginProviders(g *Globals) []LoginProviderConfig {
	cfgs := append([]LoginProviderConfig(nil), g.file.LoginProviders...)
	if c.LoginIssuer != "" {
		cfgs = append(cfgs, LoginProviderConfig{Name: c.LoginName, Issuer: c.LoginIssuer, ClientID: c.LoginClientID, ClientSecret: c.LoginClientSecret})
	}
	return cfgs
}

// federation builds federated sign-in from the login providers, or nil
// when there are none. The providers' tokens are sealed with the store's
// encryption key; the callback is login.Callback at the public origin.
func (c *ServeCmd) federation(g *Globals, store mcpgate.Store, keys seal.Keys, logger *slog.Logger) (*federation.Federation, error) {
	cfgs := c.loginProviders(g)
	if len(cfgs) == 0 {
		if c.LoginClientID != "" || c.LoginClientSecret != "" || c.LoginName != "" {
			return nil, usagef("--login-client-id, --login-client-secret and --login-name need --login-issuer")
		}
		return nil, nil
	}
	if !c.OAuth {
		return nil, usagef("sign-in with an identity provider (--login-issuer, login_providers) needs the authorization server: drop --no-oauth")
	}
	fs, ok := store.(federation.Store)
	if !ok {
		return nil, usagef("this store cannot keep federated sign-ins")
	}
	var providers []federation.Provider
	for _, pc := range cfgs {
		if err := federation.CheckIssuer(pc.Issuer); err != nil {
			return nil, usageError{err}
		}
		if pc.ClientID == "" {
			return nil, usagef("login provider %s: a client id is required (--login-client-id, client_id)", pc.Issuer)
		}
		p := federation.Provider{Name: pc.Name, Issuer: pc.Issuer, ClientID: pc.ClientID, Scopes: pc.Scopes, Algorithms: pc.Algorithms, AuthParams: pc.AuthParams}
		if pc.ClientSecret != "" {
			ref, err := secret.LoadWith(pc.ClientSecret, g.secretOptions())
			if err != nil {
				return nil, usagef("login provider %s: client secret: %v", pc.Issuer, err)
			}
			p.ClientSecret = ref.Get
		}
		providers = append(providers, p)
	}
	u, err := url.Parse(g.PublicURL)
	if err != nil {
		return nil, usageError{err}
	}
	redirect := u.Scheme + "://" + u.Host + login.Callback
	f, err := federation.New(fs, providers, &federation.Options{RedirectURL: redirect, Keys: keys, Logger: logger})
	if err != nil {
		return nil, usageError{err}
	}
	for _, p := range f.Providers() {
		logger.Info("sign-in with an identity provider offered", "name", p.Name, "issuer", p.Issuer, "redirect_uri", redirect)
	}
	return f, nil
}

// checkForwardIDPToken refuses forward_idp_token on an upstream when there
// is no federated sign-in to take the tokens from.
func checkForwardIDPToken(u UpstreamConfig, fed *federation.Federation) error {
	if u.ForwardIDPToken && fed == nil {
		return usagef("upstream %q: forward_idp_token needs sign-in with an identity provider (--login-issuer or login_providers)", u.Name)
	}
	return nil
}
