package idp

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate"
)

// The two MCP endpoints of one gateway: the built-in server and an
// upstream, each a resource of its own.
const (
	builtinResource  = "https://mcp.example.com/mcp"
	upstreamResource = "https://mcp.example.com/mcp/jira"
)

func at(resource string) context.Context {
	return mcpgate.WithResource(context.Background(), resource)
}

// checkPerResource shows tokens for builtinResource and upstreamResource
// to v on both endpoints, and with no endpoint named: each is accepted on
// its own endpoint only, from the cache as on first sight.
func checkPerResource(t *testing.T, v *Verifier, forBuiltin, forUpstream string) {
	t.Helper()
	for _, tc := range []struct {
		name, token, resource string
		ok                    bool
	}{
		{"builtin token at builtin", forBuiltin, builtinResource, true},
		{"builtin token at upstream (cached)", forBuiltin, upstreamResource, false},
		{"upstream token at builtin (first sight)", forUpstream, builtinResource, false},
		{"upstream token at upstream", forUpstream, upstreamResource, true},
		{"builtin token at builtin again (cached)", forBuiltin, builtinResource, true},
		{"upstream token with no endpoint named", forUpstream, "", false},
	} {
		ctx := context.Background()
		if tc.resource != "" {
			ctx = at(tc.resource)
		}
		p, err := v.Verify(ctx, tc.token)
		switch {
		case tc.ok && err != nil:
			t.Errorf("%s: refused: %v", tc.name, err)
		case !tc.ok && err == nil:
			t.Errorf("%s: accepted: %+v", tc.name, p)
		case !tc.ok && mcpgate.Reason(err) != mcpgate.ReasonWrongAudience:
			t.Errorf("%s: reason %q (%v), want %q", tc.name, mcpgate.Reason(err), err, mcpgate.ReasonWrongAudience)
		}
	}
}

// TestJWTAudiencePerResource: an issuer with no audience configured takes
// each endpoint's URL as the audience its tokens must name there.
func TestJWTAudiencePerResource(t *testing.T) {
	rs := newRSAKey(t, "rs-1", 0)
	f := newFakeIdP(t, rs)
	clock := newClock()
	v := mustVerifier(t, []Issuer{{Issuer: f.issuer}}, nil, &Options{Now: clock.Now})
	checkPerResource(t, v,
		sign(t, rs, f.claims(builtinResource, clock.Now()), nil),
		sign(t, rs, f.claims(upstreamResource, clock.Now()), nil))
}

// TestJWTFixedAudience: an issuer with an audience of its own (what
// --jwt-audience sets) is accepted on every endpoint, and only with it.
func TestJWTFixedAudience(t *testing.T) {
	rs := newRSAKey(t, "rs-1", 0)
	f := newFakeIdP(t, rs)
	clock := newClock()
	v := mustVerifier(t, []Issuer{{Issuer: f.issuer, Audience: "api://mcp"}}, nil, &Options{Now: clock.Now})
	fixed := sign(t, rs, f.claims("api://mcp", clock.Now()), nil)
	for _, r := range []string{builtinResource, upstreamResource} {
		if _, err := v.Verify(at(r), fixed); err != nil {
			t.Errorf("token for the configured audience refused at %s: %v", r, err)
		}
	}
	if _, err := v.Verify(at(upstreamResource), sign(t, rs, f.claims(upstreamResource, clock.Now()), nil)); mcpgate.Reason(err) != mcpgate.ReasonWrongAudience {
		t.Errorf("token naming the endpoint but not the configured audience: %v, want %s", err, mcpgate.ReasonWrongAudience)
	}
}

// TestIntrospectionAudiencePerResource: the same for opaque tokens.
func TestIntrospectionAudiencePerResource(t *testing.T) {
	f := newFakeIdP(t)
	clock := newClock()
	f.setIntrospect(func(token string) (int, map[string]any) {
		aud := map[string]string{"builtin": builtinResource, "upstream": upstreamResource}[token]
		if aud == "" {
			return http.StatusOK, map[string]any{"active": false}
		}
		return http.StatusOK, map[string]any{"active": true, "sub": "alice", "aud": aud, "iss": f.issuer,
			"exp": clock.Now().Add(10 * time.Minute).Unix(), "iat": clock.Now().Unix()}
	})
	v := mustVerifier(t, nil, &Introspection{URL: f.issuer + "/introspect", ClientID: "mcpgate", ClientSecret: "s3cret"}, // gitleaks:allow
		&Options{Now: clock.Now})
	checkPerResource(t, v, "builtin", "upstream")
}
