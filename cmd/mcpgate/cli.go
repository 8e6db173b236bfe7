package main

import (
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/alecthomas/kong"

	"github.com/mcpgate/mcpgate/redact"
)

// CLI is the whole command line. Global flags apply to every command, so the
// CLI commands work on the same store as `mcpgate serve`.
type CLI struct {
	Globals

	Serve      ServeCmd      `cmd:"" help:"Run the gateway."`
	Migrate    MigrateCmd    `cmd:"" help:"Create the store, or upgrade it to this version of mcpgate."`
	Keys       KeysCmd       `cmd:"" help:"Create, list, revoke and rotate API keys."`
	Users      UsersCmd      `cmd:"" help:"Manage local login users of the authorization server, and disable people who sign in with an identity provider."`
	Clients    ClientsCmd    `cmd:"" help:"Manage OAuth clients."`
	Tokens     TokensCmd     `cmd:"" help:"Revoke access tokens, mcpgate's own and identity providers', before they expire."`
	OAuth      OAuthCmd      `cmd:"" name:"oauth" help:"Maintain the authorization server (signing keys)."`
	Audit      AuditCmd      `cmd:"" help:"Show the newest audit events, filtered by subject, key, client or decision."`
	Scan       ScanCmd       `cmd:"" help:"Find leaked keys, client secrets, JWTs and private keys in files or git history."`
	Doctor     DoctorCmd     `cmd:"" help:"Check the effective configuration against known pitfalls, or with --url a live deployment as MCP clients meet it; each problem with its fix."`
	ConfigCmd  ConfigCmd     `cmd:"" name:"config" help:"Show the effective configuration, secrets as references."`
	Version    VersionCmd    `cmd:"" help:"Print the version."`
	Completion CompletionCmd `cmd:"" help:"Print a shell completion script: source <(mcpgate completion bash)."`

	VersionFlag kong.VersionFlag `name:"version" help:"Print the version and exit."`
}

// Globals are the settings shared by every command. Each has an environment
// variable; a config file (--config) supplies what neither flag nor
// environment sets.
type Globals struct {
	Config    string `help:"YAML config file." env:"MCPGATE_CONFIG" type:"path" placeholder:"FILE"`
	Data      string `help:"Data directory for the embedded SQLite store (default ./mcpgate-data)." env:"MCPGATE_DATA" placeholder:"DIR"`
	Store     string `help:"Store URL: postgres://… for Postgres, or a reference to it (env:NAME, file:PATH, vault:PATH#FIELD) that keeps its password out of the process list; empty for SQLite in --data." env:"MCPGATE_STORE" placeholder:"URL|REF" secret:""`
	Listen    string `help:"Address to listen on (default 127.0.0.1:8080)." env:"MCPGATE_LISTEN" placeholder:"HOST:PORT"`
	PublicURL string `help:"Canonical URL of the MCP endpoint, used in metadata and token audiences (default http://<listen>/mcp)." env:"MCPGATE_PUBLIC_URL" placeholder:"URL"`
	LogLevel  string `help:"Log level: debug, info, warn, error (default info)." env:"MCPGATE_LOG_LEVEL" placeholder:"LEVEL"`
	LogFormat string `help:"Log format: text or json (default text)." env:"MCPGATE_LOG_FORMAT" placeholder:"FORMAT"`
	Init      bool   `help:"Create the store if there is none (serve and migrate always do; other commands refuse, so a typo in --data cannot start a second, empty store)." env:"MCPGATE_INIT"`

	EncryptionKey         string `help:"Key that encrypts secrets kept in the store (OAuth signing keys): env:NAME, file:PATH or vault:PATH#FIELD holding 32 random bytes in base64. A file or Vault key that changes is applied by serve without a restart. Default with SQLite: encryption.key in --data, created once; required with Postgres." env:"MCPGATE_ENCRYPTION_KEY" placeholder:"REF" secret:""`
	EncryptionKeyPrevious string `help:"While --encryption-key is being rotated, the key it replaces: what it encrypted is still read until mcpgate oauth encrypt-keys re-encrypts it." env:"MCPGATE_ENCRYPTION_KEY_PREVIOUS" placeholder:"REF" secret:""`
	EnvFile               string `name:"env-file" help:"Read environment variables from this dotenv file before anything else; variables already set win. No file is read unless given." placeholder:"FILE"`

	file *Config // the parsed --config file, if any
	// vaultRefresh is serve's --vault-refresh: how long a vault: secret
	// is used before it is read again (0: the default).
	vaultRefresh time.Duration
	// dataFrom says where Data came from when neither flag nor
	// environment set it, for the message when no store is there.
	dataFrom string
	command  string // the command being run, such as "keys create"
	// publicDefaulted is set when PublicURL was derived from Listen, so a
	// listener on port 0 can fix it once the port is known.
	publicDefaulted bool
}

// AfterApply loads the config file and fills unset settings from it and
// from the defaults, in that order.
func (g *Globals) AfterApply(kctx *kong.Context) error {
	cfg := &Config{}
	if g.Config != "" {
		var err error
		if cfg, err = LoadConfig(g.Config); err != nil {
			return usageError{err}
		}
	}
	g.file = cfg
	g.command = kctx.Command()
	fill := func(dst *string, fromFile, def string) {
		if *dst == "" {
			*dst = fromFile
		}
		if *dst == "" {
			*dst = def
		}
	}
	switch {
	case g.Data != "":
	case cfg.Data != "":
		g.dataFrom = "data: in " + g.Config
	default:
		g.dataFrom = "the default"
	}
	fill(&g.Data, cfg.Data, "./mcpgate-data")
	fill(&g.Store, cfg.Store, "")
	fill(&g.Listen, cfg.Listen, "127.0.0.1:8080")
	fill(&g.PublicURL, cfg.PublicURL, "")
	fill(&g.LogLevel, cfg.LogLevel, "info")
	fill(&g.LogFormat, cfg.LogFormat, "text")
	fill(&g.EncryptionKey, cfg.EncryptionKey, "")
	fill(&g.EncryptionKeyPrevious, cfg.EncryptionKeyPrevious, "")
	if g.PublicURL == "" {
		g.PublicURL = "http://" + g.Listen + "/mcp"
		g.publicDefaulted = true
	}
	if _, err := levelOf(g.LogLevel); err != nil {
		return usageError{err}
	}
	if g.LogFormat != "text" && g.LogFormat != "json" {
		return usagef("--log-format must be text or json, not %q", g.LogFormat)
	}
	return nil
}

func levelOf(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("--log-level must be debug, info, warn or error, not %q", s)
	}
	return l, nil
}

// logger returns the process logger. Every handler is wrapped by the
// redacting handler, so no code path can log a key, token or password.
func (g *Globals) logger(w io.Writer) *slog.Logger {
	lvl, _ := levelOf(g.LogLevel)
	opts := &slog.HandlerOptions{Level: lvl}
	var h slog.Handler
	if g.LogFormat == "json" {
		h = slog.NewJSONHandler(w, opts)
	} else {
		h = slog.NewTextHandler(w, opts)
	}
	l := slog.New(redact.NewHandler(h))
	// Packages that log through slog.Default get the same redaction, and
	// their routine start-up lines only at debug.
	slog.SetDefault(slog.New(quietLibraries{l.Handler()}))
	return l
}
