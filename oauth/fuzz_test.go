package oauth

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// fuzzServe sends a request straight to the handler and fails on a panic
// or a 5xx: bad input must get a client error.
func fuzzServe(t *testing.T, e *env, req *http.Request) {
	rec := httptest.NewRecorder()
	e.srv.Handler().ServeHTTP(rec, req)
	if rec.Code >= 500 {
		t.Fatalf("%s %s: status %d: %s", req.Method, req.URL, rec.Code, rec.Body)
	}
}

func FuzzAuthorize(f *testing.F) {
	e := newEnv(f, nil)
	c := e.addPublicClient("http://127.0.0.1/cb")
	f.Add(authorizeParams(c).Encode())
	f.Add("client_id=" + c.ID + "&redirect_uri=http://127.0.0.1:1/cb&response_type=code&code_challenge=x&code_challenge_method=S256&resource=%00")
	f.Add("request=eyJ&client_id=https://a.example/c.json")
	f.Fuzz(func(t *testing.T, query string) {
		req := httptest.NewRequest(http.MethodGet, "/authorize", nil)
		req.URL.RawQuery = query
		fuzzServe(t, e, req)
	})
}

func FuzzToken(f *testing.F) {
	e := newEnv(f, nil)
	c := e.addPublicClient("http://127.0.0.1/cb")
	f.Add("grant_type=authorization_code&code=x&redirect_uri=http://127.0.0.1/cb&client_id="+c.ID+"&code_verifier=v", "")
	f.Add("grant_type=refresh_token&refresh_token=x&client_id="+c.ID, "")
	f.Add("grant_type=client_credentials&scope=a%20b", "Basic eDp5")
	f.Add("token=a.b.c&client_id="+c.ID, "")
	f.Fuzz(func(t *testing.T, form, authz string) {
		for _, path := range []string{PathToken, PathRevoke, PathIntrospect, PathRegister} {
			req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(form))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if path == PathRegister {
				req.Header.Set("Content-Type", "application/json")
			}
			if authz != "" {
				req.Header.Set("Authorization", authz)
			}
			fuzzServe(t, e, req)
		}
	})
}
