package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/apikey"
	"github.com/mcpgate/mcpgate/clientconfig"
	"github.com/mcpgate/mcpgate/demo"
)

// rotationAge is when `keys list` flags a key as due for rotation.
const rotationAge = 90 * 24 * time.Hour

// KeysCmd groups the API key commands.
type KeysCmd struct {
	Create KeysCreateCmd `cmd:"" help:"Create a key and print it once."`
	List   KeysListCmd   `cmd:"" help:"List keys (never their secrets)."`
	Revoke KeysRevokeCmd `cmd:"" help:"Revoke a key; a running server refuses it within a second."`
	Rotate KeysRotateCmd `cmd:"" help:"Issue a successor key; the old one works until the grace period ends."`
}

// KeysCreateCmd creates an API key.
type KeysCreateCmd struct {
	Name     string   `help:"Name of the key (who or what uses it)." required:""`
	Subject  string   `help:"Owner of the key: the principal its requests act as (default: the name)."`
	Tenant   string   `help:"Tenant of the owner."`
	Scope    []string `predictor:"scope" help:"Scope to grant; repeat for several (default: every scope of the built-in server)." placeholder:"SCOPE"`
	Expires  string   `help:"Lifetime, e.g. 90d, 12h, 2w; 'never' for none." default:"never"`
	Upstream string   `help:"Print the URL of this fronted MCP server (its name in the server's config) in the client snippets, instead of the server's --public-url." placeholder:"NAME"`
	JSON     bool     `help:"Print {\"id\",\"key\",\"name\",\"subject\",\"scopes\",\"expires\",\"url\"} for scripts instead of the text and client snippets."`
}

// Run creates the key and prints it with client configuration snippets.
func (c *KeysCreateCmd) Run(e *env, g *Globals) error {
	life, err := parseLifetime(c.Expires)
	if err != nil {
		return usagef("--expires: %v", err)
	}
	scopes := c.Scope
	if len(scopes) == 0 {
		scopes = demo.Scopes()
	}
	if err := g.checkScopes("--scope", scopes); err != nil {
		return err
	}
	if strings.TrimSpace(c.Name) == "" {
		return usagef("--name must not be empty")
	}
	subject := c.Subject
	if subject == "" {
		subject = c.Name
	}
	store, err := g.openStore(e)
	if err != nil {
		return err
	}
	defer store.Close()
	if err := g.useServerURL(e, store, c.Upstream); err != nil {
		return err
	}

	key, k, err := newKey(c.Name, subject, c.Tenant, scopes, life)
	if err != nil {
		return err
	}
	if err := store.CreateKey(e.ctx, k); err != nil {
		return fmt.Errorf("store key: %w", err)
	}
	if c.JSON {
		return printKeyJSON(e, key, k, g.PublicURL)
	}
	printNewKey(e, g, key, k)
	return nil
}

// printKeyJSON prints a new key for scripts; expires is null for a key
// that never expires, and url is the MCP endpoint the key is for.
func printKeyJSON(e *env, key string, k *mcpgate.APIKey, url string) error {
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(struct {
		ID      string     `json:"id"`
		Key     string     `json:"key"`
		Name    string     `json:"name"`
		Subject string     `json:"subject"`
		Scopes  []string   `json:"scopes"`
		Expires *time.Time `json:"expires"`
		URL     string     `json:"url"`
	}{k.ID, key, k.Name, k.Subject, k.Scopes, timePtr(k.ExpiresAt), url})
}

func newKey(name, subject, tenant string, scopes []string, life time.Duration) (string, *mcpgate.APIKey, error) {
	key, id, hash, err := apikey.Generate()
	if err != nil {
		return "", nil, err
	}
	now := time.Now().UTC()
	k := &mcpgate.APIKey{ID: id, Name: name, Subject: subject, Tenant: tenant, Scopes: slices.Clone(scopes), Hash: hash, CreatedAt: now}
	if life > 0 {
		k.ExpiresAt = now.Add(life)
	}
	return key, k, nil
}

func printNewKey(e *env, g *Globals, key string, k *mcpgate.APIKey) {
	w := e.stdout
	fmt.Fprintf(w, "Created key %s (%s) for %s with scopes: %s\n", k.ID, k.Name, k.Subject, strings.Join(k.Scopes, " "))
	if !k.ExpiresAt.IsZero() {
		fmt.Fprintf(w, "Expires: %s\n", k.ExpiresAt.Format(time.RFC3339))
	}
	fmt.Fprintf(w, "\nThe key is shown only this once. Store it in a password manager:\n\n  %s\n\n", key)
	_ = clientconfig.Write(w, clientconfig.Options{URL: g.PublicURL, APIKey: true, Key: key})
}

// parseLifetime reads a duration (90d, 2w, 12h: see parseDuration);
// "never" or "0" mean no expiry.
func parseLifetime(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "never" || s == "0" {
		return 0, nil
	}
	d, err := parseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%q is not a lifetime like 90d, 2w or 12h, or never", s)
	}
	return d, nil
}

// KeysListCmd lists keys.
type KeysListCmd struct {
	JSON bool `help:"Print JSON."`
}

