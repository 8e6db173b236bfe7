package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/authz"
	"github.com/mcpgate/mcpgate/federation"
	"github.com/mcpgate/mcpgate/gateway"
	"github.com/mcpgate/mcpgate/pipeline"
	"github.com/mcpgate/mcpgate/proxy"
	"github.com/mcpgate/mcpgate/seal"
	"github.com/mcpgate/mcpgate/secret"
)

// ServeCmd runs the gateway.
type ServeCmd struct {
	Upstream    string   `help:"Front this Streamable HTTP MCP server at /mcp instead of the built-in one." env:"MCPGATE_UPSTREAM" placeholder:"URL" xor:"upstream"`
	UpstreamCmd string   `help:"Front this stdio MCP server (a command line) at /mcp." env:"MCPGATE_UPSTREAM_CMD" placeholder:"CMD" xor:"upstream"`
	Docs        string   `help:"Folder of markdown documents for the built-in server (default: the shipped samples)." env:"MCPGATE_DOCS" type:"existingdir" placeholder:"DIR"`
	MaxBody     int64    `help:"Largest request body accepted, in bytes, for the built-in server and every upstream." env:"MCPGATE_MAX_BODY" default:"4194304"`
	MaxBatch    int      `help:"Most messages in one JSON-RPC batch; a larger batch is refused before any call of it runs." env:"MCPGATE_MAX_BATCH" default:"100"`
	CORSOrigins []string `name:"cors-origins" help:"Origins of the web pages that may call the MCP endpoints (CORS), besides the public URL's: exact origins, loopback (localhost and loopback addresses, any port) or * (any page). Pages of other origins get 403 (default: loopback)." env:"MCPGATE_CORS_ORIGINS" placeholder:"ORIGIN"`

	MaxSessions             int           `help:"Most MCP sessions per server (built-in or upstream); a new one beyond it gets 503." env:"MCPGATE_MAX_SESSIONS" default:"100000"`
	MaxSessionsPerPrincipal int           `help:"Most MCP sessions of one caller per server; a new one ends that caller's least recently used session." env:"MCPGATE_MAX_SESSIONS_PER_PRINCIPAL" default:"100"`
	Shutdown                time.Duration `help:"How long in-flight requests may take to finish on SIGINT/SIGTERM." env:"MCPGATE_SHUTDOWN_TIMEOUT" default:"30s"`
	ShutdownDelay           time.Duration `help:"On SIGINT/SIGTERM, answer /readyz with 503 and keep serving this long before the listener closes, so a load balancer stops sending first (e.g. its health-check interval times its fall count)." env:"MCPGATE_SHUTDOWN_DELAY" default:"0s"`

	VaultRefresh         time.Duration `help:"How long a vault: secret is used before it is read again (VAULT_ADDR, VAULT_TOKEN or VAULT_ROLE_ID and VAULT_SECRET_ID, VAULT_NAMESPACE say where and how)." env:"MCPGATE_VAULT_REFRESH" default:"5m"`
	EncryptionKeyOverlap time.Duration `help:"When a file: or vault: --encryption-key changes while serving, how long the key it replaced still decrypts (other replicas may not have the new one yet)." env:"MCPGATE_ENCRYPTION_KEY_OVERLAP" default:"1h"`

	RateLimitFlags `embed:""`

	OAuth             bool          `name:"oauth" help:"Run the embedded OAuth 2.1 authorization server (--no-oauth: API keys only)." env:"MCPGATE_OAUTH" default:"true" negatable:""`
	Issuer            string        `help:"OAuth issuer URL (default: the origin of --public-url)." env:"MCPGATE_ISSUER" placeholder:"URL"`
	RegistrationToken string        `help:"Require this initial access token for dynamic client registration (default: open, rate-limited): env:NAME, file:PATH or vault:PATH#FIELD (re-read when it changes), or the value itself." env:"MCPGATE_REGISTRATION_TOKEN" placeholder:"REF" secret:""`
	NoRegistration    bool          `help:"Turn dynamic client registration off." env:"MCPGATE_NO_REGISTRATION"`
	AllowLoopbackCIMD bool          `help:"Fetch client metadata documents from loopback http URLs (local testing only)." env:"MCPGATE_ALLOW_LOOPBACK_CIMD" hidden:""`
	AccessTokenTTL    time.Duration `help:"Lifetime of OAuth access tokens; refresh tokens renew them." env:"MCPGATE_ACCESS_TOKEN_TTL" default:"10m"`
	MaxTokenLifetime  time.Duration `help:"Refuse access tokens that live longer (exp - iat), mcpgate's own and every identity provider's without its own max_token_lifetime." env:"MCPGATE_MAX_TOKEN_LIFETIME" default:"24h"`

	// Identity providers (idp.go); several, and their claim mappings, go
	// in the config file.
	JWTIssuer                 []string      `name:"jwt-issuer" help:"Trust the JWT access tokens of this identity provider (its issuer URL; https, or http on loopback). Repeat for several." env:"MCPGATE_JWT_ISSUER" placeholder:"URL"`
	JWTAudience               string        `name:"jwt-audience" help:"Audience identity providers' tokens must name on every MCP endpoint, for providers that cannot put the endpoint's URL in aud (default: the URL of the endpoint each token is used on)." env:"MCPGATE_JWT_AUDIENCE" placeholder:"URI"`
	IntrospectionURL          string        `help:"Ask this RFC 7662 introspection endpoint about opaque tokens." env:"MCPGATE_INTROSPECTION_URL" placeholder:"URL"`
	IntrospectionClientID     string        `help:"Client id mcpgate authenticates to the introspection endpoint with." env:"MCPGATE_INTROSPECTION_CLIENT_ID" placeholder:"ID"`
	IntrospectionClientSecret string        `help:"Its secret: env:NAME, file:PATH or vault:PATH#FIELD (re-read when it changes); a bare value is taken literally." env:"MCPGATE_INTROSPECTION_CLIENT_SECRET" placeholder:"REF" secret:""`
	IDPTimeout                time.Duration `name:"idp-timeout" help:"Longest wait for an identity provider; a token that needs one that does not answer is refused." env:"MCPGATE_IDP_TIMEOUT" default:"5s"`

	// Sign-in with an identity provider (federation.go); several go in the
	// config file.
	LoginIssuer       string `name:"login-issuer" help:"Offer sign-in with this OpenID provider (its issuer URL; https, or http on loopback) on the sign-in page. Register <public origin>/login/oidc/callback as its redirect URI." env:"MCPGATE_LOGIN_ISSUER" placeholder:"URL"`
	LoginClientID     string `name:"login-client-id" help:"mcpgate's client id at the --login-issuer provider." env:"MCPGATE_LOGIN_CLIENT_ID" placeholder:"ID"`
	LoginClientSecret string `name:"login-client-secret" help:"Its client secret: env:NAME, file:PATH or vault:PATH#FIELD; a bare value is taken literally." env:"MCPGATE_LOGIN_CLIENT_SECRET" placeholder:"REF" secret:""`
	LoginName         string `name:"login-name" help:"The provider's name on the sign-in button (default: its host)." env:"MCPGATE_LOGIN_NAME" placeholder:"NAME"`

	AlertFlags `embed:""` // security alerts by webhook (alerts.go)
	AdminFlags `embed:""` // admin listener, metrics and retention (admin.go)
}

