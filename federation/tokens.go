package federation

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"github.com/mcpgate/mcpgate"
)

// aad binds a sealed token to its row and its kind, so that a value copied
// into another user's row, or the refresh token into the access token's
// column, does not open.
func aad(subject, issuer, kind string) []byte {
	return []byte("mcpgate idp token\x00" + kind + "\x00" + issuer + "\x00" + subject)
}

// sealTokens returns the stored form of tok for subject at issuer.
// refresh is kept when tok carries no new refresh token (providers that
// do not rotate them).
func (f *Federation) sealTokens(subject, issuer string, tok *oauth2.Token, keepRefresh []byte, now time.Time) (*mcpgate.IdPTokens, error) {
	if tok.AccessToken == "" {
		return nil, fmt.Errorf("%w: the provider returned no access token", ErrUnavailable)
	}
	at, err := f.keys().Seal([]byte(tok.AccessToken), aad(subject, issuer, "access"))
	if err != nil {
		return nil, fmt.Errorf("federation: seal token: %w", err)
	}
	t := &mcpgate.IdPTokens{Subject: subject, Issuer: issuer, AccessToken: at, RefreshToken: keepRefresh, Expiry: tok.Expiry, UpdatedAt: now}
	if tok.RefreshToken != "" {
		if t.RefreshToken, err = f.keys().Seal([]byte(tok.RefreshToken), aad(subject, issuer, "refresh")); err != nil {
			return nil, fmt.Errorf("federation: seal token: %w", err)
		}
	}
	return t, nil
}

func (f *Federation) saveTokens(ctx context.Context, subject, issuer string, tok *oauth2.Token, now time.Time) error {
	t, err := f.sealTokens(subject, issuer, tok, nil, now)
	if err != nil {
		return err
	}
	f.cache.drop(subject)
	if err := f.store.SaveIdPTokens(ctx, t); err != nil {
		return fmt.Errorf("federation: store tokens: %w", err)
	}
	return nil
}

// AccessToken returns the current access token that pr's identity
// provider issued to mcpgate for pr, refreshing it first when it expires
// within a quarter of its lifetime (at most 30 s). pr must be a person who
// signed in at a provider and whose app presents an access token of
// mcpgate's own authorization server; anyone else gets ErrNotFederated
// (an API key, a token of another issuer, an app approved in an API-key
// session). ErrSignInAgain means mcpgate holds no usable token any more:
// the provider refused the refresh (the tokens are then forgotten), or
// gave no refresh token. ErrUnavailable means the provider did not answer.
func (f *Federation) AccessToken(ctx context.Context, pr *mcpgate.Principal) (string, error) {
	if pr == nil || pr.Method != mcpgate.MethodOAuth || pr.Issuer != "" || pr.KeyID != "" || !IsFederated(pr.Subject) {
		return "", ErrNotFederated
	}
	if tok, ok := f.cache.get(pr.Subject, f.opts.Now()); ok {
		return tok, nil
	}
	t, err := f.store.IdPTokens(ctx, pr.Subject)
	if errors.Is(err, mcpgate.ErrNotFound) {
		return "", fmt.Errorf("%w: no identity provider tokens are kept for %s", ErrSignInAgain, pr.Subject)
	}
	if err != nil {
		return "", fmt.Errorf("federation: load tokens: %w", err)
	}
	if tok, ok := f.fresh(t); ok {
		f.cache.put(t.Subject, tok, f.freshUntil(t), f.opts.Now())
		return tok, nil
	}
	// One refresh per user at a time in this process; the store's
	// compare-and-swap settles a race with another replica.
	v, err, _ := f.refreshes.Do(pr.Subject, func() (any, error) {
		return f.refresh(context.WithoutCancel(ctx), pr.Subject)
	})
	if err != nil {
		return "", err
	}
	return v.(string), nil
}

// freshUntil is when t's access token needs refreshing: a quarter of its
// lifetime (at most 30 s) before it expires; zero when it states no
// expiry.
func (f *Federation) freshUntil(t *mcpgate.IdPTokens) time.Time {
	if t.Expiry.IsZero() {
		return time.Time{}
	}
	return t.Expiry.Add(-min(30*time.Second, t.Expiry.Sub(t.UpdatedAt)/4))
}

// fresh returns t's access token if it does not need refreshing yet.
func (f *Federation) fresh(t *mcpgate.IdPTokens) (string, bool) {
	if until := f.freshUntil(t); !until.IsZero() && !f.opts.Now().Before(until) {
		return "", false
	}
	b, _, err := f.keys().Open(t.AccessToken, aad(t.Subject, t.Issuer, "access"))
	if err != nil {
		f.opts.Logger.Error("federation: stored access token cannot be decrypted", "subject", t.Subject, "err", err)
		return "", false
	}
	return string(b), true
}

