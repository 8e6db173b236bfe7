package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/term"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/federation"
	"github.com/mcpgate/mcpgate/login"
)

// UsersCmd manages local login users of the embedded authorization server,
// and people who sign in at an identity provider (a federated subject,
// oidc:…, as disable, enable and remove take it).
type UsersCmd struct {
	Add     UsersAddCmd     `cmd:"" help:"Add a user; the password is read from standard input."`
	List    UsersListCmd    `cmd:"" help:"List users."`
	Passwd  UsersPasswdCmd  `cmd:"" help:"Set a user's password (read from standard input) and sign them out."`
	Disable UsersDisableCmd `cmd:"" help:"Stop a user or federated subject (oidc:…) signing in, sign them out, and disconnect every app they approved."`
	Enable  UsersEnableCmd  `cmd:"" help:"Let a disabled user or federated subject sign in again."`
	Remove  UsersRemoveCmd  `cmd:"" help:"Remove a user, or what is kept of a federated subject, sign them out, and disconnect every app they approved."`
}

// UsersAddCmd adds a local user.
type UsersAddCmd struct {
	Name     string   `arg:"" help:"User name (also the subject of tokens issued to the user)."`
	Tenant   string   `help:"Tenant of the user."`
	Scope    []string `predictor:"scope" help:"Scopes the user may grant to apps; repeat for several (default: any)." placeholder:"SCOPE"`
	Upstream string   `help:"Print the URL of this fronted MCP server (its name in the server's config) instead of the server's --public-url." placeholder:"NAME"`
}

// Run reads the password and stores the user with an argon2id hash.
func (c *UsersAddCmd) Run(e *env, g *Globals) error {
	if err := g.checkScopes("--scope", c.Scope); err != nil {
		return err
	}
	pw, err := readPassword(e)
	if err != nil {
		return err
	}
	u, err := login.NewUser(c.Name, c.Tenant, pw, c.Scope, time.Now().UTC())
	if err != nil {
		return usageError{err}
	}
	store, err := g.openStore(e)
	if err != nil {
		return err
	}
	defer store.Close()
	users, ok := store.(mcpgate.UserStore)
	if !ok {
		return errors.New("this store does not keep users")
	}
	if err := g.useServerURL(e, store, c.Upstream); err != nil {
		return err
	}
	if err := users.CreateUser(e.ctx, u); err != nil {
		if errors.Is(err, mcpgate.ErrConflict) {
			return fmt.Errorf("user %q already exists", c.Name)
		}
		return err
	}
	fmt.Fprintf(e.stdout, "Added user %s. They sign in at %s/login when an app connects to %s.\n", u.Name, originOf(g.PublicURL), g.PublicURL)
	return nil
}

// readPassword prompts without echo on a terminal, and otherwise reads the
// first line of standard input (for scripts: printf '%s\n' "$PW" | …).
func readPassword(e *env) (string, error) {
	if f, ok := e.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(e.stderr, "Password: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(e.stderr)
		if err != nil {
			return "", err
		}
		fmt.Fprint(e.stderr, "Again: ")
		again, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(e.stderr)
		if err != nil {
			return "", err
		}
		if string(b) != string(again) {
			return "", usagef("the passwords differ")
		}
		return string(b), nil
	}
	pw, err := login.ReadPassword(e.stdin)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return "", usagef("no password on standard input")
		}
		return "", usageError{err}
	}
	return pw, nil
}

func originOf(publicURL string) string {
	if i := strings.Index(publicURL, "://"); i >= 0 {
		if j := strings.IndexByte(publicURL[i+3:], '/'); j >= 0 {
			return publicURL[:i+3+j]
		}
	}
	return publicURL
}

// UsersListCmd lists users.
type UsersListCmd struct {
	JSON bool `help:"Print JSON."`
}

// userView is one user as `users list` shows it, never with its password
// hash.
type userView struct {
	Name     string     `json:"name"`
	Tenant   string     `json:"tenant,omitempty"`
	Scopes   []string   `json:"scopes"` // empty: any
	Created  time.Time  `json:"created"`
	Disabled *time.Time `json:"disabled,omitempty"`
	Status   string     `json:"status"`
	// Federated marks a person who signs in at an identity provider,
	// listed only while disabled.
	Federated bool `json:"federated,omitempty"`
}

