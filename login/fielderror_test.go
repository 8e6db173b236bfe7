package login

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// inputAttrs returns the attributes of the input with id in page.
func inputAttrs(t *testing.T, page, id string) string {
	t.Helper()
	m := regexp.MustCompile(`<input id="` + id + `"[^>]*>`).FindString(page)
	if m == "" {
		t.Fatalf("no input #%s in\n%s", id, page)
	}
	return m
}

// TestFieldErrorsTiedToInputs: a sign-in error marks the fields of the
// form it is about as invalid and names the message that describes them,
// and only those; a page without an error marks none.
func TestFieldErrorsTiedToInputs(t *testing.T) {
	e := newEnv(t, nil)
	req := e.backend.addRequest("cli-app", appRedirect, "notes:read")
	const tied = `aria-invalid="true" aria-describedby="error"`

	page := e.agent().get("/login?req=" + req).Body
	for _, id := range []string{"username", "password", "api_key"} {
		if strings.Contains(inputAttrs(t, page, id), "aria-invalid") {
			t.Errorf("#%s is marked invalid before any error", id)
		}
	}

	for _, tc := range []struct {
		name    string
		res     *response
		invalid []string
		valid   []string
	}{
		{"wrong password", e.agent().login(req, "alice", "nope"), []string{"username", "password"}, []string{"api_key"}},
		{"bad key", e.agent().loginKey(req, "mcpg_nope_nope"), []string{"api_key"}, []string{"username", "password"}},
	} {
		wantStatus(t, tc.res, http.StatusUnauthorized)
		if !strings.Contains(tc.res.Body, `id="error"`) || strings.Count(tc.res.Body, `id="error"`) != 1 {
			t.Fatalf("%s: want one #error:\n%s", tc.name, tc.res.Body)
		}
		for _, id := range tc.invalid {
			if !strings.Contains(inputAttrs(t, tc.res.Body, id), tied) {
				t.Errorf("%s: #%s not tied to the error: %s", tc.name, id, inputAttrs(t, tc.res.Body, id))
			}
		}
		for _, id := range tc.valid {
			if strings.Contains(inputAttrs(t, tc.res.Body, id), "aria-invalid") {
				t.Errorf("%s: #%s marked invalid", tc.name, id)
			}
		}
	}
}