// Run serves until the context ends, then shuts down gracefully.
func (c *ServeCmd) Run(e *env, g *Globals) error {
	// Log lines are written out in batches (every 100 ms, or at 64 KiB)
	// rather than one system call per request.
	logs := newLogBuffer(e.stderr, 64<<10, 100*time.Millisecond)
	defer logs.Close()
	logger := g.logger(logs)
	c.fillFromFile(g.file)
	g.vaultRefresh = c.VaultRefresh
	if _, err := gateway.ParsePublicURL(g.PublicURL); err != nil {
		return usageError{err}
	}
	if c.MaxBody <= 0 {
		return usagef("--max-body must be positive")
	}
	if err := pipeline.ValidateOrigins(c.CORSOrigins); err != nil {
		return usagef("--cors-origins: %v", err)
	}
	if c.MaxBatch <= 0 || c.MaxSessions <= 0 || c.MaxSessionsPerPrincipal <= 0 {
		return usagef("--max-batch, --max-sessions and --max-sessions-per-principal must be positive")
	}
	if c.AccessTokenTTL < time.Second || c.AccessTokenTTL > 24*time.Hour {
		return usagef("--access-token-ttl must be between 1s and 24h")
	}
	if c.MaxTokenLifetime < c.AccessTokenTTL {
		return usagef("--max-token-lifetime (%s) must be at least --access-token-ttl (%s)", c.MaxTokenLifetime, c.AccessTokenTTL)
	}
	// Closed last, so alerts raised by the last requests are still sent.
	alerts, err := c.alertSink(g, logger)
	if err != nil {
		return err
	}
	defer alerts.Close()
	limiter, limits, releaseLimiter, err := c.rateLimiter(g, logger, raiser(alerts))
	if err != nil {
		return err
	}
	defer releaseLimiter()
	if err := g.requireEncryptionKey(); err != nil {
		return err
	}
	if _, err := net.ResolveTCPAddr("tcp", g.Listen); err != nil {
		return usagef("--listen %q: %v", g.Listen, err)
	}
	// Listen before opening the store, so a port in use fails before a
	// data directory is created.
	ln, err := net.Listen("tcp", g.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	defer ln.Close()
	store, err := g.openStore(e)
	if err != nil {
		return err
	}
	defer store.Close()
	kek, previousKEK, err := g.encryptionKeys()
	if err != nil {
		return err
	}
	if g.publicDefaulted {
		g.PublicURL = "http://" + ln.Addr().String() + "/mcp"
	}

	// Built in the order each needs the other: the authorization server
	// signs the identity assertions of upstreams, and the gateway serves
	// both.
	opts := &gateway.Options{
		Logger:                  logger,
		MaxBodyBytes:            c.MaxBody,
		MaxBatch:                c.MaxBatch,
		CORSOrigins:             c.CORSOrigins,
		MaxSessions:             c.MaxSessions,
		MaxSessionsPerPrincipal: c.MaxSessionsPerPrincipal,
		RateLimit:               limiter,
		Limiter:                 limits,
		Alerts:                  alerts.Raise,
	}
	var sign func(map[string]any) (string, error)
	if c.OAuth {
		var regToken func() string
		if c.RegistrationToken != "" {
			ref, err := g.loadSecret("--registration-token", c.RegistrationToken)
			if err != nil {
				return err
			}
			regToken = getter(ref, "--registration-token", logger)
		}
		opts.AuthServer, err = gateway.NewAuthServer(store, g.PublicURL, &gateway.OAuthOptions{
			Issuer:                c.Issuer,
			RegistrationTokenFunc: regToken,
			DisableRegistration:   c.NoRegistration,
			AllowLoopbackCIMD:     c.AllowLoopbackCIMD,
			AccessTokenTTL:        c.AccessTokenTTL,
			MaxTokenLifetime:      c.MaxTokenLifetime,

			KeyEncryptionKey:         kek,
			PreviousKeyEncryptionKey: previousKEK,
		}, opts)
		if err != nil {
			return g.keyDecryptionError(err)
		}
		sign = opts.AuthServer.SignIdentity
	}
	idps, err := c.identityProviders(g, c.ownIssuer(g.PublicURL), logger)
	if err != nil {
		return err
	}
	if idps != nil {
		defer idps.Close()
		opts.Verifiers = append(opts.Verifiers, idps)
		opts.OnChange = idps.Apply
	}
	fed, err := c.federation(g, store, seal.Keys{Current: kek, Previous: previousKEK}, logger)
	if err != nil {
		return err
	}
	opts.Federation = fed
	if k := secret.KindOf(g.EncryptionKey); opts.AuthServer != nil && (k == secret.File || k == secret.Vault) {
		ref, err := g.loadSecret("--encryption-key", g.EncryptionKey)
		if err != nil {
			return err
		}
		ctx, stop := context.WithCancel(e.ctx)
		defer stop()
		go watchEncryptionKey(ctx, ref, sealers{opts.AuthServer, fed}, kek, previousKEK, c.EncryptionKeyOverlap, logger)
	}
	var closeUpstreams func()
	opts.Upstreams, closeUpstreams, err = c.upstreams(g, logger, sign, fed)
	if err != nil {
		return err
	}
	defer closeUpstreams()
	opts.Upstreams = append(opts.Upstreams, testUpstreams()...)
	docs := c.Docs
	if docs == "" {
		docs = g.file.Docs
	}
	if docs != "" {
		opts.Docs = os.DirFS(docs)
	}
	adminLn, err := c.AdminFlags.start(e, logger, store, opts)
	if err != nil {
		return err
	}
	defer adminLn.stop()
	gw, err := gateway.New(store, g.PublicURL, opts)
	if err != nil {
		return err
	}
	defer gw.Close()
	recordServerInfo(e.ctx, store, g.PublicURL, opts.Upstreams, logger)
	if err := adminLn.serve(gw); err != nil {
		return err
	}
	if idps != nil {
		// Revocations made before this start still apply; the gateway's
		// change feed watcher, started by New, brings the later ones.
		if err := idps.Load(e.ctx, store); err != nil {
			return err
		}
	}
	draining, drain := context.WithCancel(context.Background())
	defer drain()
	srv := &http.Server{
		Handler:           closeStreamsOnDrain(draining, gw.Handler()),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	logger.Info("mcpgate listening", "addr", ln.Addr().String(), "mcp", g.PublicURL, "store", storeName(g))
	fmt.Fprintf(e.stdout, "mcpgate serving MCP at %s (listening on %s)\n", g.PublicURL, ln.Addr())
	c.printHints(e, store)

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-e.ctx.Done():
	}
	if c.ShutdownDelay > 0 {
		// /readyz already answers 503 (e.ctx is done); connections a
		// balancer opens before it notices are still served, instead of
		// being reset in the listener's backlog.
		logger.Info("unready; serving until the shutdown delay ends", "delay", c.ShutdownDelay)
		time.Sleep(c.ShutdownDelay)
	}
	logger.Info("shutting down", "grace", c.Shutdown)
	drain()
	ctx, cancel := context.WithTimeout(context.Background(), c.Shutdown)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// fillFromFile gives the flags that have a config-file setting the file's
// value where neither flag nor environment set one, so that serve and
// `config show` see the same settings.
func (c *ServeCmd) fillFromFile(f *Config) {
	fill := func(dst *string, v string) {
		if *dst == "" {
			*dst = v
		}
	}
	fill(&c.Docs, f.Docs)
	fill(&c.RegistrationToken, f.RegistrationToken)
	fill(&c.Redis, f.Redis)
	if c.CORSOrigins == nil {
		c.CORSOrigins = f.CORSOrigins
	}
	if f.RateLimits != nil {
		fill(&c.RateLimit, f.RateLimits.Default)
	}
	if a := f.Alerts; a != nil {
		fill(&c.AlertWebhook, a.Webhook)
		fill(&c.AlertSecret, a.Secret)
		if c.AlertWindow == 0 {
			c.AlertWindow = time.Duration(a.Window)
		}
	}
	if in := f.Introspection; in != nil {
		fill(&c.IntrospectionURL, in.URL)
		fill(&c.IntrospectionClientID, in.ClientID)
		fill(&c.IntrospectionClientSecret, in.ClientSecret)
	}
}

func storeName(g *Globals) string {
	if g.Store == "" {
		return "sqlite:" + g.Data
	}
	return "postgres"
}

// upstreams builds the fronted MCP servers from flags and the config file.
// A --upstream or --upstream-cmd flag serves at /mcp itself. sign, nil
// without the authorization server, signs identity assertions.
func (c *ServeCmd) upstreams(g *Globals, logger *slog.Logger, sign func(map[string]any) (string, error), fed *federation.Federation) ([]gateway.Upstream, func(), error) {
	cfgs := append([]UpstreamConfig(nil), g.file.Upstreams...)
	switch {
	case c.Upstream != "":
		cfgs = append(cfgs, UpstreamConfig{Upstream: proxy.Upstream{Name: "default", URL: c.Upstream}, Path: "/mcp"})
	case c.UpstreamCmd != "":
		argv, err := splitCommand(c.UpstreamCmd)
		if err != nil {
			return nil, nil, usagef("--upstream-cmd: %v", err)
		}
		cfgs = append(cfgs, UpstreamConfig{Upstream: proxy.Upstream{Name: "default", Command: argv}, Path: "/mcp"})
	}
	var ups []gateway.Upstream
	var closers []func() error
	closeAll := func() {
		for _, f := range closers {
			_ = f()
		}
	}
	for _, u := range cfgs {
		po := &proxy.Options{Policy: filterOf(u.Policy), Logger: logger, MaxBodyBytes: c.MaxBody, MaxSessions: c.MaxSessions}
		if u.IdentityJWT {
			if !c.OAuth {
				closeAll()
				return nil, nil, usagef("upstream %q: identity_jwt needs the authorization server (drop --no-oauth)", u.Name)
			}
			po.Identity.Sign = sign
		}
		if err := checkForwardIDPToken(u, fed); err != nil {
			closeAll()
			return nil, nil, err
		}
		if u.ForwardIDPToken {
			po.Credential = fed.Authorization
		}
		h, closeFn, err := proxy.New(u.Upstream, po)
		if err != nil {
			closeAll()
			return nil, nil, usageError{err}
		}
		closers = append(closers, closeFn)
		path := u.Path
		if path == "" {
			path = u.Upstream.Path()
		}
		ups = append(ups, gateway.Upstream{Name: u.Name, Path: path, Handler: h, Policy: u.Policy})
	}
	return ups, closeAll, nil
}

// filterOf keeps a nil policy a nil interface, so the proxy skips
// filtering instead of calling a nil policy on every list.
func filterOf(p *authz.Policy) proxy.Filter {
	if p == nil {
		return nil
	}
	return p
}

// closeStreamsOnDrain ends long-lived GET event streams when shutdown
// begins. http.Server.Shutdown waits for requests in flight, which is right
// for POSTs (a tool call finishes) but would wait the whole grace period for
// a standalone SSE stream that never ends on its own; clients reconnect to
// another replica or after the restart.
func closeStreamsOnDrain(draining context.Context, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			next.ServeHTTP(w, r)
			return
		}
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		stop := context.AfterFunc(draining, cancel)
		defer stop()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// printHints tells a first-time user what to do next: without a key or a
// user, nobody can get in.
func (c *ServeCmd) printHints(e *env, store mcpgate.Store) {
	if keys, err := store.ListKeys(e.ctx); err == nil && len(keys) == 0 {
		fmt.Fprintln(e.stdout, "No API keys yet: create one with `mcpgate keys create --name NAME`.")
	}
	if !c.OAuth {
		return
	}
	if us, ok := store.(mcpgate.UserStore); ok {
		if users, err := us.ListUsers(e.ctx); err == nil && len(users) == 0 {
			fmt.Fprintln(e.stdout, "No sign-in users yet: OAuth clients need one, add it with `mcpgate users add NAME`.")
		}
	}
}
