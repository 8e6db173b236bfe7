package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/oauth"
)

// ClientsCmd manages OAuth clients of the embedded authorization server.
type ClientsCmd struct {
	Add    ClientsAddCmd    `cmd:"" help:"Register a client (prints its secret once if confidential)."`
	List   ClientsListCmd   `cmd:"" help:"List clients."`
	Revoke ClientsRevokeCmd `cmd:"" help:"Revoke a client and every grant and token issued to it."`
}

// authServer opens the store and the authorization server on it, with the
// key that encrypts its signing keys.
func (g *Globals) authServer(e *env) (*oauth.Server, mcpgate.Store, error) {
	store, err := g.openStore(e)
	if err != nil {
		return nil, nil, err
	}
	os, ok := store.(mcpgate.OAuthStore)
	if !ok {
		store.Close()
		return nil, nil, errors.New("this store does not support OAuth")
	}
	kek, previous, err := g.encryptionKeys()
	if err != nil {
		store.Close()
		return nil, nil, err
	}
	// Clients may be limited to the scopes of any endpoint: the built-in
	// server's and those of the upstream policies.
	srv, err := oauth.New(os, &oauth.Options{Resource: g.PublicURL, ScopesSupported: g.knownScopes(),
		KeyEncryptionKey: kek, PreviousKeyEncryptionKey: previous})
	if err != nil {
		store.Close()
		return nil, nil, g.keyDecryptionError(err)
	}
	return srv, store, nil
}

// ClientsAddCmd registers a client.
type ClientsAddCmd struct {
	Name          string   `help:"Client name shown on the consent page." required:""`
	RedirectURI   []string `name:"redirect-uri" help:"Exact redirect URI (https, or http on a loopback host); repeat for several." placeholder:"URI"`
	Confidential  bool     `help:"Issue a client secret (for server-side apps)."`
	Machine       bool     `help:"A machine client using the client_credentials grant (implies --confidential)."`
	Introspection bool     `help:"A resource server that may introspect tokens issued to other clients (implies --confidential; without --redirect-uri or --machine it gets no grant)."`
	Scope         []string `predictor:"scope" help:"Scopes the client may request (default: any)." placeholder:"SCOPE"`
	Subject       string   `help:"Subject of a machine client's tokens (default: the client id)."`
	Tenant        string   `help:"Tenant of a machine client."`
	Upstream      string   `help:"Print the URL of this fronted MCP server (its name in the server's config) instead of the server's --public-url." placeholder:"NAME"`
}

// Run registers the client.
func (c *ClientsAddCmd) Run(e *env, g *Globals) error {
	if err := g.checkScopes("--scope", c.Scope); err != nil {
		return err
	}
	if !c.Machine && !c.Introspection && len(c.RedirectURI) == 0 {
		return usagef("--redirect-uri is required (or --machine for client_credentials, --introspection for a resource server)")
	}
	nc := oauth.NewClient{Name: c.Name, RedirectURIs: c.RedirectURI, Confidential: c.Confidential || c.Machine || c.Introspection,
		Scopes: c.Scope, Subject: c.Subject, Tenant: c.Tenant, Source: oauth.SourceCLI, Introspection: c.Introspection}
	if c.Machine {
		nc.GrantTypes = []string{oauth.GrantClientCredentials}
	}
	srv, store, err := g.authServer(e)
	if err != nil {
		return err
	}
	defer store.Close()
	if err := g.useServerURL(e, store, c.Upstream); err != nil {
		return err
	}
	cl, secret, err := srv.AddClient(e.ctx, nc)
	if err != nil {
		return usageError{err}
	}
	fmt.Fprintf(e.stdout, "Registered client %s (%s) of the authorization server at %s, for %s.\n", cl.ID, cl.Name, originOf(g.PublicURL), g.PublicURL)
	if secret != "" {
		fmt.Fprintf(e.stdout, "\nClient secret, shown only this once:\n\n  %s\n", secret)
	}
	if c.Machine {
		printTokenRequest(e, g, cl.ID, c.Scope)
	}
	return nil
}

// printTokenRequest prints a curl command that gets an access token with
// the client_credentials grant. The secret is read at a prompt, not typed
// on the command line, so it stays out of the shell's history.
func printTokenRequest(e *env, g *Globals, clientID string, scopes []string) {
	scope := ""
	if len(scopes) > 0 {
		scope = fmt.Sprintf(" \\\n    -d scope=%s", shellWord(strings.Join(scopes, " ")))
	}
	fmt.Fprintf(e.stdout, "\nGet an access token (paste the secret at the prompt):\n\n"+
		"  read -rs -p 'client secret: ' MCPGATE_CLIENT_SECRET && echo &&\n"+
		"  curl -sS -u %s -d grant_type=client_credentials%s \\\n    --data-urlencode resource=%s %s\n",
		shellWord(clientID+":")+`"$MCPGATE_CLIENT_SECRET"`, scope, shellWord(g.PublicURL), shellWord(originOf(g.PublicURL)+"/token"))
}

// shellWord quotes s for a POSIX shell when it needs quoting.
func shellWord(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_.:/@%+=,", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// ClientsListCmd lists clients.
type ClientsListCmd struct {
	JSON bool `help:"Print JSON."`
}

// Run prints clients, never secrets.
func (c *ClientsListCmd) Run(e *env, g *Globals) error {
	srv, store, err := g.authServer(e)
	if err != nil {
		return err
	}
	defer store.Close()
	list, err := srv.ListClients(e.ctx)
	if err != nil {
		return err
	}
	type view struct {
		ID            string   `json:"id"`
		Name          string   `json:"name"`
		Source        string   `json:"source"`
		RedirectURIs  []string `json:"redirect_uris"`
		GrantTypes    []string `json:"grant_types"`
		Confidential  bool     `json:"confidential"`
		Introspection bool     `json:"introspection"`
		Revoked       bool     `json:"revoked"`
	}
	views := make([]view, 0, len(list))
	for _, cl := range list {
		views = append(views, view{cl.ID, cl.Name, cl.Source, cl.RedirectURIs, cl.GrantTypes, cl.SecretHash != nil, cl.Introspection, !cl.RevokedAt.IsZero()})
	}
	if c.JSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(views)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tSOURCE\tREDIRECT URIS\tSTATUS")
	for _, v := range views {
		status := "active"
		if v.Revoked {
			status = "revoked"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", v.ID, v.Name, v.Source, strings.Join(v.RedirectURIs, " "), status)
	}
	return tw.Flush()
}

// ClientsRevokeCmd revokes a client.
type ClientsRevokeCmd struct {
	ClientID string `arg:"" name:"client-id" help:"Client id."`
}

// Run revokes the client; running servers refuse its tokens within a second.
func (c *ClientsRevokeCmd) Run(e *env, g *Globals) error {
	srv, store, err := g.authServer(e)
	if err != nil {
		return err
	}
	defer store.Close()
	if err := srv.RevokeClient(e.ctx, c.ClientID); err != nil {
		if errors.Is(err, mcpgate.ErrNotFound) {
			return fmt.Errorf("no client with id %q", c.ClientID)
		}
		return err
	}
	fmt.Fprintf(e.stdout, "Revoked client %s and every token issued to it.\n", c.ClientID)
	return nil
}
