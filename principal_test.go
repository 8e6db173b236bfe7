package mcpgate_test

import (
	"testing"

	"github.com/mcpgate/mcpgate"
)

func TestPrincipalIDUnambiguous(t *testing.T) {
	for _, tc := range []struct {
		tenant, subject, want string
	}{
		{"", "alice", "alice"},
		{"acme", "bob", "acme/bob"},
		{"", "acme/bob", "acme%2Fbob"},
		{"ac/me", "bob", "ac%2Fme/bob"},
		{"acme", "b/ob", "acme/b%2Fob"},
		{"", "50%", "50%25"},
	} {
		p := &mcpgate.Principal{Tenant: tc.tenant, Subject: tc.subject}
		if got := p.ID(); got != tc.want {
			t.Errorf("ID(tenant %q, subject %q) = %q, want %q", tc.tenant, tc.subject, got, tc.want)
		}
	}
	// The collision that a plain "tenant/subject" join would allow.
	a := &mcpgate.Principal{Tenant: "acme", Subject: "bob"}
	b := &mcpgate.Principal{Subject: "acme/bob"}
	if a.ID() == b.ID() {
		t.Errorf("tenant acme + subject bob and subject acme/bob share id %q", a.ID())
	}
}

func TestPrincipalIDIssuer(t *testing.T) {
	own := &mcpgate.Principal{Tenant: "acme", Subject: "bob"}
	if got, want := own.ID(), "acme/bob"; got != want {
		t.Errorf("own principal ID = %q, want %q (unchanged by issuers)", got, want)
	}
	for _, tc := range []struct {
		issuer, tenant, subject, want string
	}{
		{"https://idp.example.com", "", "alice", "https:%2F%2Fidp.example.com//alice"},
		{"https://idp.example.com", "acme", "bob", "https:%2F%2Fidp.example.com/acme/bob"},
	} {
		p := &mcpgate.Principal{Issuer: tc.issuer, Tenant: tc.tenant, Subject: tc.subject}
		if got := p.ID(); got != tc.want {
			t.Errorf("ID(%q, %q, %q) = %q, want %q", tc.issuer, tc.tenant, tc.subject, got, tc.want)
		}
	}
	// Two identity providers' subjects, and an identity provider's subject
	// against mcpgate's own principals, never share an id.
	ids := map[string]string{}
	for _, p := range []*mcpgate.Principal{
		{Issuer: "https://a.example", Subject: "bob"},
		{Issuer: "https://b.example", Subject: "bob"},
		{Subject: "bob"},
		{Tenant: "https:%2F%2Fa.example", Subject: "bob"},
		{Tenant: "https://a.example", Subject: "/bob"},
		{Subject: "https://a.example//bob"},
	} {
		id := p.ID()
		if prev, ok := ids[id]; ok {
			t.Errorf("%+v and %s share id %q", *p, prev, id)
		}
		ids[id] = p.Issuer + "|" + p.Tenant + "|" + p.Subject
	}
}

func TestChangeScope(t *testing.T) {
	for _, tc := range []struct{ issuer, value string }{
		{"", "jti-1"},
		{"https://idp.example.com", "alice"},
		{"https://idp.example.com", ""},
	} {
		c := mcpgate.Change{Kind: mcpgate.ChangeSubject, ID: mcpgate.IssuerChangeID(tc.issuer, tc.value)}
		iss, v := c.Scope()
		if iss != tc.issuer || v != tc.value {
			t.Errorf("Scope(%q) = %q, %q; want %q, %q", c.ID, iss, v, tc.issuer, tc.value)
		}
	}
}