// Run prints users, never their password hashes.
func (c *UsersListCmd) Run(e *env, g *Globals) error {
	users, store, err := g.userStore(e)
	if err != nil {
		return err
	}
	defer store.Close()
	list, err := users.ListUsers(e.ctx)
	if err != nil {
		return err
	}
	now := time.Now()
	views := make([]userView, 0, len(list))
	for _, u := range list {
		v := userView{Name: u.Name, Tenant: u.Tenant, Scopes: u.Scopes, Created: u.CreatedAt, Disabled: timePtr(u.DisabledAt), Status: "active"}
		if v.Scopes == nil {
			v.Scopes = []string{}
		}
		v.Federated = federation.IsFederated(u.Name)
		if !u.DisabledAt.IsZero() && !now.Before(u.DisabledAt) {
			v.Status = "disabled"
		}
		views = append(views, v)
	}
	if c.JSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(views)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tTENANT\tSCOPES\tCREATED\tSTATUS")
	for _, v := range views {
		scopes := strings.Join(v.Scopes, " ")
		switch {
		case v.Federated:
			scopes = "(signs in at an identity provider)"
		case scopes == "":
			scopes = "(any)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", v.Name, dash(v.Tenant), scopes, day(&v.Created), v.Status)
	}
	return tw.Flush()
}

// userStore opens the store for changing users.
func (g *Globals) userStore(e *env) (mcpgate.UserAdminStore, mcpgate.Store, error) {
	store, err := g.openStore(e)
	if err != nil {
		return nil, nil, err
	}
	users, ok := store.(mcpgate.UserAdminStore)
	if !ok {
		store.Close()
		return nil, nil, errors.New("this store does not keep users")
	}
	return users, store, nil
}

// userNotFound turns a store's ErrNotFound for a user into a message naming
// the user.
func userNotFound(name string, err error) error {
	if errors.Is(err, mcpgate.ErrNotFound) {
		return fmt.Errorf("no user %q (see mcpgate users list)", name)
	}
	return err
}

// endGrants revokes every app approval of the user, which ends the apps'
// access and refresh tokens at once on every running server, and returns
// how many there were.
func endGrants(e *env, store mcpgate.Store, name string) (int, error) {
	grants, ok := store.(mcpgate.GrantStore)
	if !ok {
		return 0, nil
	}
	list, err := grants.ListGrants(e.ctx, name)
	if err != nil {
		return 0, err
	}
	now := time.Now().UTC()
	for _, gr := range list {
		if err := grants.RevokeGrant(e.ctx, name, gr.ID, now); err != nil && !errors.Is(err, mcpgate.ErrNotFound) {
			return 0, fmt.Errorf("revoke app %s of %s: %w", gr.ClientID, name, err)
		}
	}
	return len(list), nil
}

// endSessions signs the user out of the login pages on every replica,
// however they signed in, and returns how many sessions ended.
func endSessions(e *env, store mcpgate.Store, name string) (int, error) {
	sessions, ok := store.(mcpgate.SigninSessionStore)
	if !ok {
		return 0, nil
	}
	n, err := sessions.DeleteSubjectSigninSessions(e.ctx, name)
	if err != nil {
		return 0, fmt.Errorf("sign %s out: %w", name, err)
	}
	return n, nil
}

// endIdPTokens deletes the tokens an identity provider issued for the
// federated subject, reporting whether there were any.
func endIdPTokens(e *env, store mcpgate.Store, name string) (bool, error) {
	tokens, ok := store.(mcpgate.IdPTokenStore)
	if !ok {
		return false, nil
	}
	err := tokens.DeleteIdPTokens(e.ctx, name)
	if errors.Is(err, mcpgate.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("delete the identity provider tokens of %s: %w", name, err)
	}
	return true, nil
}

// ended is what disconnecting a federated subject ended.
type ended struct {
	sessions, apps int
	tokens         bool
}

func (n ended) String() string {
	s := fmt.Sprintf("ended %d sign-in session(s), disconnected %d app(s) they approved", n.sessions, n.apps)
	if n.tokens {
		s += ", deleted their identity provider tokens"
	}
	return s
}

