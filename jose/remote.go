package jose

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"
)

// RemoteKeySetOptions configure a [RemoteKeySet]. The zero value is valid.
type RemoteKeySetOptions struct {
	// Client fetches the key set; nil means a client with a 5 s timeout.
	Client *http.Client
	// Refresh is how often the key set is fetched again in the
	// background; 0 means 1 hour.
	Refresh time.Duration
	// UnknownKeyEvery is the least time between two fetches caused by
	// tokens whose kid is not in the set: a rotated key is picked up with
	// one fetch, and a flood of tokens with made-up kids costs the
	// issuer at most one fetch per interval. 0 means 30 s.
	UnknownKeyEvery time.Duration
	// OnRefreshError, if set, is called when a fetch fails.
	OnRefreshError func(err error)
}

// maxJWKSBytes bounds a fetched key set; real ones are a few KiB.
const maxJWKSBytes = 1 << 20

// RemoteKeySet is the JSON Web Key Set of another issuer (an identity
// provider), fetched from its jwks_uri when created, refreshed in the
// background and at most once per UnknownKeyEvery when a token names an
// unknown kid. Close stops the background refresh.
type RemoteKeySet struct {
	kf     keyfunc.Keyfunc
	cancel context.CancelFunc
}

// NewRemoteKeySet fetches the key set at jwksURL. A failed first fetch is
// not an error: the set starts empty, every token is refused as signed
// by an unknown key, and each such refusal may fetch again (rate-limited).
// opts may be nil.
func NewRemoteKeySet(jwksURL string, opts *RemoteKeySetOptions) (*RemoteKeySet, error) {
	var o RemoteKeySetOptions
	if opts != nil {
		o = *opts
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 5 * time.Second}
	}
	if o.Refresh <= 0 {
		o.Refresh = time.Hour
	}
	if o.UnknownKeyEvery <= 0 {
		o.UnknownKeyEvery = 30 * time.Second
	}
	client := *o.Client
	client.Transport = limitedBody{next: client.Transport}
	timeout := client.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	ctx, cancel := context.WithCancel(context.Background())
	onErr := func(_ context.Context, err error) {
		if o.OnRefreshError != nil {
			o.OnRefreshError(err)
		}
	}
	store, err := jwkset.NewStorageFromHTTP(jwksURL, jwkset.HTTPClientStorageOptions{
		Client:                    &client,
		Ctx:                       ctx,
		HTTPTimeout:               timeout,
		NoErrorReturnFirstHTTPReq: true,
		RefreshErrorHandler:       onErr,
		RefreshInterval:           o.Refresh,
	})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("jose: JWKS %s: %w", jwksURL, err)
	}
	// RateLimitWaitMax also bounds the refetch itself, which runs under
	// the same deadline; a caller that would have to wait longer than that
	// for the limiter is refused at once rather than held.
	hc, err := jwkset.NewHTTPClient(jwkset.HTTPClientOptions{
		HTTPURLs:          map[string]jwkset.Storage{jwksURL: store},
		RateLimitWaitMax:  timeout,
		RefreshUnknownKID: rate.NewLimiter(rate.Every(o.UnknownKeyEvery), 1),
	})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("jose: JWKS %s: %w", jwksURL, err)
	}
	kf, err := keyfunc.New(keyfunc.Options{
		Ctx:     ctx,
		Storage: hc,
		// A key marked for encryption never verifies a signature.
		UseWhitelist: []jwkset.USE{jwkset.UseSig, ""},
	})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("jose: JWKS %s: %w", jwksURL, err)
	}
	return &RemoteKeySet{kf: kf, cancel: cancel}, nil
}

// Close stops the background refresh.
func (ks *RemoteKeySet) Close() { ks.cancel() }

// limitedBody cuts off response bodies at maxJWKSBytes.
type limitedBody struct{ next http.RoundTripper }

func (l limitedBody) RoundTrip(r *http.Request) (*http.Response, error) {
	next := l.next
	if next == nil {
		next = http.DefaultTransport
	}
	resp, err := next.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.LimitReader(resp.Body, maxJWKSBytes), resp.Body}
	return resp, nil
}

