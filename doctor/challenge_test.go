package doctor

import (
	"errors"
	"maps"
	"testing"
)

func TestParseChallenges(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []Challenge
	}{
		{`Bearer resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp", scope="docs:read notes:read"`,
			[]Challenge{{Scheme: "Bearer", Params: map[string]string{
				"resource_metadata": "https://mcp.example.com/.well-known/oauth-protected-resource/mcp", "scope": "docs:read notes:read"}}}},
		// RFC 9110 §11.6.1's example: two challenges, an escaped quote.
		{`Newauth realm="apps", type=1, title="Login to \"apps\"", Basic realm="simple"`,
			[]Challenge{
				{Scheme: "Newauth", Params: map[string]string{"realm": "apps", "type": "1", "title": `Login to "apps"`}},
				{Scheme: "Basic", Params: map[string]string{"realm": "simple"}},
			}},
		{`Basic, Bearer error="invalid_token"`,
			[]Challenge{{Scheme: "Basic", Params: map[string]string{}}, {Scheme: "Bearer", Params: map[string]string{"error": "invalid_token"}}}},
		{`Bearer RESOURCE_METADATA = "x" ,, scope=a`,
			[]Challenge{{Scheme: "Bearer", Params: map[string]string{"resource_metadata": "x", "scope": "a"}}}},
		{`Negotiate abc+/==, Bearer`,
			[]Challenge{{Scheme: "Negotiate", Params: map[string]string{}, Token68: "abc+/=="}, {Scheme: "Bearer", Params: map[string]string{}}}},
		// A name and "=" with no value is a token68 (RFC 9110 §11.2).
		{`Bearer scope=`, []Challenge{{Scheme: "Bearer", Params: map[string]string{}, Token68: "scope="}}},
		{``, nil},
	} {
		got, err := ParseChallenges(tc.in)
		if err != nil {
			t.Errorf("ParseChallenges(%q): %v", tc.in, err)
			continue
		}
		if len(got) != len(tc.want) {
			t.Errorf("ParseChallenges(%q) = %+v, want %+v", tc.in, got, tc.want)
			continue
		}
		for i := range got {
			if got[i].Scheme != tc.want[i].Scheme || got[i].Token68 != tc.want[i].Token68 || !maps.Equal(got[i].Params, tc.want[i].Params) {
				t.Errorf("ParseChallenges(%q)[%d] = %+v, want %+v", tc.in, i, got[i], tc.want[i])
			}
		}
	}
	for _, bad := range []string{
		`Bearer scope="a`,            // unterminated
		`Bearer scope="a\`,           // ends in a backslash
		`Bearer scope=a, scope=b`,    // repeated
		`Bearer scope="a" realm="b"`, // no comma
		"Bearer scope=\"a\x01\"",     // control character
		`"Bearer"`,                   // not a token
		`Bearer,scope=a`,             // a parameter where a scheme belongs
	} {
		if got, err := ParseChallenges(bad); !errors.Is(err, ErrMalformedChallenge) {
			t.Errorf("ParseChallenges(%q) = %+v, %v; want ErrMalformedChallenge", bad, got, err)
		}
	}
}