// disconnectFederated ends the sign-in sessions, app approvals and kept
// provider tokens of a federated subject.
func disconnectFederated(e *env, store mcpgate.Store, name string) (ended, error) {
	var n ended
	var err error
	if n.sessions, err = endSessions(e, store, name); err != nil {
		return n, err
	}
	if n.apps, err = endGrants(e, store, name); err != nil {
		return n, err
	}
	n.tokens, err = endIdPTokens(e, store, name)
	return n, err
}

// federatedDisabled reports whether the federated subject name is marked
// disabled (login.DisabledFederatedUser).
func federatedDisabled(e *env, users mcpgate.UserAdminStore, name string) (bool, error) {
	u, err := users.User(e.ctx, name)
	if errors.Is(err, mcpgate.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return !u.DisabledAt.IsZero() && !time.Now().Before(u.DisabledAt), nil
}

// disableFederated marks the federated subject name disabled, so that no
// replica lets it sign in or approve again, then ends what it has.
func disableFederated(e *env, users mcpgate.UserAdminStore, store mcpgate.Store, name string) (ended, error) {
	now := time.Now().UTC()
	err := users.CreateUser(e.ctx, login.DisabledFederatedUser(name, now))
	if errors.Is(err, mcpgate.ErrConflict) {
		var off bool
		if off, err = federatedDisabled(e, users, name); err == nil && !off {
			err = users.SetUserDisabled(e.ctx, name, now)
		}
	}
	if err != nil {
		return ended{}, fmt.Errorf("disable %s: %w", name, err)
	}
	return disconnectFederated(e, store, name)
}

// providerOf names the provider a federated subject signs in at, as the
// config file's login_providers name it.
func providerOf(g *Globals, subject string) string {
	if g.file != nil {
		for _, pc := range g.file.LoginProviders {
			if strings.HasPrefix(subject, federation.Subject(pc.Issuer, "")) {
				if pc.Name != "" {
					return pc.Name
				}
				return pc.Issuer
			}
		}
	}
	return "an identity provider"
}

// noteKeys points out the API keys that act as the user, which a user
// change leaves alone: they are credentials of their own.
func noteKeys(e *env, store mcpgate.Store, name string) {
	keys, err := store.ListKeys(e.ctx)
	if err != nil {
		return
	}
	now := time.Now()
	for _, k := range keys {
		if k.Subject == name && viewKey(k, now).Status != "revoked" && viewKey(k, now).Status != "expired" {
			fmt.Fprintf(e.stdout, "API key %s (%s) acts as %s and still works: mcpgate keys revoke %s\n", k.ID, k.Name, name, k.ID)
		}
	}
}

// UsersPasswdCmd sets a user's password.
type UsersPasswdCmd struct {
	Name       string `arg:"" help:"User name."`
	RevokeApps bool   `help:"Also disconnect every app the user approved (when the old password may have leaked)."`
}

// Run reads the new password and stores its hash, and signs the user out
// of the login pages everywhere, so whoever knew the old password must
// sign in with the new one. Apps the user approved keep working unless
// --revoke-apps.
func (c *UsersPasswdCmd) Run(e *env, g *Globals) error {
	if federation.IsFederated(c.Name) {
		return usagef("%s signs in at %s; there is no password to set", c.Name, providerOf(g, c.Name))
	}
	pw, err := readPassword(e)
	if err != nil {
		return err
	}
	// NewUser checks the password as users add does and hashes it.
	u, err := login.NewUser(c.Name, "", pw, nil, time.Now().UTC())
	if err != nil {
		return usageError{err}
	}
	users, store, err := g.userStore(e)
	if err != nil {
		return err
	}
	defer store.Close()
	if err := users.SetUserPassword(e.ctx, c.Name, u.PasswordHash); err != nil {
		return userNotFound(c.Name, err)
	}
	signedOut, err := endSessions(e, store, c.Name)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "Set the password of %s; ended %d sign-in session(s).\n", c.Name, signedOut)
	if !c.RevokeApps {
		return nil
	}
	n, err := endGrants(e, store, c.Name)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "Disconnected %d app(s) %s had approved; running servers refuse their tokens within a second.\n", n, c.Name)
	return nil
}

// UsersDisableCmd disables a user.
type UsersDisableCmd struct {
	Name string `arg:"" help:"User name."`
}

