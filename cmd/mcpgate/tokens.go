package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/idp"
)

// TokensCmd revokes access tokens before they expire, mcpgate's own and
// those of trusted identity providers, through the change feed that every
// running server reads.
type TokensCmd struct {
	Revoke      TokensRevokeCmd      `cmd:"" help:"Revoke one token (--jti), a subject's tokens (--subject) or a client's tokens (--client)."`
	Revocations TokensRevocationsCmd `cmd:"" help:"List the token revocations in force."`
}

// TokensRevokeCmd revokes tokens.
type TokensRevokeCmd struct {
	JTI     string `name:"jti" help:"Revoke the token with this jti." xor:"what" placeholder:"JTI"`
	Subject string `help:"Revoke every token of this subject issued until now." xor:"what" placeholder:"SUB"`
	Client  string `help:"Revoke every token held by this client (for mcpgate's own clients: the client itself, as clients revoke)." xor:"what" placeholder:"CLIENT_ID"`
	Issuer  string `help:"Only the tokens of this issuer (default: every issuer, mcpgate's own included)." placeholder:"ISS"`
}

// Run publishes the revocation; running servers refuse the tokens within
// a second.
func (c *TokensRevokeCmd) Run(e *env, g *Globals) error {
	kind, value := "", ""
	switch {
	case c.JTI != "":
		kind, value = mcpgate.ChangeToken, c.JTI
	case c.Subject != "":
		kind, value = mcpgate.ChangeSubject, c.Subject
	case c.Client != "":
		kind, value = mcpgate.ChangeClient, c.Client
	default:
		return usagef("say what to revoke: --jti, --subject or --client")
	}
	if c.Issuer != "" {
		if _, err := idp.CheckURL("--issuer", c.Issuer); err != nil {
			return usageError{err}
		}
	}
	if kind == mcpgate.ChangeClient && c.Issuer == "" {
		revoked, err := revokeOwnClient(e, g, value)
		if err != nil || revoked {
			return err
		}
	}
	store, err := g.openStore(e)
	if err != nil {
		return err
	}
	defer store.Close()
	ch, err := store.PublishChange(e.ctx, kind, mcpgate.IssuerChangeID(c.Issuer, value))
	if err != nil {
		return err
	}
	scope := "of every issuer"
	if c.Issuer != "" {
		scope = "of " + c.Issuer
	}
	fmt.Fprintf(e.stdout, "Revoked %s %q %s (change %d); running servers refuse its tokens within a second.\n", kind, value, scope, ch.Seq)
	return nil
}

// revokeOwnClient revokes value as a client of mcpgate's own
// authorization server, if it is one, and reports whether it was.
func revokeOwnClient(e *env, g *Globals, id string) (bool, error) {
	srv, store, err := g.authServer(e)
	if err != nil {
		return false, nil // no authorization server here: an identity provider's client
	}
	defer store.Close()
	if err := srv.RevokeClient(e.ctx, id); err != nil {
		if errors.Is(err, mcpgate.ErrNotFound) {
			return false, nil
		}
		return false, err
	}
	fmt.Fprintf(e.stdout, "Revoked client %s and every token issued to it.\n", id)
	return true, nil
}

// TokensRevocationsCmd lists revocations in force.
type TokensRevocationsCmd struct {
	JSON bool `help:"Print JSON."`
}

// revocation is one line of `tokens revocations`.
type revocation struct {
	Issuer string    `json:"issuer"` // "" for every issuer
	Kind   string    `json:"kind"`
	Value  string    `json:"value"`
	At     time.Time `json:"revoked_at"`
	Until  time.Time `json:"until"`
}

// Run prints the token, subject and client revocations whose tokens may
// still be live: each is in force until the longest-lived token it covers
// has expired.
func (c *TokensRevocationsCmd) Run(e *env, g *Globals) error {
	store, err := g.openStore(e)
	if err != nil {
		return err
	}
	defer store.Close()
	changes, err := store.ChangesSince(e.ctx, 0)
	if err != nil {
		return err
	}
	list := revocationsInForce(changes, g.file, time.Now())
	if c.JSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(list)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ISSUER\tKIND\tVALUE\tREVOKED\tUNTIL")
	for _, r := range list {
		iss := r.Issuer
		if iss == "" {
			iss = "(every issuer)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", iss, r.Kind, r.Value, r.At.Local().Format(time.DateTime), r.Until.Local().Format(time.DateTime))
	}
	return tw.Flush()
}

// revocationsInForce returns the latest revocation of each issuer, kind
// and value whose tokens may still be live at now, oldest first. A
// revocation for one issuer lasts as long as that issuer's tokens may
// live (max_token_lifetime); one for every issuer as long as the longest.
func revocationsInForce(changes []mcpgate.Change, cfg *Config, now time.Time) []revocation {
	lifetime := map[string]time.Duration{}
	longest := idp.DefaultMaxTokenLifetime
	if cfg != nil {
		for _, ic := range cfg.Issuers {
			if l := time.Duration(ic.MaxTokenLifetime); l > 0 {
				lifetime[ic.Issuer] = l
				longest = max(longest, l)
			}
		}
		if in := cfg.Introspection; in != nil && in.MaxTokenLifetime > 0 {
			l := time.Duration(in.MaxTokenLifetime)
			longest = max(longest, l)
			if in.Issuer != "" {
				lifetime[in.Issuer] = l
			}
		}
	}
	type key struct{ issuer, kind, value string }
	latest := map[key]int{}
	var list []revocation
	for _, ch := range changes {
		switch ch.Kind {
		case mcpgate.ChangeToken, mcpgate.ChangeSubject, mcpgate.ChangeClient:
		default:
			continue
		}
		iss, v := ch.Scope()
		d := longest
		if iss != "" {
			d = idp.DefaultMaxTokenLifetime
			if l, ok := lifetime[iss]; ok {
				d = l
			}
		}
		r := revocation{Issuer: iss, Kind: ch.Kind, Value: v, At: ch.At, Until: ch.At.Add(d + idp.DefaultLeeway)}
		if !now.Before(r.Until) {
			continue
		}
		k := key{iss, ch.Kind, v}
		if i, ok := latest[k]; ok {
			list[i] = r
			continue
		}
		latest[k] = len(list)
		list = append(list, r)
	}
	slices.SortStableFunc(list, func(a, b revocation) int { return a.At.Compare(b.At) })
	return list
}
