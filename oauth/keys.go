package oauth

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/jose"
	"github.com/mcpgate/mcpgate/seal"
)

// Access tokens are signed RS256: every JWT library and resource server
// supports it (OpenID Connect makes it mandatory), and verifying it costs
// about a third of ES256 on the gateway's hot path.

// ErrKeyDecryption means a signing key in the store is encrypted and
// neither Options.KeyEncryptionKey nor Options.PreviousKeyEncryptionKey
// opens it: the server was given another key than the one it was
// encrypted with, or none.
var ErrKeyDecryption = errors.New("oauth: signing key cannot be decrypted")

// encPrefix marks a private key encrypted with Options.KeyEncryptionKey.
const encPrefix = seal.Prefix

// keyAAD is the associated data signing keys are sealed with: the prefix
// itself, as stores written before package seal existed have it.
var keyAAD = []byte(encPrefix)

func (s *Server) sealKeys() seal.Keys {
	s.kekMu.RLock()
	defer s.kekMu.RUnlock()
	return seal.Keys{Current: s.opts.KeyEncryptionKey, Previous: s.opts.PreviousKeyEncryptionKey}
}

// SetKeyEncryptionKeys replaces the key encryption key and the previous
// one while the server runs, as when the key is rotated in the secret
// store it is read from: signing keys are sealed with current from then
// on, and read under either. Call [Server.EncryptSigningKeys] next, so
// that the stored keys no longer need previous, and call it again with a
// nil previous once the overlap ends. A running server cannot drop its
// key encryption key, so current must be 32 bytes, as previous if set.
func (s *Server) SetKeyEncryptionKeys(current, previous []byte) error {
	if len(current) != 32 || (len(previous) != 0 && len(previous) != 32) {
		return errors.New("oauth: key encryption keys must be 32 bytes")
	}
	s.kekMu.Lock()
	defer s.kekMu.Unlock()
	s.opts.KeyEncryptionKey, s.opts.PreviousKeyEncryptionKey = current, previous
	return nil
}

func (s *Server) sealKey(der []byte) ([]byte, error) {
	keys := s.sealKeys()
	if len(keys.Current) == 0 {
		return der, nil
	}
	return keys.Seal(der, keyAAD)
}

// sealed reports whether a stored private key is encrypted.
func sealed(stored []byte) bool { return seal.Sealed(stored) }

// openKey returns the PKCS #8 DER of a stored private key, and whether it
// was sealed with the current KeyEncryptionKey (false for a key stored
// unencrypted or sealed with the previous one).
func (s *Server) openKey(stored []byte) (der []byte, current bool, err error) {
	if !sealed(stored) {
		return stored, false, nil
	}
	keys := s.sealKeys()
	if len(keys.Current) == 0 {
		return nil, false, fmt.Errorf("%w: it is encrypted and no KeyEncryptionKey is set", ErrKeyDecryption)
	}
	der, current, err = keys.Open(stored, keyAAD)
	if errors.Is(err, seal.ErrOpen) {
		return nil, false, fmt.Errorf("%w: it was encrypted with another KeyEncryptionKey, or is damaged", ErrKeyDecryption)
	}
	if err != nil {
		return nil, false, err
	}
	return der, current, nil
}

// EncryptSigningKeys stores every signing key encrypted with
// Options.KeyEncryptionKey: keys stored unencrypted (before a key
// encryption key was configured) and keys encrypted with
// Options.PreviousKeyEncryptionKey (during its rotation) are encrypted
// again in place; the keys themselves, and so their kids and the tokens
// they signed, do not change. It returns how many keys it rewrote. It
// fails with ErrKeyDecryption, rewriting nothing, if a key opens with
// neither, and refuses to run without a KeyEncryptionKey.
func (s *Server) EncryptSigningKeys(ctx context.Context) (int, error) {
	if len(s.sealKeys().Current) == 0 {
		return 0, errors.New("oauth: EncryptSigningKeys needs a KeyEncryptionKey")
	}
	keys, err := s.signingKeys.SigningKeys(ctx)
	if err != nil {
		return 0, fmt.Errorf("oauth: load signing keys: %w", err)
	}
	type rewrite struct {
		id       string
		from, to []byte
	}
	var todo []rewrite
	for _, k := range keys {
		der, current, err := s.openKey(k.PrivateKey)
		if err != nil {
			return 0, fmt.Errorf("signing key %s: %w", k.ID, err)
		}
		if current {
			continue
		}
		to, err := s.sealKey(der)
		if err != nil {
			return 0, err
		}
		todo = append(todo, rewrite{k.ID, k.PrivateKey, to})
	}
	for i, r := range todo {
		if err := s.signingKeys.UpdateSigningKey(ctx, r.id, r.from, r.to); err != nil {
			return i, fmt.Errorf("oauth: store signing key %s: %w", r.id, err)
		}
	}
	return len(todo), nil
}

