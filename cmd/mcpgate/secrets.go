package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/mcpgate/mcpgate/federation"
	"github.com/mcpgate/mcpgate/oauth"
	"github.com/mcpgate/mcpgate/seal"
	"github.com/mcpgate/mcpgate/secret"
)

// A secret setting is a flag tagged `secret:""`: it takes a reference
// (env:NAME, file:PATH, vault:PATH#FIELD, literal:VALUE, or the value
// itself; see package secret), and `config show` prints the reference,
// never the value.

// envFileArg returns the --env-file of args, looking no further than a
// "--" (what follows is not mcpgate's). The file must be read before kong
// parses the arguments, since its variables feed the flags' environment
// variables.
func envFileArg(args []string) (string, bool, error) {
	for i, a := range args {
		switch {
		case a == "--":
			return "", false, nil
		case a == "--env-file":
			if i+1 == len(args) || args[i+1] == "" {
				return "", false, fmt.Errorf("--env-file: expected a file")
			}
			return args[i+1], true, nil
		case strings.HasPrefix(a, "--env-file="):
			v := strings.TrimPrefix(a, "--env-file=")
			if v == "" {
				return "", false, fmt.Errorf("--env-file: expected a file")
			}
			return v, true, nil
		}
	}
	return "", false, nil
}

// loadEnvFile sets the variables of --env-file, if given, that the
// environment lacks. Nothing of the file's content is printed.
func loadEnvFile(args []string) error {
	path, ok, err := envFileArg(args)
	if err != nil || !ok {
		return err
	}
	_, err = secret.LoadEnvFile(path)
	return err
}

func (g *Globals) secretOptions() *secret.Options {
	return &secret.Options{VaultRefresh: g.vaultRefresh}
}

// loadSecret reads the secret setting named flag, saying which setting a
// missing variable, file or Vault secret belongs to.
func (g *Globals) loadSecret(flag, ref string) (*secret.Ref, error) {
	r, err := secret.LoadWith(ref, g.secretOptions())
	if err != nil {
		return nil, usagef("%s %s: %v", flag, secret.Describe(ref), err)
	}
	return r, nil
}

// storeURL returns the --store URL the reference names. It is read once:
// a new database password takes effect at the next start.
func (g *Globals) storeURL() (string, error) {
	if g.Store == "" {
		return "", nil
	}
	r, err := g.loadSecret("--store", g.Store)
	if err != nil {
		return "", err
	}
	v, _ := r.Get()
	return v, nil
}

// getter returns a function that reads ref's current value, logging (once
// per distinct error) when a rotated value cannot be read and the last one
// is used instead.
func getter(ref *secret.Ref, flag string, logger *slog.Logger) func() string {
	var last string
	return func() string {
		v, err := ref.Get()
		if err != nil && err.Error() != last {
			logger.Warn("reading a secret failed; the last value read is still used", "setting", flag, "ref", ref.String(), "err", err)
		}
		if err != nil {
			last = err.Error()
		} else {
			last = ""
		}
		return v
	}
}

// sealers are what seals with the encryption key while serving: the
// authorization server (signing keys) and, with federated sign-in, the
// providers' tokens.
type sealers struct {
	auth *oauth.Server
	fed  *federation.Federation // nil without federated sign-in
}

// SetKeyEncryptionKeys gives both the keys to seal and open with.
func (s sealers) SetKeyEncryptionKeys(current, previous []byte) error {
	if err := s.auth.SetKeyEncryptionKeys(current, previous); err != nil {
		return err
	}
	if s.fed != nil {
		return s.fed.SetKeys(seal.Keys{Current: current, Previous: previous})
	}
	return nil
}

// EncryptSigningKeys re-encrypts the stored signing keys. The providers'
// stored tokens are not: one sealed only with a key that is dropped when
// the overlap ends is refused, and its user signs in again.
func (s sealers) EncryptSigningKeys(ctx context.Context) (int, error) {
	return s.auth.EncryptSigningKeys(ctx)
}

// encryptionKeyPoll is how often a file: or vault: encryption key is
// checked for a new value (a vault: one is read again only as its refresh
// interval says).
const encryptionKeyPoll = time.Second

// watchEncryptionKey applies a new --encryption-key while the server
// runs: the authorization server seals with the new key, still opens what
// the old one sealed for overlap, re-encrypts the stored signing keys
// under the new one at once, and after the overlap drops the old key.
// current and previous are the keys it started with.
func watchEncryptionKey(ctx context.Context, ref *secret.Ref, as sealers, current, previous []byte, overlap time.Duration, logger *slog.Logger) {
	tick := time.NewTicker(encryptionKeyPoll)
	defer tick.Stop()
	var overlapEnds <-chan time.Time
	var lastErr string
	report := func(err error) {
		if err != nil && err.Error() != lastErr {
			logger.Warn("encryption key: the new value cannot be used; the running key stays", "key", ref.String(), "err", err)
		}
		lastErr = ""
		if err != nil {
			lastErr = err.Error()
		}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-overlapEnds:
			overlapEnds = nil
			if err := as.SetKeyEncryptionKeys(current, previous); err != nil {
				logger.Error("encryption key: ending the overlap", "err", err)
				continue
			}
			logger.Info("encryption key: the overlap has ended; the replaced key no longer decrypts", "key", ref.String())
		case <-tick.C:
			v, err := ref.Get()
			if err != nil {
				report(err)
				continue
			}
			k, err := decodeEncryptionKey(v)
			if err != nil {
				report(err)
				continue
			}
			report(nil)
			if bytes.Equal(k, current) {
				continue
			}
			replaced := current
			current = k
			if err := as.SetKeyEncryptionKeys(current, replaced); err != nil {
				logger.Error("encryption key: applying the new key", "err", err)
				continue
			}
			n, err := as.EncryptSigningKeys(ctx)
			if err != nil {
				logger.Error("encryption key: re-encrypting the signing keys under the new key; run `mcpgate oauth encrypt-keys` with the new key and the old one as --encryption-key-previous", "key", ref.String(), "err", err)
			}
			logger.Info("encryption key changed: signing keys re-encrypted under the new key; the replaced key still decrypts until the overlap ends",
				"key", ref.String(), "reencrypted", n, "overlap", overlap, "until", time.Now().Add(overlap).UTC().Format(time.RFC3339))
			overlapEnds = time.After(overlap)
		}
	}
}
