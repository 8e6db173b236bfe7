package exampletest

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// Issuer is an OpenID Connect provider on httptest: it publishes its
// discovery document and JWKS, and signs access tokens with an RSA key.
type Issuer struct {
	// URL is the issuer identifier, the iss of its tokens.
	URL string
	key *rsa.PrivateKey
}

// NewIssuer starts an issuer that stops when the test ends.
func NewIssuer(t *testing.T) *Issuer {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	is := &Issuer{key: key}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{"issuer": is.URL, "jwks_uri": is.URL + "/jwks"})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{"keys": []any{map[string]any{
			"kty": "RSA", "use": "sig", "alg": "RS256", "kid": "k1",
			"n": b64(key.N.Bytes()), "e": b64(big.NewInt(int64(key.E)).Bytes()),
		}}})
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	is.URL = srv.URL
	return is
}

// Token returns an RS256 access token of subject for audience with scope
// (space-separated), valid for ten minutes.
func (is *Issuer) Token(t *testing.T, subject, audience, scope string) string {
	t.Helper()
	now := time.Now()
	header, _ := json.Marshal(map[string]any{"alg": "RS256", "typ": "at+jwt", "kid": "k1"})
	claims, _ := json.Marshal(map[string]any{
		"iss": is.URL, "sub": subject, "aud": audience, "scope": scope, "client_id": "example-app",
		"iat": now.Unix(), "exp": now.Add(10 * time.Minute).Unix(),
	})
	input := b64(header) + "." + b64(claims)
	digest := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(rand.Reader, is.key, crypto.SHA256, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + b64(sig)
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