// refresh reloads the subject's tokens (another caller may have refreshed
// them meanwhile) and, if they still need it, refreshes them at the
// provider.
func (f *Federation) refresh(ctx context.Context, subject string) (string, error) {
	t, err := f.store.IdPTokens(ctx, subject)
	if errors.Is(err, mcpgate.ErrNotFound) {
		return "", fmt.Errorf("%w: no identity provider tokens are kept for %s", ErrSignInAgain, subject)
	}
	if err != nil {
		return "", fmt.Errorf("federation: load tokens: %w", err)
	}
	if tok, ok := f.fresh(t); ok {
		return tok, nil
	}
	p := f.byIssuer(t.Issuer)
	if p == nil {
		return "", fmt.Errorf("%w: %s is no longer a configured identity provider", ErrSignInAgain, t.Issuer)
	}
	if len(t.RefreshToken) == 0 {
		f.forget(ctx, subject, "no refresh token")
		return "", fmt.Errorf("%w: the access token expired and %s gave no refresh token", ErrSignInAgain, p.Issuer)
	}
	rt, _, err := f.keys().Open(t.RefreshToken, aad(subject, t.Issuer, "refresh"))
	if err != nil {
		f.opts.Logger.Error("federation: stored refresh token cannot be decrypted", "subject", subject, "err", err)
		return "", fmt.Errorf("%w: the stored refresh token cannot be decrypted", ErrSignInAgain)
	}
	now := f.opts.Now()
	m, _, err := p.discover(ctx, now)
	if err != nil {
		return "", err
	}
	cfg, err := p.config(m, f.opts.RedirectURL)
	if err != nil {
		return "", err
	}
	tok, err := cfg.TokenSource(f.oauthContext(ctx), &oauth2.Token{RefreshToken: string(rt)}).Token()
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.Response != nil && re.Response.StatusCode < 500 {
			f.forget(ctx, subject, "refresh refused: "+re.ErrorCode)
			return "", fmt.Errorf("%w: %s refused the refresh: %s", ErrSignInAgain, p.Issuer, re.ErrorCode)
		}
		f.opts.Logger.Warn("federation: refresh failed", "issuer", p.Issuer, "subject", subject, "err", err)
		return "", fmt.Errorf("%w: %s: refresh: %v", ErrUnavailable, p.Issuer, err)
	}
	nt, err := f.sealTokens(subject, t.Issuer, tok, t.RefreshToken, now)
	if err != nil {
		return "", err
	}
	switch err := f.store.UpdateIdPTokens(ctx, nt, t.AccessToken); {
	case errors.Is(err, mcpgate.ErrConflict), errors.Is(err, mcpgate.ErrNotFound):
		// Another replica refreshed (or the user signed in again) first:
		// this token is valid too, and theirs is in the store for next time.
	case err != nil:
		return "", fmt.Errorf("federation: store refreshed tokens: %w", err)
	}
	f.cache.put(subject, tok.AccessToken, f.freshUntil(nt), now)
	f.opts.Logger.Info("federation: refreshed identity provider token", "issuer", p.Issuer, "subject", subject)
	return tok.AccessToken, nil
}

// Forget deletes the provider tokens of subject, in the store and in this
// process's cache, after an administrator disabled or removed the person.
// Tokens already gone are not an error.
func (f *Federation) Forget(ctx context.Context, subject string) error {
	f.cache.drop(subject)
	if err := f.store.DeleteIdPTokens(ctx, subject); err != nil && !errors.Is(err, mcpgate.ErrNotFound) {
		return err
	}
	return nil
}

// forget deletes tokens that can no longer be refreshed, so that later
// calls fail at once rather than ask the provider again.
func (f *Federation) forget(ctx context.Context, subject, why string) {
	f.cache.drop(subject)
	f.opts.Logger.Warn("federation: identity provider tokens dropped; the user must sign in again", "subject", subject, "why", why)
	if err := f.store.DeleteIdPTokens(ctx, subject); err != nil && !errors.Is(err, mcpgate.ErrNotFound) {
		f.opts.Logger.Error("federation: delete tokens", "subject", subject, "err", err)
	}
}

// tokenCache keeps users' fresh access tokens in memory, so that a call to
// an upstream costs no store read: each for at most cacheFor, and never
// past the time it needs refreshing. A new sign-in or refresh on another
// replica is seen here within cacheFor; the token cached meanwhile is
// still valid at the provider.
type tokenCache struct {
	mu sync.Mutex
	m  map[string]cachedToken
}

type cachedToken struct {
	token string
	until time.Time
}

const (
	cacheFor      = time.Minute
	cacheMaxUsers = 100_000
)

func (c *tokenCache) get(subject string, now time.Time) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[subject]
	if !ok || !now.Before(e.until) {
		return "", false
	}
	return e.token, true
}

func (c *tokenCache) put(subject, token string, freshUntil, now time.Time) {
	until := now.Add(cacheFor)
	if !freshUntil.IsZero() && freshUntil.Before(until) {
		until = freshUntil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]cachedToken{}
	}
	if len(c.m) >= cacheMaxUsers {
		for k, e := range c.m {
			if !now.Before(e.until) {
				delete(c.m, k)
			}
		}
		if len(c.m) >= cacheMaxUsers {
			clear(c.m)
		}
	}
	c.m[subject] = cachedToken{token, until}
}

func (c *tokenCache) drop(subject string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, subject)
}
