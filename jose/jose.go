// Package jose signs and verifies the JSON Web Tokens of mcpgate and
// publishes JSON Web Key Sets. It is the only importer of the JWT and JOSE
// libraries, so no other package depends on their types.
package jose

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unsafe"

	"github.com/mcpgate/mcpgate"

	gojose "github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
)

// RS256 is the only algorithm mcpgate signs access tokens with, and so the
// only one its verifier accepts.
const RS256 = "RS256"

// TypeAccessToken is the JWS typ of an OAuth access token ([RFC 9068] §2.1).
//
// [RFC 9068]: https://www.rfc-editor.org/rfc/rfc9068
const TypeAccessToken = "at+jwt"

// TypeIdentity is the JWS typ of the identity assertions mcpgate hands to
// upstream MCP servers. It differs from TypeAccessToken, so an assertion
// captured upstream is never accepted by mcpgate as an access token.
const TypeIdentity = "mcpgate-id+jwt"

// Leeway is the clock skew allowed on exp, nbf and iat wherever mcpgate
// checks a token: its own access tokens, identity providers' tokens, and
// the MCP SDK's expiry check of a principal already verified. One value,
// so that no token is valid at one check and expired at the next.
const Leeway = 30 * time.Second

// DefaultMaxLifetime is the longest lifetime (exp - iat) of a token
// accepted unless VerifyOptions says otherwise: a revocation has to stay
// in force only that long.
const DefaultMaxLifetime = 24 * time.Hour

// ErrInvalid wraps every reason a token is refused.
var ErrInvalid = errors.New("jose: invalid token")

// ErrUnknownKey is returned, wrapped with ErrInvalid, for a token whose kid
// is not in the key set.
var ErrUnknownKey = errors.New("jose: unknown signing key")

var (
	errWrongType = errors.New("typ not accepted")
	errTooLong   = errors.New("lifetime too long")
)

// Error is a token refused by Verify: it matches ErrInvalid and the cause,
// and names the reason (an mcpgate Reason constant) for the audit log.
type Error struct {
	reason string
	err    error
}

func (e *Error) Error() string   { return ErrInvalid.Error() + ": " + e.err.Error() }
func (e *Error) Unwrap() []error { return []error{ErrInvalid, e.err} }

// Reason names why the token was refused: expired, wrong_audience,
// wrong_issuer, wrong_type, bad_signature, lifetime_too_long or malformed.
func (e *Error) Reason() string { return e.reason }

// invalid wraps a verification failure with its reason.
func invalid(err error) error {
	reason := mcpgate.ReasonMalformed
	switch {
	case errors.Is(err, jwt.ErrTokenExpired), errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		reason = mcpgate.ReasonExpired
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		reason = mcpgate.ReasonWrongAudience
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		reason = mcpgate.ReasonWrongIssuer
	case errors.Is(err, errWrongType):
		reason = mcpgate.ReasonWrongType
	case errors.Is(err, errTooLong):
		reason = mcpgate.ReasonTooLong
	case errors.Is(err, ErrUnknownKey), errors.Is(err, jwt.ErrTokenSignatureInvalid):
		reason = mcpgate.ReasonBadSignature
	}
	return &Error{reason: reason, err: err}
}

// Claims are the claims of an access token ([RFC 9068] §2.2) plus mcpgate's
// private ones.
type Claims struct {
	Issuer    string
	Subject   string
	Audience  []string
	ID        string // jti
	IssuedAt  time.Time
	NotBefore time.Time
	Expires   time.Time
	ClientID  string
	Scope     string // space-separated
	GrantID   string // gid: the grant (consent) the token derives from
	Family    string // sid: the chain of tokens from one authorization code
	Tenant    string
	// KeyID (mcpgate_key) is the API key the user signed in with when the
	// grant was approved; the token is good only while that key is.
	KeyID string
}

type wireClaims struct {
	jwt.RegisteredClaims
	ClientID string `json:"client_id,omitempty"`
	Scope    string `json:"scope,omitempty"`
	GrantID  string `json:"gid,omitempty"`
	Family   string `json:"sid,omitempty"`
	Tenant   string `json:"tenant,omitempty"`
	KeyID    string `json:"mcpgate_key,omitempty"`
}

// UnmarshalJSON refuses exp, nbf and iat that are not JSON numbers: they
// are NumericDates ([RFC 7519] §2), and the JWT library would also read
// "1700000000" as one.
//
// [RFC 7519]: https://www.rfc-editor.org/rfc/rfc7519
func (w *wireClaims) UnmarshalJSON(b []byte) error {
	var dates struct {
		Exp json.RawMessage `json:"exp"`
		Nbf json.RawMessage `json:"nbf"`
		Iat json.RawMessage `json:"iat"`
	}
	if err := json.Unmarshal(b, &dates); err != nil {
		return err
	}
	for name, v := range map[string]json.RawMessage{"exp": dates.Exp, "nbf": dates.Nbf, "iat": dates.Iat} {
		if len(v) > 0 && !isJSONNumber(v) {
			return fmt.Errorf("%s is not a number", name)
		}
	}
	type plain wireClaims // without this method
	return json.Unmarshal(b, (*plain)(w))
}