type keyView struct {
	ID          string     `json:"id"`
	Name        string     `json:"name"`
	Subject     string     `json:"subject"`
	Tenant      string     `json:"tenant,omitempty"`
	Scopes      []string   `json:"scopes"`
	Created     time.Time  `json:"created"`
	Expires     *time.Time `json:"expires,omitempty"`
	LastUsed    *time.Time `json:"last_used,omitempty"`
	Revoked     *time.Time `json:"revoked,omitempty"`
	RotatedTo   string     `json:"rotated_to,omitempty"`
	Status      string     `json:"status"`
	RotationDue bool       `json:"rotation_due"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func viewKey(k *mcpgate.APIKey, now time.Time) keyView {
	v := keyView{ID: k.ID, Name: k.Name, Subject: k.Subject, Tenant: k.Tenant, Scopes: k.Scopes, Created: k.CreatedAt,
		Expires: timePtr(k.ExpiresAt), LastUsed: timePtr(k.LastUsedAt), Revoked: timePtr(k.RevokedAt), RotatedTo: k.RotatedTo}
	switch {
	case !k.RevokedAt.IsZero():
		v.Status = "revoked"
	case !k.ExpiresAt.IsZero() && !now.Before(k.ExpiresAt):
		v.Status = "expired"
	case k.RotatedTo != "":
		v.Status = "rotating"
	default:
		v.Status = "active"
	}
	v.RotationDue = v.Status == "active" && now.Sub(k.CreatedAt) >= rotationAge
	return v
}

// Run prints the keys.
func (c *KeysListCmd) Run(e *env, g *Globals) error {
	store, err := g.openStore(e)
	if err != nil {
		return err
	}
	defer store.Close()
	keys, err := store.ListKeys(e.ctx)
	if err != nil {
		return err
	}
	now := time.Now()
	views := make([]keyView, 0, len(keys))
	for _, k := range keys {
		views = append(views, viewKey(k, now))
	}
	if c.JSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(views)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tSUBJECT\tSCOPES\tCREATED\tEXPIRES\tLAST USED\tSTATUS")
	due := 0
	for _, v := range views {
		status := v.Status
		if v.RotationDue {
			status += " (rotate: older than 90 days)"
			due++
		}
		if v.Status == "rotating" {
			status += " → " + v.RotatedTo
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", v.ID, v.Name, v.Subject, strings.Join(v.Scopes, " "),
			day(&v.Created), day(v.Expires), day(v.LastUsed), status)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if due > 0 {
		fmt.Fprintf(e.stdout, "\n%d key(s) are older than 90 days: rotate them with `mcpgate keys rotate KEYID`.\n", due)
	}
	return nil
}

func day(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04")
}

// keyIDOf returns the id of a key given by its id or, as people paste what
// leaked, by the whole key.
func keyIDOf(s string) string {
	s = strings.TrimSpace(s)
	if id, _, err := apikey.Parse(s); err == nil {
		return id
	}
	return s
}

// KeysRevokeCmd revokes a key.
type KeysRevokeCmd struct {
	KeyID string `arg:"" name:"key" help:"Key id (the part after mcpg_), or the whole key."`
}

// Run revokes the key.
func (c *KeysRevokeCmd) Run(e *env, g *Globals) error {
	c.KeyID = keyIDOf(c.KeyID)
	store, err := g.openStore(e)
	if err != nil {
		return err
	}
	defer store.Close()
	if err := store.RevokeKey(e.ctx, c.KeyID, time.Now().UTC()); err != nil {
		if errors.Is(err, mcpgate.ErrNotFound) {
			return fmt.Errorf("no key with id %q", c.KeyID)
		}
		return err
	}
	fmt.Fprintf(e.stdout, "Revoked key %s.\n", c.KeyID)
	return nil
}

// KeysRotateCmd issues a successor key.
type KeysRotateCmd struct {
	KeyID string        `arg:"" name:"key" help:"Key id to rotate, or the whole key."`
	Grace time.Duration `help:"How long the old key keeps working." default:"24h"`
}

// Run creates the successor with the same owner, tenant and scopes and the
// same lifetime, and ends the old key's life after the grace period.
func (c *KeysRotateCmd) Run(e *env, g *Globals) error {
	if c.Grace < 0 {
		return usagef("--grace must not be negative")
	}
	c.KeyID = keyIDOf(c.KeyID)
	store, err := g.openStore(e)
	if err != nil {
		return err
	}
	defer store.Close()
	if err := g.useServerURL(e, store, ""); err != nil {
		return err
	}
	old, err := store.Key(e.ctx, c.KeyID)
	if err != nil {
		if errors.Is(err, mcpgate.ErrNotFound) {
			return fmt.Errorf("no key with id %q", c.KeyID)
		}
		return err
	}
	var life time.Duration
	if !old.ExpiresAt.IsZero() {
		life = old.ExpiresAt.Sub(old.CreatedAt)
	}
	key, next, err := newKey(old.Name, old.Subject, old.Tenant, old.Scopes, life)
	if err != nil {
		return err
	}
	graceEnd := time.Now().UTC().Add(c.Grace)
	if err := store.RotateKey(e.ctx, old.ID, next, graceEnd); err != nil {
		if errors.Is(err, mcpgate.ErrNotFound) {
			return fmt.Errorf("key %q is unknown or revoked", c.KeyID)
		}
		return err
	}
	fmt.Fprintf(e.stdout, "Key %s now expires at %s (grace %s).\n", old.ID, graceEnd.Format(time.RFC3339), c.Grace)
	printNewKey(e, g, key, next)
	return nil
}
