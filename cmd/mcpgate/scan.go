package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/apikey"
	"github.com/mcpgate/mcpgate/leak"
)

// exitCannotScan is scan's exit code when it could not look (a path that
// does not exist, --history outside a git repository): CI must not read
// that as clean.
const exitCannotScan = 3

// ScanCmd looks for leaked credentials.
type ScanCmd struct {
	Path        string `arg:"" optional:"" default:"." help:"Directory or file to scan; with --history, --staged or --install-hook, a path in the git repository." placeholder:"PATH"`
	History     bool   `help:"Scan every commit reachable in the git repository, files deleted since included." xor:"what"`
	Staged      bool   `help:"Scan what the next commit would add, as the pre-commit hook does." xor:"what"`
	InstallHook bool   `help:"Install a git pre-commit hook that runs mcpgate scan --staged." xor:"what"`
	Revoke      bool   `help:"Revoke every live mcpgate key found in the configured store (--data or --store)."`
	JSON        bool   `help:"Print JSON."`
}

// keyRevocation is what --revoke did about one key found.
type keyRevocation struct {
	KeyID  string `json:"key_id"`
	Result string `json:"result"` // revoked, already revoked, expired, not in this store
}

// Run scans and reports; any finding is exit 1.
func (c *ScanCmd) Run(e *env, g *Globals) error {
	if c.InstallHook {
		if c.Revoke || c.JSON {
			return usagef("--install-hook takes no --revoke or --json")
		}
		return c.installHook(e)
	}
	var (
		found []leak.Finding
		err   error
	)
	switch {
	case c.History:
		found, err = leak.History(e.ctx, c.Path)
	case c.Staged:
		found, err = leak.Staged(e.ctx, c.Path)
	default:
		found, err = leak.Dir(e.ctx, c.Path)
	}
	if err != nil {
		return cannotScan(e, err)
	}
	var revoked []keyRevocation
	if c.Revoke {
		if revoked, err = revokeFound(e, g, found); err != nil {
			return err
		}
	}
	if c.JSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if found == nil {
			found = []leak.Finding{}
		}
		if err := enc.Encode(struct {
			Findings []leak.Finding  `json:"findings"`
			Revoked  []keyRevocation `json:"revoked,omitempty"`
		}{found, revoked}); err != nil {
			return err
		}
	} else {
		printFindings(e, found, revoked, c.History)
	}
	if len(found) > 0 {
		return fmt.Errorf("%d secret(s) found", len(found))
	}
	return nil
}

// cannotScan reports err and ends the command with exitCannotScan.
func cannotScan(e *env, err error) error {
	fmt.Fprintf(e.stderr, "mcpgate: cannot scan: %v\n", err)
	panic(exitRequest(exitCannotScan))
}

func printFindings(e *env, found []leak.Finding, revoked []keyRevocation, history bool) {
	if len(found) == 0 {
		fmt.Fprintln(e.stdout, "No secrets found.")
		return
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	if history {
		fmt.Fprintln(tw, "COMMIT\tFILE:LINE\tKIND\tSECRET")
	} else {
		fmt.Fprintln(tw, "FILE:LINE\tKIND\tSECRET")
	}
	for _, f := range found {
		if history {
			fmt.Fprintf(tw, "%.12s\t", f.Commit)
		}
		fmt.Fprintf(tw, "%s:%d\t%s\t%s\n", f.File, f.Line, f.Kind, f.Masked)
	}
	tw.Flush()
	for _, r := range revoked {
		fmt.Fprintf(e.stdout, "Key %s: %s.\n", r.KeyID, r.Result)
	}
	fmt.Fprintf(e.stdout, "\n%d secret(s) found. Revoke or rotate each one: deleting a file, or rewriting history, does not un-leak what was pushed.\n", len(found))
	if len(revoked) == 0 && hasKey(found) {
		fmt.Fprintln(e.stdout, "mcpgate keys: `mcpgate scan --revoke` revokes the live ones in the configured store.")
	}
}

func hasKey(found []leak.Finding) bool {
	for _, f := range found {
		if f.Kind == leak.KindAPIKey {
			return true
		}
	}
	return false
}

// revokeFound revokes, in the configured store, every live key among the
// findings. A key whose id is in the store but whose secret does not match
// the stored digest is not this store's key and is left alone.
func revokeFound(e *env, g *Globals, found []leak.Finding) ([]keyRevocation, error) {
	var keys []leak.Finding
	seen := map[string]bool{}
	for _, f := range found {
		if f.Kind == leak.KindAPIKey && !seen[f.Secret] {
			seen[f.Secret] = true
			keys = append(keys, f)
		}
	}
	if len(keys) == 0 {
		return nil, nil
	}
	store, err := g.openStore(e)
	if err != nil {
		return nil, err
	}
	defer store.Close()
	now := time.Now().UTC()
	var out []keyRevocation
	for _, f := range keys {
		id, secret, err := apikey.Parse(f.Secret)
		if err != nil {
			continue // leak only reports keys that parse
		}
		r := keyRevocation{KeyID: id}
		k, err := store.Key(e.ctx, id)
		switch {
		case errors.Is(err, mcpgate.ErrNotFound), err == nil && !apikey.Verify(k.Hash, secret):
			r.Result = "not in this store"
		case err != nil:
			return out, fmt.Errorf("key %s: %w", id, err)
		case !k.RevokedAt.IsZero():
			r.Result = "already revoked"
		case !k.ExpiresAt.IsZero() && !now.Before(k.ExpiresAt):
			r.Result = "expired"
		default:
			if err := store.RevokeKey(e.ctx, id, now); err != nil {
				return out, fmt.Errorf("revoke key %s: %w", id, err)
			}
			r.Result = "revoked"
		}
		out = append(out, r)
	}
	return out, nil
}

// hookMarker identifies a pre-commit hook that scan installed, so that it
// is replaced on reinstall and a hook of another tool never is.
const hookMarker = "# installed by mcpgate scan --install-hook"

// installHook writes a pre-commit hook running this binary's scan
// --staged into the repository at c.Path (where core.hooksPath says).
func (c *ScanCmd) installHook(e *env) error {
	out, err := exec.CommandContext(e.ctx, "git", "-C", c.Path, "rev-parse", "--git-path", "hooks").Output()
	if err != nil {
		return cannotScan(e, fmt.Errorf("%s: %w", c.Path, leak.ErrNotRepository))
	}
	dir := strings.TrimSpace(string(out))
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(c.Path, dir)
	}
	path := filepath.Join(dir, "pre-commit")
	if old, err := os.ReadFile(path); err == nil && !strings.Contains(string(old), hookMarker) {
		return cannotScan(e, fmt.Errorf("%s exists already; add `mcpgate scan --staged` to it instead", path))
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	hook := "#!/bin/sh\n" + hookMarker + "\n" +
		"# Refuses a commit that adds an mcpgate API key, client secret, JWT or\n" +
		"# private key. `git commit --no-verify` skips it: do that only for a\n" +
		"# finding you have checked is not a secret.\n" +
		"exec " + shellQuote(exe) + " scan --staged\n"
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(path, []byte(hook), 0o755); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "Installed %s: commits adding a secret are refused.\n", path)
	return nil
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