// isJSONNumber reports whether v, a JSON value, is a number.
func isJSONNumber(v json.RawMessage) bool {
	c := v[0]
	return c == '-' || ('0' <= c && c <= '9')
}

// checkCrit refuses a token with a crit header: it names extensions the
// recipient must understand or else reject the token ([RFC 7515]
// §4.1.11), and mcpgate understands none.
//
// [RFC 7515]: https://www.rfc-editor.org/rfc/rfc7515
func checkCrit(header map[string]any) error {
	if crit, ok := header["crit"]; ok {
		return fmt.Errorf("crit header %v names extensions not understood here", crit)
	}
	return nil
}

// checkLifetime refuses a token living longer than max: exp - iat, or
// exp - now for a token without iat.
func checkLifetime(exp, iat, now time.Time, max time.Duration) error {
	from := iat
	if from.IsZero() {
		from = now
	}
	if life := exp.Sub(from); life > max {
		return fmt.Errorf("%w: token lives %s, longer than the %s allowed", errTooLong, life.Round(time.Second), max)
	}
	return nil
}

func numericDate(t time.Time) *jwt.NumericDate {
	if t.IsZero() {
		return nil
	}
	return jwt.NewNumericDate(t)
}

func timeOf(d *jwt.NumericDate) time.Time {
	if d == nil {
		return time.Time{}
	}
	return d.Time
}

// GenerateRSAKey returns a new 2048-bit RSA private key as PKCS #8 DER.
func GenerateRSAKey() ([]byte, error) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	return x509.MarshalPKCS8PrivateKey(k)
}

// Key is a signing key: its kid, algorithm and private key.
type Key struct {
	ID        string
	Algorithm string
	private   *rsa.PrivateKey
}

// ParseKey parses a PKCS #8 DER private key for alg (only RS256).
func ParseKey(kid, alg string, der []byte) (*Key, error) {
	if alg != RS256 {
		return nil, fmt.Errorf("jose: unsupported signing algorithm %q", alg)
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("jose: parse key %s: %w", kid, err)
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("jose: key %s is not an RSA key", kid)
	}
	return &Key{ID: kid, Algorithm: alg, private: rk}, nil
}

// Thumbprint returns the RFC 7638 thumbprint of the key's public half,
// base64url-encoded: a stable kid.
func (k *Key) Thumbprint() (string, error) {
	jwk := gojose.JSONWebKey{Key: k.private.Public()}
	tp, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(tp), nil
}

// Sign returns a compact JWS of c with header typ and kid.
func (k *Key) Sign(typ string, c *Claims) (string, error) {
	w := wireClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    c.Issuer,
			Subject:   c.Subject,
			Audience:  c.Audience,
			ID:        c.ID,
			IssuedAt:  numericDate(c.IssuedAt),
			NotBefore: numericDate(c.NotBefore),
			ExpiresAt: numericDate(c.Expires),
		},
		ClientID: c.ClientID,
		Scope:    c.Scope,
		GrantID:  c.GrantID,
		Family:   c.Family,
		Tenant:   c.Tenant,
		KeyID:    c.KeyID,
	}
	t := jwt.NewWithClaims(jwt.SigningMethodRS256, w)
	t.Header["typ"] = typ
	t.Header["kid"] = k.ID
	return t.SignedString(k.private)
}

// KeySet is a set of public keys by kid, for verifying and for publishing
// as a JWKS.
type KeySet struct {
	keys map[string]*rsa.PublicKey
	jwks []byte
}

// NewKeySet returns the public halves of keys.
func NewKeySet(keys ...*Key) (*KeySet, error) {
	ks := &KeySet{keys: make(map[string]*rsa.PublicKey, len(keys))}
	set := gojose.JSONWebKeySet{Keys: []gojose.JSONWebKey{}}
	for _, k := range keys {
		pub := &k.private.PublicKey
		ks.keys[k.ID] = pub
		set.Keys = append(set.Keys, gojose.JSONWebKey{Key: pub, KeyID: k.ID, Algorithm: k.Algorithm, Use: "sig"})
	}
	b, err := json.Marshal(set)
	if err != nil {
		return nil, err
	}
	ks.jwks = b
	return ks, nil
}