// warnUnencryptedKeys logs, once at start, signing keys that a server
// configured with a key encryption key finds unencrypted or encrypted with
// the previous one: they still work, but a copy of the store still gives
// them away.
func (s *Server) warnUnencryptedKeys(ctx context.Context) {
	if len(s.sealKeys().Current) == 0 {
		return
	}
	keys, err := s.signingKeys.SigningKeys(ctx)
	if err != nil {
		return
	}
	n := 0
	for _, k := range keys {
		if _, current, err := s.openKey(k.PrivateKey); err == nil && !current {
			n++
		}
	}
	if n > 0 {
		s.opts.Logger.WarnContext(ctx, "oauth: signing keys are stored unencrypted or under the previous key encryption key; encrypt them with the current one (mcpgate oauth encrypt-keys)", "keys", n)
	}
}

// loadKeys reads the signing keys from the store, creating the first one if
// there is none and create is set.
func (s *Server) loadKeys(ctx context.Context, create bool) error {
	keys, err := s.signingKeys.SigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("oauth: load signing keys: %w", err)
	}
	if len(keys) == 0 && create {
		if _, err := s.addKey(ctx); err != nil {
			return err
		}
		return s.loadKeys(ctx, false)
	}
	now := s.now()
	var active *jose.Key
	var published []*jose.Key
	for _, k := range keys {
		if !k.RetiredAt.IsZero() && now.Sub(k.RetiredAt) > s.opts.AccessTokenTTL+s.opts.Leeway {
			continue // every token it signed has expired
		}
		der, _, err := s.openKey(k.PrivateKey)
		if err != nil {
			return fmt.Errorf("signing key %s: %w", k.ID, err)
		}
		jk, err := jose.ParseKey(k.ID, k.Algorithm, der)
		if err != nil {
			return err
		}
		if k.RetiredAt.IsZero() && active == nil {
			active = jk
		}
		published = append(published, jk)
	}
	if active == nil {
		return errors.New("oauth: no active signing key")
	}
	ks, err := jose.NewKeySet(published...)
	if err != nil {
		return err
	}
	s.keysMu.Lock()
	s.signer, s.keyset, s.keysLoaded = active, ks, time.Now()
	s.keysMu.Unlock()
	s.verified.clear()
	return nil
}

func (s *Server) addKey(ctx context.Context) (string, error) {
	der, err := jose.GenerateRSAKey()
	if err != nil {
		return "", err
	}
	jk, err := jose.ParseKey("", jose.RS256, der)
	if err != nil {
		return "", err
	}
	kid, err := jk.Thumbprint()
	if err != nil {
		return "", err
	}
	sealed, err := s.sealKey(der)
	if err != nil {
		return "", err
	}
	err = s.signingKeys.AddSigningKey(ctx, &mcpgate.SigningKey{ID: kid, Algorithm: jose.RS256, PrivateKey: sealed, CreatedAt: s.now()})
	if err != nil {
		return "", fmt.Errorf("oauth: store signing key: %w", err)
	}
	return kid, nil
}

// RotateSigningKey creates a new signing key and makes it the active one.
// The old key stays in the JWKS until the tokens it signed have expired.
// It returns the new key's kid.
func (s *Server) RotateSigningKey(ctx context.Context) (string, error) {
	kid, err := s.addKey(ctx)
	if err != nil {
		return "", err
	}
	// Other servers on the store start signing with it at once.
	if _, err := s.changes.PublishChange(ctx, mcpgate.ChangeSigningKey, kid); err != nil {
		return "", err
	}
	return kid, s.loadKeys(ctx, false)
}

func (s *Server) signingKey() *jose.Key {
	s.keysMu.RLock()
	defer s.keysMu.RUnlock()
	return s.signer
}

func (s *Server) keySet() *jose.KeySet {
	s.keysMu.RLock()
	defer s.keysMu.RUnlock()
	return s.keyset
}

// reloadKeysIfStale reloads the keys when a token names an unknown kid,
// at most every 10 seconds: another replica may have rotated.
func (s *Server) reloadKeysIfStale(ctx context.Context) bool {
	s.keysMu.RLock()
	stale := time.Since(s.keysLoaded) > 10*time.Second
	s.keysMu.RUnlock()
	if !stale {
		return false
	}
	if err := s.loadKeys(ctx, false); err != nil {
		s.opts.Logger.WarnContext(ctx, "oauth: reload signing keys", "err", err)
		return false
	}
	return true
}

// keyRefresh is how often a server signing tokens rereads the keys, so
// that a rotation by another process (the CLI, a replica) moves it to the
// new key well within the old key's overlap.
const keyRefresh = time.Minute

func (s *Server) refreshKeys(ctx context.Context) {
	s.keysMu.RLock()
	stale := time.Since(s.keysLoaded) > keyRefresh
	s.keysMu.RUnlock()
	if stale {
		if err := s.loadKeys(ctx, false); err != nil {
			s.opts.Logger.WarnContext(ctx, "oauth: reload signing keys", "err", err)
		}
	}
}
