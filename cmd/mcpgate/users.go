package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/term"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/authz"
	"github.com/mcpgate/mcpgate/login"
)

// UsersCmd manages local login users of the embedded authorization server.
type UsersCmd struct {
	Add  UsersAddCmd  `cmd:"" help:"Add a user; the password is read from standard input."`
	List UsersListCmd `cmd:"" help:"List users."`
}

// UsersAddCmd adds a local user.
type UsersAddCmd struct {
	Name   string   `arg:"" help:"User name (also the subject of tokens issued to the user)."`
	Tenant string   `help:"Tenant of the user."`
	Scope  []string `help:"Scopes the user may grant to apps; repeat for several (default: any)." placeholder:"SCOPE"`
}

// Run reads the password and stores the user with an argon2id hash.
func (c *UsersAddCmd) Run(e *env, g *Globals) error {
	for _, s := range c.Scope {
		if !authz.ValidScope(s) {
			return usagef("--scope %q is not a valid OAuth scope token", s)
		}
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
	if err := users.CreateUser(e.ctx, u); err != nil {
		if errors.Is(err, mcpgate.ErrConflict) {
			return fmt.Errorf("user %q already exists", c.Name)
		}
		return err
	}
	fmt.Fprintf(e.stdout, "Added user %s. They sign in at %s/login when an app connects.\n", u.Name, originOf(g.PublicURL))
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
type UsersListCmd struct{}

// Run prints users, never their password hashes.
func (c *UsersListCmd) Run(e *env, g *Globals) error {
	store, err := g.openStore(e)
	if err != nil {
		return err
	}
	defer store.Close()
	users, ok := store.(mcpgate.UserStore)
	if !ok {
		return errors.New("this store does not keep users")
	}
	list, err := users.ListUsers(e.ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tTENANT\tSCOPES\tCREATED")
	for _, u := range list {
		scopes := strings.Join(u.Scopes, " ")
		if scopes == "" {
			scopes = "(any)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", u.Name, dash(u.Tenant), scopes, u.CreatedAt.Local().Format("2006-01-02 15:04"))
	}
	return tw.Flush()
}
