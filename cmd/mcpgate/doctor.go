package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/mcpgate/mcpgate/secret"
	"github.com/mcpgate/mcpgate/sqlite"
)

// DoctorCmd checks the effective configuration (flags, MCPGATE_*
// variables and the config file, exactly as serve would read them) against
// known pitfalls.
type DoctorCmd struct {
	Serve ServeCmd `embed:""`
	Dir   string   `help:"Directory the server runs in, checked for a .env file in git (default: the current directory)." placeholder:"DIR"`
	JSON  bool     `help:"Print JSON."`

	URL      string        `help:"Check the live deployment at this MCP URL instead of the configuration: each MCP client family's discovery steps." placeholder:"URL"`
	Register bool          `help:"With --url, register a client for real to check dynamic registration (it stays registered)."`
	Timeout  time.Duration `help:"With --url, the longest wait for each request." default:"10s"`
}

// Severities of a diagnosis.
const (
	sevFail = "fail"
	sevWarn = "warn"
	sevOK   = "ok"
)

// diagnosis is the outcome of one check: ok, or a problem with its fix.
type diagnosis struct {
	Check    string `json:"check"`
	Severity string `json:"severity"`
	Problem  string `json:"problem"`
	Fix      string `json:"fix,omitempty"`
}

// doctorCheck is one pitfall: it returns the problems it finds (nil when
// there is none) and, for the report, what it looked at.
type doctorCheck struct {
	id   string
	ok   string // shown when the check finds nothing
	find func(*doctorEnv) []diagnosis
}

// doctorEnv is what the checks read: the command's settings and the config
// file they were merged with.
type doctorEnv struct {
	e   *env
	g   *Globals
	c   *DoctorCmd
	now time.Time
}

var doctorChecks = []doctorCheck{
	{"secret-value", "every secret setting is a reference (env:, file:) or unset", (*doctorEnv).secretValues},
	{"dotenv-in-git", "no .env file tracked by git or in its history", (*doctorEnv).dotenvInGit},
	{"plain-http", "plain HTTP only on loopback", (*doctorEnv).plainHTTP},
	{"public-url", "the public URL matches the listener", (*doctorEnv).publicURLMatches},
	{"data-permissions", "the data directory and database are private to their owner", (*doctorEnv).dataPermissions},
	{"open-registration", "dynamic client registration needs a token, or is off", (*doctorEnv).openRegistration},
	{"rate-limits", "rate limits are on", (*doctorEnv).rateLimits},
	{"introspection-cache", "introspected tokens are cached", (*doctorEnv).introspectionCache},
	{"key-age", "no live API key is older than 90 days", (*doctorEnv).keyAge},
	{"key-expiry", "every live API key expires", (*doctorEnv).keyExpiry},
}

// Run runs every check and prints the report; a failure is exit 1.
func (c *DoctorCmd) Run(e *env, g *Globals) error {
	if c.URL != "" || c.Register {
		return c.runURL(e)
	}
	d := &doctorEnv{e: e, g: g, c: c, now: time.Now()}
	var report []diagnosis
	fails, warns := 0, 0
	for _, ch := range doctorChecks {
		found := ch.find(d)
		if len(found) == 0 {
			report = append(report, diagnosis{Check: ch.id, Severity: sevOK, Problem: ch.ok})
		}
		for _, f := range found {
			f.Check = ch.id
			switch f.Severity {
			case sevFail:
				fails++
			case sevWarn:
				warns++
			}
			report = append(report, f)
		}
	}
	if c.JSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(struct {
			Checks   []diagnosis `json:"checks"`
			Failures int         `json:"failures"`
			Warnings int         `json:"warnings"`
		}{report, fails, warns}); err != nil {
			return err
		}
	} else {
		for _, r := range report {
			fmt.Fprintf(e.stdout, "%-4s  %-19s  %s\n", strings.ToUpper(r.Severity), r.Check, r.Problem)
			if r.Fix != "" {
				fmt.Fprintf(e.stdout, "      %-19s  fix: %s\n", "", r.Fix)
			}
		}
		fmt.Fprintf(e.stdout, "\n%d failure(s), %d warning(s).\n", fails, warns)
	}
	if fails > 0 {
		return fmt.Errorf("%d check(s) failed", fails)
	}
	return nil
}

func fail(problem, fix string) diagnosis {
	return diagnosis{Severity: sevFail, Problem: problem, Fix: fix}
}
func warn(problem, fix string) diagnosis {
	return diagnosis{Severity: sevWarn, Problem: problem, Fix: fix}
}

