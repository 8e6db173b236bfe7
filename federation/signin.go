package federation

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"time"

	"golang.org/x/oauth2"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/jose"
)

// Identity is who signed in at a provider.
type Identity struct {
	// Subject is the local subject (see [Subject]).
	Subject string
	// Issuer and IdPSubject are the provider and its sub.
	Issuer     string
	IdPSubject string
	// Name is what the provider calls the person, for the pages:
	// preferred_username, email or name, whichever comes first; may be
	// empty.
	Name string
	// RequestID is the pending authorization request the sign-in was for,
	// as given to Begin.
	RequestID string
}

// Begin starts a sign-in at the provider with id for the pending
// authorization request requestID (empty: none) and returns the URL to
// send the browser to and the state, which the caller also keeps in the
// browser (a cookie) to check the callback against. It fails with
// ErrUnknownProvider, or ErrUnavailable when the provider's discovery
// document cannot be read.
func (f *Federation) Begin(ctx context.Context, id, requestID string) (authURL, state string, err error) {
	p := f.byID(id)
	if p == nil {
		return "", "", ErrUnknownProvider
	}
	now := f.opts.Now()
	m, _, err := p.discover(ctx, now)
	if err != nil {
		f.opts.Logger.Warn("federation: identity provider unavailable", "issuer", p.Issuer, "err", err)
		return "", "", err
	}
	cfg, err := p.config(m, f.opts.RedirectURL)
	if err != nil {
		return "", "", err
	}
	state, nonce := random(), random()
	verifier := oauth2.GenerateVerifier()
	err = f.store.CreateLoginState(ctx, &mcpgate.LoginState{
		StateHash: hashState(state),
		Issuer:    p.Issuer,
		Nonce:     nonce,
		Verifier:  verifier,
		RequestID: requestID,
		CreatedAt: now,
		ExpiresAt: now.Add(f.opts.StateTTL),
	})
	if err != nil {
		return "", "", fmt.Errorf("federation: store sign-in state: %w", err)
	}
	params := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("nonce", nonce)}
	for k, v := range p.AuthParams {
		params = append(params, oauth2.SetAuthURLParam(k, v))
	}
	authURL = cfg.AuthCodeURL(state, params...)
	return authURL, state, nil
}

// Abort ends the sign-in with state, which the provider answered with an
// error (the person cancelled), and returns its request id. It fails with
// ErrState if there is no such sign-in.
func (f *Federation) Abort(ctx context.Context, state string) (requestID string, err error) {
	st, err := f.take(ctx, state)
	if err != nil {
		return "", err
	}
	return st.RequestID, nil
}

func (f *Federation) take(ctx context.Context, state string) (*mcpgate.LoginState, error) {
	if state == "" {
		return nil, ErrState
	}
	st, err := f.store.TakeLoginState(ctx, hashState(state), f.opts.Now())
	if errors.Is(err, mcpgate.ErrNotFound) {
		return nil, ErrState
	}
	if err != nil {
		return nil, fmt.Errorf("federation: take sign-in state: %w", err)
	}
	return st, nil
}

// Finish completes the sign-in with state: it takes the state (so it is
// used once, whatever follows), checks that iss, the RFC 9207 issuer of
// the authorization response, names the same provider when given,
// exchanges code with the PKCE verifier, validates the ID token, stores
// the provider's tokens sealed, and returns who signed in. It fails with
// ErrState, ErrUnknownProvider, ErrIdentity or ErrUnavailable.
func (f *Federation) Finish(ctx context.Context, state, code, iss string) (*Identity, error) {
	st, err := f.take(ctx, state)
	if err != nil {
		return nil, err
	}
	p := f.byIssuer(st.Issuer)
	if p == nil {
		return nil, fmt.Errorf("%w: %s", ErrUnknownProvider, st.Issuer)
	}
	if iss != "" && iss != p.Issuer {
		return nil, fmt.Errorf("%w: the authorization response names issuer %q, not %q", ErrIdentity, iss, p.Issuer)
	}
	if code == "" {
		return nil, fmt.Errorf("%w: no authorization code", ErrIdentity)
	}
	now := f.opts.Now()
	m, keys, err := p.discover(ctx, now)
	if err != nil {
		return nil, err
	}
	cfg, err := p.config(m, f.opts.RedirectURL)
	if err != nil {
		return nil, err
	}
	tok, err := cfg.Exchange(f.oauthContext(ctx), code, oauth2.VerifierOption(st.Verifier))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.Response != nil && re.Response.StatusCode < 500 {
			return nil, fmt.Errorf("%w: the provider refused the code: %s", ErrIdentity, re.ErrorCode)
		}
		return nil, fmt.Errorf("%w: %s: token endpoint: %v", ErrUnavailable, p.Issuer, err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return nil, fmt.Errorf("%w: the token response has no id_token", ErrIdentity)
	}
	claims, err := f.verifyIDToken(ctx, p, keys, raw, st.Nonce)
	if err != nil {
		return nil, err
	}
	id := &Identity{
		Subject:    Subject(p.Issuer, claims.Subject),
		Issuer:     p.Issuer,
		IdPSubject: claims.Subject,
		RequestID:  st.RequestID,
	}
	for _, c := range []string{"preferred_username", "email", "name"} {
		if v, ok := claims.Raw[c].(string); ok && v != "" {
			id.Name = v
			break
		}
	}
	if err := f.saveTokens(ctx, id.Subject, p.Issuer, tok, now); err != nil {
		return nil, err
	}
	f.opts.Logger.Info("federation: signed in", "issuer", p.Issuer, "subject", id.Subject)
	return id, nil
}

// verifyIDToken checks an ID token as OpenID Connect Core 1.0 §3.1.3.7
// asks of a confidential client that got it from the token endpoint.
func (f *Federation) verifyIDToken(ctx context.Context, p *provider, keys *jose.RemoteKeySet, raw, nonce string) (*jose.ForeignClaims, error) {
	claims, err := keys.Verify(ctx, raw, jose.ForeignVerifyOptions{
		Algorithms: p.Algorithms,
		Issuer:     p.Issuer,
		Audience:   p.ClientID,
		Types:      []string{"", "jwt"},
		Leeway:     30 * time.Second,
		Now:        f.opts.Now,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: id_token: %v", ErrIdentity, err)
	}
	// With several audiences, azp must name this client; when present it
	// must anyway.
	azp, _ := claims.Raw["azp"].(string)
	if (len(claims.Audience) > 1 || azp != "") && azp != p.ClientID {
		return nil, fmt.Errorf("%w: id_token azp %q is not the client id", ErrIdentity, azp)
	}
	if !slices.Contains(claims.Audience, p.ClientID) {
		return nil, fmt.Errorf("%w: id_token is for another audience", ErrIdentity)
	}
	got, _ := claims.Raw["nonce"].(string)
	if !equal(nonce, got) {
		return nil, fmt.Errorf("%w: id_token nonce does not match the sign-in", ErrIdentity)
	}
	if claims.Subject == "" {
		return nil, fmt.Errorf("%w: id_token has no sub", ErrIdentity)
	}
	return claims, nil
}

// random returns 256 random bits, base64url without padding.
func random() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}