// ParseJWKS reads a JSON Web Key Set of RSA signing keys, such as the one
// mcpgate publishes, for verifying its tokens elsewhere (an upstream MCP
// server checking identity assertions). Keys without a kid, and keys of
// other types, are skipped; a set with no usable key is an error.
func ParseJWKS(b []byte) (*KeySet, error) {
	var set gojose.JSONWebKeySet
	if err := json.Unmarshal(b, &set); err != nil {
		return nil, fmt.Errorf("jose: JWKS: %w", err)
	}
	ks := &KeySet{keys: make(map[string]*rsa.PublicKey, len(set.Keys)), jwks: b}
	for _, k := range set.Keys {
		if pub, ok := k.Key.(*rsa.PublicKey); ok && k.KeyID != "" {
			ks.keys[k.KeyID] = pub
		}
	}
	if len(ks.keys) == 0 {
		return nil, errors.New("jose: JWKS has no RSA key with a kid")
	}
	return ks, nil
}

// JWKS returns the JSON Web Key Set document ([RFC 7517] §5).
//
// [RFC 7517]: https://www.rfc-editor.org/rfc/rfc7517
func (ks *KeySet) JWKS() []byte { return ks.jwks }

// VerifyOptions say what a valid token looks like.
type VerifyOptions struct {
	Type     string // required typ header, compared case-insensitively
	Issuer   string
	Audience string
	// Audiences are accepted as well as Audience: aud must name one of
	// them (a server that issues tokens for several resources).
	Audiences []string
	Leeway    time.Duration
	// MaxLifetime is the longest exp - iat accepted; 0 means
	// DefaultMaxLifetime.
	MaxLifetime time.Duration
	Now         func() time.Time
}

// audiences are the aud values o accepts; none at all accepts no token.
func (o *VerifyOptions) audiences() []string {
	auds := make([]string, 0, 1+len(o.Audiences))
	for _, a := range append([]string{o.Audience}, o.Audiences...) {
		if a != "" {
			auds = append(auds, a)
		}
	}
	if len(auds) == 0 {
		// jwt skips the check when given no audience; an impossible
		// one refuses every token instead.
		auds = append(auds, "\x00no audience")
	}
	return auds
}

// Verify checks token's signature (RS256 only, kid required), typ, the
// absence of crit, iss, aud, exp (required), nbf and iat (numbers, not
// strings), and the lifetime, and returns its claims. Every error wraps
// ErrInvalid.
func (ks *KeySet) Verify(token string, o VerifyOptions) (*Claims, error) {
	var w wireClaims
	opts := []jwt.ParserOption{
		jwt.WithValidMethods([]string{RS256}),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithIssuer(o.Issuer),
		jwt.WithAudience(o.audiences()...),
		jwt.WithLeeway(o.Leeway),
	}
	if o.Now != nil {
		opts = append(opts, jwt.WithTimeFunc(o.Now))
	}
	_, err := jwt.ParseWithClaims(token, &w, func(t *jwt.Token) (any, error) {
		typ, _ := t.Header["typ"].(string)
		typ = strings.TrimPrefix(strings.ToLower(typ), "application/")
		if typ != strings.ToLower(o.Type) {
			return nil, fmt.Errorf("%w %q", errWrongType, typ)
		}
		if err := checkCrit(t.Header); err != nil {
			return nil, err
		}
		kid, _ := t.Header["kid"].(string)
		k, ok := ks.keys[kid]
		if !ok {
			return nil, ErrUnknownKey
		}
		return k, nil
	}, opts...)
	if err != nil {
		return nil, invalid(err)
	}
	maxLife := o.MaxLifetime
	if maxLife <= 0 {
		maxLife = DefaultMaxLifetime
	}
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	if err := checkLifetime(timeOf(w.ExpiresAt), timeOf(w.IssuedAt), now(), maxLife); err != nil {
		return nil, invalid(err)
	}
	return &Claims{
		Issuer:    w.Issuer,
		Subject:   w.Subject,
		Audience:  w.Audience,
		ID:        w.ID,
		IssuedAt:  timeOf(w.IssuedAt),
		NotBefore: timeOf(w.NotBefore),
		Expires:   timeOf(w.ExpiresAt),
		ClientID:  w.ClientID,
		Scope:     w.Scope,
		GrantID:   w.GrantID,
		Family:    w.Family,
		Tenant:    w.Tenant,
		KeyID:     w.KeyID,
	}, nil
}

// TokenHash returns the SHA-256 of a token, the key of caches and stores
// that must not hold the token itself.
func TokenHash(token string) [32]byte {
	// Hashed in place: a JWT is long enough that a copy to a []byte is an
	// allocation on every cached check. Sum256 only reads its argument.
	return sha256.Sum256(unsafe.Slice(unsafe.StringData(token), len(token)))
}