// isReference reports whether a secret setting names where the secret is
// rather than holding it.
func isReference(v string) bool {
	for _, p := range []string{"env:", "file:", "vault:"} {
		if strings.HasPrefix(v, p) {
			return true
		}
	}
	return false
}

// secretValues fails every secret setting given as the secret itself: it
// is then in the process list, shell history, the config file and
// whatever copies them.
func (d *doctorEnv) secretValues() []diagnosis {
	c, file := &d.c.Serve, d.g.file
	type setting struct{ name, value string }
	settings := []setting{
		{"--registration-token", c.RegistrationToken},
		{"--introspection-client-secret", c.IntrospectionClientSecret},
		{"--alert-secret", c.AlertSecret},
	}
	if c.IntrospectionClientSecret == "" && file.Introspection != nil {
		settings[1] = setting{"introspection.client_secret (config file)", file.Introspection.ClientSecret}
	}
	if c.AlertSecret == "" && file.Alerts != nil {
		settings[2] = setting{"alerts.secret (config file)", file.Alerts.Secret}
	}
	settings = append(settings, setting{"--login-client-secret", c.LoginClientSecret})
	for _, lp := range file.LoginProviders {
		settings = append(settings, setting{"login_providers[" + lp.Issuer + "].client_secret (config file)", lp.ClientSecret})
	}
	settings = append(settings,
		setting{"--encryption-key", d.g.EncryptionKey},
		setting{"--encryption-key-previous", d.g.EncryptionKeyPrevious})
	redis := setting{"--redis", c.Redis}
	if c.Redis == "" {
		redis = setting{"redis (config file)", file.Redis}
	}
	var out []diagnosis
	for _, s := range settings {
		v := strings.TrimPrefix(s.value, "literal:")
		if v == "" || isReference(s.value) {
			continue
		}
		out = append(out, fail(s.name+" holds the secret itself, so it shows in the process list, shell history and config file",
			"give a reference instead: "+s.name+" env:NAME (a variable set by your secret manager) or file:PATH (a mounted secret)"))
	}
	for _, s := range []setting{{"--store", d.g.Store}, redis} {
		if s.value == "" || isReference(s.value) {
			continue
		}
		u, err := url.Parse(strings.TrimPrefix(s.value, "literal:"))
		if err != nil || u.User == nil {
			continue
		}
		if _, has := u.User.Password(); has {
			out = append(out, fail(s.name+" is a URL with a password in it, so the password shows in the process list and config file",
				"put the whole URL in a secret and give a reference: "+s.name+" env:NAME or file:PATH"))
		}
	}
	return out
}

// dotenvInGit fails when a .env file is tracked by git, or was committed
// once: everything in it has leaked to whoever can read the repository.
func (d *doctorEnv) dotenvInGit() []diagnosis {
	dirs := []string{d.c.Dir}
	if dirs[0] == "" {
		dirs[0] = "."
	}
	if d.g.Config != "" {
		dirs = append(dirs, filepath.Dir(d.g.Config))
	}
	var out []diagnosis
	seen := map[string]bool{}
	for _, dir := range dirs {
		top, err := exec.CommandContext(d.e.ctx, "git", "-C", dir, "rev-parse", "--show-toplevel").Output()
		if err != nil || seen[string(top)] {
			continue // not in a git repository: nothing to check
		}
		seen[string(top)] = true
		root := strings.TrimSpace(string(top))
		spec := []string{"--", ":(glob)**/.env", ":(glob)**/.env.*"}
		tracked, _ := exec.CommandContext(d.e.ctx, "git", append([]string{"-C", root, "ls-files"}, spec...)...).Output()
		for _, f := range dotenvNames(string(tracked)) {
			out = append(out, fail(fmt.Sprintf("%s is tracked by git in %s: every secret in it has leaked to whoever can read the repository", f, root),
				fmt.Sprintf("rotate every secret in it, then `git rm --cached %s` and add it to .gitignore", f)))
		}
		added, _ := exec.CommandContext(d.e.ctx, "git", append([]string{"-C", root, "log", "--all", "--format=", "--name-only", "--diff-filter=A"}, spec...)...).Output()
		for _, f := range dotenvNames(string(added)) {
			if slices.Contains(dotenvNames(string(tracked)), f) {
				continue
			}
			out = append(out, fail(fmt.Sprintf("%s was committed in %s and deleted since: it is still in the history", f, root),
				"rotate every secret it held (`mcpgate scan --history --revoke` revokes mcpgate keys); rewriting history does not un-leak a pushed file"))
		}
	}
	return out
}

