package idp

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeIdP is an identity provider on httptest that tests control: it
// publishes discovery metadata and a JWKS (counting the fetches), signs
// tokens with its keys (or forges them), and answers introspection as the
// test says.
type fakeIdP struct {
	srv    *httptest.Server
	issuer string

	mu         sync.Mutex
	keys       []*fakeKey
	introspect func(token string) (status int, body map[string]any)

	jwksFetches      atomic.Int32
	introspections   atomic.Int32
	lastIntrospectBy atomic.Value // client id of the last introspection call
}

type fakeKey struct {
	kid    string
	alg    string // what it signs with
	jwkAlg string // the alg the JWKS states; "" for none
	rsa    *rsa.PrivateKey
	ec     *ecdsa.PrivateKey
}

var (
	rsaOnce sync.Once
	rsaKeys [3]*rsa.PrivateKey
)

// testRSAKey returns one of a few RSA keys generated once per test binary.
func testRSAKey(tb testing.TB, i int) *rsa.PrivateKey {
	tb.Helper()
	rsaOnce.Do(func() {
		for j := range rsaKeys {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic(err)
			}
			rsaKeys[j] = k
		}
	})
	return rsaKeys[i]
}

func newRSAKey(tb testing.TB, kid string, i int) *fakeKey {
	return &fakeKey{kid: kid, alg: "RS256", jwkAlg: "RS256", rsa: testRSAKey(tb, i)}
}

func newECKey(tb testing.TB, kid string) *fakeKey {
	tb.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return &fakeKey{kid: kid, alg: "ES256", jwkAlg: "ES256", ec: k}
}

func newFakeIdP(tb testing.TB, keys ...*fakeKey) *fakeIdP {
	tb.Helper()
	f := &fakeIdP{keys: keys}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{
			"issuer":                 f.issuer,
			"jwks_uri":               f.issuer + "/jwks",
			"introspection_endpoint": f.issuer + "/introspect",
		})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) {
		f.jwksFetches.Add(1)
		f.mu.Lock()
		defer f.mu.Unlock()
		var set []map[string]any
		for _, k := range f.keys {
			set = append(set, k.jwk())
		}
		writeJSON(w, http.StatusOK, map[string]any{"keys": set})
	})
	mux.HandleFunc("POST /introspect", func(w http.ResponseWriter, r *http.Request) {
		f.introspections.Add(1)
		id, secret, ok := r.BasicAuth()
		if !ok || id != "mcpgate" || secret != "s3cret" {
			writeJSON(w, http.StatusUnauthorized, map[string]any{"error": "invalid_client"})
			return
		}
		f.lastIntrospectBy.Store(id)
		f.mu.Lock()
		fn := f.introspect
		f.mu.Unlock()
		status, body := http.StatusOK, map[string]any{"active": false}
		if fn != nil {
			status, body = fn(r.PostFormValue("token"))
		}
		writeJSON(w, status, body)
	})
	f.srv = httptest.NewServer(mux)
	f.issuer = f.srv.URL
	tb.Cleanup(f.srv.Close)
	return f
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (f *fakeIdP) setKeys(keys ...*fakeKey) {
	f.mu.Lock()
	f.keys = keys
	f.mu.Unlock()
}

func (f *fakeIdP) setIntrospect(fn func(token string) (int, map[string]any)) {
	f.mu.Lock()
	f.introspect = fn
	f.mu.Unlock()
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func (k *fakeKey) jwk() map[string]any {
	m := map[string]any{"kid": k.kid, "use": "sig"}
	if k.jwkAlg != "" {
		m["alg"] = k.jwkAlg
	}
	if k.rsa != nil {
		m["kty"] = "RSA"
		m["n"] = b64(k.rsa.N.Bytes())
		m["e"] = b64(big.NewInt(int64(k.rsa.E)).Bytes())
	} else {
		m["kty"] = "EC"
		m["crv"] = "P-256"
		m["x"] = b64(k.ec.X.FillBytes(make([]byte, 32)))
		m["y"] = b64(k.ec.Y.FillBytes(make([]byte, 32)))
	}
	return m
}

// claims returns the claims of a valid token of f for audience aud,
// issued at now.
func (f *fakeIdP) claims(aud string, now time.Time) map[string]any {
	return map[string]any{
		"iss":       f.issuer,
		"sub":       "alice",
		"aud":       aud,
		"client_id": "app-1",
		"jti":       "jti-" + b64(randBytes(8)),
		"scope":     "docs:read notes:write",
		"iat":       now.Unix(),
		"exp":       now.Add(10 * time.Minute).Unix(),
	}
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// sign returns a compact JWS of claims signed with k, with header typ
// at+jwt and k's kid, changed by edit if not nil.
func sign(tb testing.TB, k *fakeKey, claims map[string]any, edit func(h map[string]any)) string {
	tb.Helper()
	h := map[string]any{"alg": k.alg, "typ": "at+jwt", "kid": k.kid}
	if edit != nil {
		edit(h)
	}
	hb, _ := json.Marshal(h)
	cb, _ := json.Marshal(claims)
	input := b64(hb) + "." + b64(cb)
	digest := sha256.Sum256([]byte(input))
	var sig []byte
	var err error
	switch h["alg"] {
	case "none":
		return input + "."
	case "RS256":
		sig, err = rsa.SignPKCS1v15(rand.Reader, k.rsa, crypto.SHA256, digest[:])
	case "ES256":
		var r, s *big.Int
		r, s, err = ecdsa.Sign(rand.Reader, k.ec, digest[:])
		if err == nil {
			sig = append(r.FillBytes(make([]byte, 32)), s.FillBytes(make([]byte, 32))...)
		}
	default:
		tb.Fatalf("sign: alg %v", h["alg"])
	}
	if err != nil {
		tb.Fatal(err)
	}
	return input + "." + b64(sig)
}

// signHS256 returns a token "signed" with HS256 using secret as the HMAC
// key: the RS256/HS256 confusion attack when secret is a public key.
func signHS256(k *fakeKey, claims map[string]any, secret []byte) string {
	hb, _ := json.Marshal(map[string]any{"alg": "HS256", "typ": "at+jwt", "kid": k.kid})
	cb, _ := json.Marshal(claims)
	input := b64(hb) + "." + b64(cb)
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(input))
	return input + "." + b64(m.Sum(nil))
}

// editClaims replaces the payload of token with claims, keeping its
// header and signature.
func editClaims(token string, claims map[string]any) string {
	parts := strings.Split(token, ".")
	cb, _ := json.Marshal(claims)
	return parts[0] + "." + b64(cb) + "." + parts[2]
}