// Run disables the user and ends every app approval the user gave.
func (c *UsersDisableCmd) Run(e *env, g *Globals) error {
	users, store, err := g.userStore(e)
	if err != nil {
		return err
	}
	defer store.Close()
	if federation.IsFederated(c.Name) {
		n, err := disableFederated(e, users, store, c.Name)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "Disabled %s: they cannot sign in with %s here or approve apps; %s.\n", c.Name, providerOf(g, c.Name), n)
		noteKeys(e, store, c.Name)
		return nil
	}
	n, err := disableAndDisconnect(e, users, store, c.Name)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "Disabled %s: they cannot sign in or approve apps; %d app(s) they approved are disconnected.\n", c.Name, n)
	noteKeys(e, store, c.Name)
	return nil
}

// disableAndDisconnect disables user name, ends its sign-in sessions and
// every app approval it gave, returning how many approvals.
func disableAndDisconnect(e *env, users mcpgate.UserAdminStore, store mcpgate.Store, name string) (int, error) {
	if err := users.SetUserDisabled(e.ctx, name, time.Now().UTC()); err != nil {
		return 0, userNotFound(name, err)
	}
	if _, err := endSessions(e, store, name); err != nil {
		return 0, err
	}
	return endGrants(e, store, name)
}

// UsersEnableCmd enables a user again.
type UsersEnableCmd struct {
	Name string `arg:"" help:"User name."`
}

// Run enables the user. Apps disconnected when the user was disabled stay
// disconnected: the user approves them again.
func (c *UsersEnableCmd) Run(e *env, g *Globals) error {
	users, store, err := g.userStore(e)
	if err != nil {
		return err
	}
	defer store.Close()
	if federation.IsFederated(c.Name) {
		// Enabled is no row at all: the mark goes.
		err := users.DeleteUser(e.ctx, c.Name)
		if errors.Is(err, mcpgate.ErrNotFound) {
			fmt.Fprintf(e.stdout, "%s is not disabled.\n", c.Name)
			return nil
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "Enabled %s: they can sign in with %s again and reconnect their apps.\n", c.Name, providerOf(g, c.Name))
		return nil
	}
	if err := users.SetUserDisabled(e.ctx, c.Name, time.Time{}); err != nil {
		return userNotFound(c.Name, err)
	}
	fmt.Fprintf(e.stdout, "Enabled %s: they can sign in again and reconnect their apps.\n", c.Name)
	return nil
}

// UsersRemoveCmd removes a user.
type UsersRemoveCmd struct {
	Name string `arg:"" help:"User name."`
}

// Run removes the user and ends every app approval the user gave.
func (c *UsersRemoveCmd) Run(e *env, g *Globals) error {
	users, store, err := g.userStore(e)
	if err != nil {
		return err
	}
	defer store.Close()
	if federation.IsFederated(c.Name) {
		return removeFederated(e, g, users, store, c.Name)
	}
	// Disabled first, so that nothing approved between the two steps
	// outlives the removal.
	n, err := disableAndDisconnect(e, users, store, c.Name)
	if err != nil {
		return err
	}
	if err := users.DeleteUser(e.ctx, c.Name); err != nil {
		return userNotFound(c.Name, err)
	}
	fmt.Fprintf(e.stdout, "Removed %s; %d app(s) they approved are disconnected.\n", c.Name, n)
	noteKeys(e, store, c.Name)
	return nil
}

// removeFederated forgets what is kept of the federated subject name: its
// sign-in sessions, app approvals and provider tokens. The provider still
// vouches for the person, who may sign in again; a disabled subject stays
// disabled, so removal never lets someone back in.
func removeFederated(e *env, g *Globals, users mcpgate.UserAdminStore, store mcpgate.Store, name string) error {
	off, err := federatedDisabled(e, users, name)
	if err != nil {
		return err
	}
	n, err := disconnectFederated(e, store, name)
	if err != nil {
		return err
	}
	if !off && n.sessions == 0 && n.apps == 0 && !n.tokens {
		return fmt.Errorf("nothing is kept of %q: no sign-in session, app approval or identity provider token", name)
	}
	fmt.Fprintf(e.stdout, "Removed %s: %s.\n", name, n)
	if off {
		fmt.Fprintf(e.stdout, "%s stays disabled: mcpgate users enable %s lets them sign in again.\n", name, name)
	} else {
		fmt.Fprintf(e.stdout, "They can sign in again with %s; to keep them out: mcpgate users disable %s\n", providerOf(g, name), name)
	}
	noteKeys(e, store, name)
	return nil
}