// dotenvNames returns the distinct .env files of git's output, leaving out
// templates meant to be committed.
func dotenvNames(s string) []string {
	var out []string
	for _, f := range strings.Split(s, "\n") {
		f = strings.TrimSpace(f)
		if f == "" || slices.Contains(out, f) {
			continue
		}
		base := filepath.Base(f)
		if strings.HasSuffix(base, ".example") || strings.HasSuffix(base, ".sample") || strings.HasSuffix(base, ".template") {
			continue
		}
		out = append(out, f)
	}
	return out
}

// isLoopback reports whether host (a name or an address) is this machine
// only.
func isLoopback(host string) bool {
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// plainHTTP fails when credentials would cross a network unencrypted:
// mcpgate serves plain HTTP, so beyond loopback a TLS proxy must be in
// front, and the public URL must say https.
func (d *doctorEnv) plainHTTP() []diagnosis {
	u, err := url.Parse(d.g.PublicURL)
	if err != nil || u.Scheme != "http" {
		return nil
	}
	var out []diagnosis
	if !isLoopback(u.Hostname()) {
		out = append(out, fail(fmt.Sprintf("the public URL %s is plain HTTP on a non-loopback host: keys and tokens cross the network in clear", d.g.PublicURL),
			"terminate TLS in front of mcpgate (a reverse proxy or load balancer) and set --public-url https://…"))
	}
	host, _, err := net.SplitHostPort(d.g.Listen)
	if err == nil && !isLoopback(host) {
		out = append(out, fail(fmt.Sprintf("mcpgate listens on %s, reachable from other machines, with a plain HTTP public URL", d.g.Listen),
			"listen on 127.0.0.1 behind a TLS proxy, or keep the listener and set --public-url to the proxy's https:// URL"))
	}
	return out
}

// publicURLMatches fails when the public URL cannot reach the listener:
// clients are told (in metadata, WWW-Authenticate and token audiences) to
// use a URL where mcpgate is not. Behind an https proxy it cannot know the
// proxy's address and checks only the scheme.
func (d *doctorEnv) publicURLMatches() []diagnosis {
	u, err := url.Parse(d.g.PublicURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return []diagnosis{fail(fmt.Sprintf("the public URL %q is not an absolute http or https URL", d.g.PublicURL),
			"set --public-url to the URL clients use, e.g. https://mcp.example.com/mcp")}
	}
	if u.Scheme == "https" {
		return nil
	}
	lhost, lport, err := net.SplitHostPort(d.g.Listen)
	if err != nil {
		return []diagnosis{fail(fmt.Sprintf("--listen %q is not HOST:PORT", d.g.Listen), "set --listen to an address such as 127.0.0.1:8080")}
	}
	pport := u.Port()
	if pport == "" {
		pport = "80"
	}
	if lport == "0" {
		return nil // a port picked at start; serve fixes the default URL
	}
	unspecified := lhost == "" || net.ParseIP(lhost) != nil && net.ParseIP(lhost).IsUnspecified()
	sameHost := strings.EqualFold(lhost, u.Hostname()) || unspecified || isLoopback(lhost) && isLoopback(u.Hostname())
	if pport != lport || !sameHost {
		return []diagnosis{fail(fmt.Sprintf("the public URL %s is plain HTTP at %s:%s, but mcpgate listens on %s: clients would be sent elsewhere", d.g.PublicURL, u.Hostname(), pport, d.g.Listen),
			"make --public-url the URL clients reach this listener at (https:// behind a proxy), or fix --listen")}
	}
	return nil
}

// dataPermissions fails when other users of the machine can read the
// SQLite store: it holds key digests, OAuth grants and the encrypted
// signing keys.
func (d *doctorEnv) dataPermissions() []diagnosis {
	if d.g.Store != "" {
		return nil
	}
	var out []diagnosis
	check := func(path, fix string) {
		fi, err := os.Stat(path)
		if err != nil {
			return
		}
		if m := fi.Mode().Perm(); m&0o007 != 0 {
			out = append(out, fail(fmt.Sprintf("%s is open to other users (mode %s)", path, m), fix))
		}
	}
	check(d.g.Data, "chmod 700 "+d.g.Data)
	db := filepath.Join(d.g.Data, sqlite.FileName)
	for _, p := range []string{db, db + "-wal", db + "-shm"} {
		check(p, "chmod 600 "+db+"*")
	}
	return out
}

// openRegistration warns when anyone may register OAuth clients: each
// address is limited to a few registrations a minute, but nothing bounds
// who registers or how many clients accumulate.
func (d *doctorEnv) openRegistration() []diagnosis {
	c := &d.c.Serve
	if !c.OAuth || c.NoRegistration || c.RegistrationToken != "" {
		return nil
	}
	return []diagnosis{warn("dynamic client registration is open to anyone, limited only per address",
		"if your clients register themselves (Cursor, the MCP Inspector and most MCP clients can only register dynamically), keep it open: a --registration-token would lock them out, and the per-address limit bounds what one address registers; require one (--registration-token env:NAME) only for clients you configure with it, and turn registration off (--no-registration) only when every client uses a client metadata document or a pre-registered id")}
}

// rateLimits warns when a principal or a guessing client is unlimited.
func (d *doctorEnv) rateLimits() []diagnosis {
	c := &d.c.Serve
	def := c.RateLimit
	if def == "" && d.g.file.RateLimits != nil {
		def = d.g.file.RateLimits.Default
	}
	var out []diagnosis
	if strings.EqualFold(strings.TrimSpace(def), "off") {
		out = append(out, warn("rate limits are off: one client, or one leaked key, can use all of the upstreams' capacity",
			"set a limit per principal, e.g. --rate-limit 600/1m (the default), with rules for costly tools in the config file"))
	}
	if strings.EqualFold(strings.TrimSpace(c.AuthFailureLimit), "off") {
		out = append(out, warn("failed authentications are not limited per address: guessing is limited only by bandwidth",
			"keep --auth-failure-limit on (default 60/1m burst 30)"))
	}
	return out
}

// introspectionMinCache is the shortest cache of introspected tokens that
// still spares the identity provider a call on almost every request.
const introspectionMinCache = 10 * time.Second

// introspectionCache warns when opaque tokens are introspected on nearly
// every request: the identity provider's latency and outages become
// mcpgate's.
func (d *doctorEnv) introspectionCache() []diagnosis {
	in := d.g.file.Introspection
	if d.c.Serve.IntrospectionURL == "" && (in == nil || in.URL == "") {
		return nil
	}
	if in == nil || in.CacheTTL <= 0 || time.Duration(in.CacheTTL) >= introspectionMinCache {
		return nil // 0 is the default cache of a minute
	}
	return []diagnosis{warn(fmt.Sprintf("introspection.cache_ttl is %s: nearly every request waits for the identity provider", in.CacheTTL),
		"cache introspected tokens for at least 10s (default 1m); a revoked token then works at most that long")}
}

// liveKeys lists the keys that still authenticate, or nil when there is
// no store to read (a SQLite data directory not created yet).
func (d *doctorEnv) liveKeys() ([]keyView, []diagnosis) {
	g := *d.g
	if g.Store == "" {
		if _, err := os.Stat(filepath.Join(g.Data, sqlite.FileName)); err != nil {
			return nil, nil
		}
	} else if isReference(g.Store) {
		v, err := secret.Resolve(g.Store)
		if err != nil {
			return nil, []diagnosis{fail("--store: "+err.Error(), "set the variable or file the reference names")}
		}
		g.Store = v
	}
	store, err := g.openStore(d.e)
	if err != nil {
		return nil, []diagnosis{fail("cannot open the store to check its keys: "+err.Error(), "check --data or --store")}
	}
	defer store.Close()
	keys, err := store.ListKeys(d.e.ctx)
	if err != nil {
		return nil, []diagnosis{fail("cannot list keys: "+err.Error(), "check the store")}
	}
	var live []keyView
	for _, k := range keys {
		if v := viewKey(k, d.now); v.Status == "active" || v.Status == "rotating" {
			live = append(live, v)
		}
	}
	return live, nil
}

func (d *doctorEnv) keyAge() []diagnosis {
	live, problems := d.liveKeys()
	var old []string
	for _, v := range live {
		if v.RotationDue {
			old = append(old, v.ID)
		}
	}
	if len(old) > 0 {
		problems = append(problems, warn(fmt.Sprintf("%d key(s) older than 90 days: %s", len(old), strings.Join(old, ", ")),
			"rotate each with `mcpgate keys rotate KEYID --grace 24h` and update its client within the grace period"))
	}
	return problems
}

func (d *doctorEnv) keyExpiry() []diagnosis {
	live, _ := d.liveKeys() // keyAge reported a store that cannot be read
	var never []string
	for _, v := range live {
		if v.Expires == nil {
			never = append(never, v.ID)
		}
	}
	if len(never) == 0 {
		return nil
	}
	return []diagnosis{warn(fmt.Sprintf("%d key(s) never expire: %s", len(never), strings.Join(never, ", ")),
		"rotate them into keys with a lifetime (`mcpgate keys create --expires 90d`), so a forgotten key stops working on its own")}
}
