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
