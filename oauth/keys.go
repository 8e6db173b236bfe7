package oauth

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/jose"
)

// Access tokens are signed RS256: every JWT library and resource server
// supports it (OpenID Connect makes it mandatory), and verifying it costs
// about a third of ES256 on the gateway's hot path.

// encPrefix marks a private key encrypted with Options.KeyEncryptionKey.
const encPrefix = "mcpgate-aesgcm:"

func (s *Server) sealKey(der []byte) ([]byte, error) {
	if len(s.opts.KeyEncryptionKey) == 0 {
		return der, nil
	}
	gcm, err := s.gcm()
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, gcm.NonceSize())
	rand.Read(nonce)
	out := append([]byte(encPrefix), nonce...)
	return gcm.Seal(out, nonce, der, []byte(encPrefix)), nil
}

func (s *Server) openKey(stored []byte) ([]byte, error) {
	if len(stored) < len(encPrefix) || string(stored[:len(encPrefix)]) != encPrefix {
		return stored, nil
	}
	if len(s.opts.KeyEncryptionKey) == 0 {
		return nil, errors.New("oauth: signing key is encrypted and no KeyEncryptionKey is set")
	}
	gcm, err := s.gcm()
	if err != nil {
		return nil, err
	}
	rest := stored[len(encPrefix):]
	if len(rest) < gcm.NonceSize() {
		return nil, errors.New("oauth: encrypted signing key is truncated")
	}
	der, err := gcm.Open(nil, rest[:gcm.NonceSize()], rest[gcm.NonceSize():], []byte(encPrefix))
	if err != nil {
		return nil, errors.New("oauth: cannot decrypt signing key (wrong KeyEncryptionKey?)")
	}
	return der, nil
}

func (s *Server) gcm() (cipher.AEAD, error) {
	b, err := aes.NewCipher(s.opts.KeyEncryptionKey)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
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
		der, err := s.openKey(k.PrivateKey)
		if err != nil {
			return err
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