// Asymmetric signature algorithms an identity provider's tokens may use.
// HMAC algorithms are not among them: a key set is public, so an HS256
// token "signed" with a published key proves nothing.
var asymmetric = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

// Asymmetric reports whether alg is an asymmetric JWS algorithm that
// [RemoteKeySet.Verify] accepts in ForeignVerifyOptions.Algorithms.
func Asymmetric(alg string) bool { return slices.Contains(asymmetric, alg) }

// ForeignVerifyOptions say what a valid token of another issuer looks like.
type ForeignVerifyOptions struct {
	// Algorithms allowed in the header; only asymmetric ones are honoured
	// (see [Asymmetric]), so never "none" nor HS*.
	Algorithms []string
	// Issuer is compared exactly with iss.
	Issuer string
	// Audience must be one of the token's aud values.
	Audience string
	// Types are the accepted typ headers, lowercase without
	// "application/"; "" stands for a token without typ. Empty means "",
	// "jwt" and "at+jwt".
	Types []string
	// Leeway is allowed on exp, nbf and iat.
	Leeway time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// ForeignClaims are the claims of another issuer's token: the registered
// ones typed, every one in Raw.
type ForeignClaims struct {
	Issuer    string
	Subject   string
	Audience  []string
	ID        string // jti
	IssuedAt  time.Time
	NotBefore time.Time
	Expires   time.Time
	Raw       map[string]any
}

var defaultTypes = []string{"", "jwt", "at+jwt"}

// Verify checks token's signature against the key its kid names (a kid
// is required; the key's alg, when the set states one, must equal the
// header's), its typ, alg, iss, aud, exp (required), nbf and iat, and
// returns its claims; a token with a crit header is refused. Every error
// wraps ErrInvalid; a kid the set does not hold even after a refetch also
// wraps ErrUnknownKey.
func (ks *RemoteKeySet) Verify(ctx context.Context, token string, o ForeignVerifyOptions) (*ForeignClaims, error) {
	algs := make([]string, 0, len(o.Algorithms))
	for _, a := range o.Algorithms {
		if Asymmetric(a) {
			algs = append(algs, a)
		}
	}
	if len(algs) == 0 {
		return nil, fmt.Errorf("%w: no asymmetric algorithm allowed", ErrInvalid)
	}
	if o.Issuer == "" || o.Audience == "" {
		return nil, fmt.Errorf("%w: issuer and audience are required", ErrInvalid)
	}
	types := o.Types
	if len(types) == 0 {
		types = defaultTypes
	}
	popts := []jwt.ParserOption{
		jwt.WithValidMethods(algs),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithIssuer(o.Issuer),
		jwt.WithAudience(o.Audience),
		jwt.WithLeeway(o.Leeway),
	}
	if o.Now != nil {
		popts = append(popts, jwt.WithTimeFunc(o.Now))
	}
	keys := ks.kf.KeyfuncCtx(ctx)
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(token, claims, func(t *jwt.Token) (any, error) {
		typ, _ := t.Header["typ"].(string)
		typ = strings.TrimPrefix(strings.ToLower(typ), "application/")
		if !slices.Contains(types, typ) {
			return nil, fmt.Errorf("%w %q", errWrongType, typ)
		}
		if err := checkCrit(t.Header); err != nil {
			return nil, err
		}
		if kid, _ := t.Header["kid"].(string); kid == "" {
			return nil, errors.New("token has no kid")
		}
		k, err := keys(t)
		if errors.Is(err, jwkset.ErrKeyNotFound) {
			return nil, ErrUnknownKey
		}
		return k, err
	}, popts...)
	if err != nil {
		return nil, invalid(err)
	}
	c := &ForeignClaims{Raw: claims}
	c.Issuer, _ = claims["iss"].(string)
	c.Subject, _ = claims["sub"].(string)
	c.ID, _ = claims["jti"].(string)
	aud, _ := claims.GetAudience()
	c.Audience = aud
	if d, _ := claims.GetIssuedAt(); d != nil {
		c.IssuedAt = d.Time
	}
	if d, _ := claims.GetNotBefore(); d != nil {
		c.NotBefore = d.Time
	}
	if d, _ := claims.GetExpirationTime(); d != nil {
		c.Expires = d.Time
	}
	return c, nil
}
