package authz

import (
	"slices"
	"strings"
	"testing"
)

// TestPolicyScopes: the scopes a policy names, each once, in the order it
// names them: what its server advertises.
func TestPolicyScopes(t *testing.T) {
	p := &Policy{
		Tools:     []Rule{{Match: "jira_create", Scopes: []string{"jira:write", "jira:read"}}, {Match: "*", Scopes: []string{"jira:read"}}},
		Resources: []Rule{{Match: "logs://*", Scopes: []string{"logs:read"}}, {Match: "open://*", Scopes: []string{}}},
		Prompts:   []Rule{{Match: "*", Scopes: []string{"prompts"}}},
		Methods:   map[string][]string{"z/method": {"z"}, "logging/setLevel": {"admin"}},
		Default:   []string{"admin", "other"},
	}
	want := []string{"jira:write", "jira:read", "logs:read", "prompts", "admin", "z", "other"}
	if got := p.Scopes(); !slices.Equal(got, want) {
		t.Errorf("Scopes() = %v, want %v", got, want)
	}
	if got := (*Policy)(nil).Scopes(); got != nil {
		t.Errorf("nil policy: %v", got)
	}
}

// TestScopeDescriptionsValidated: a description must be of a scope the
// policy names; a typo is refused at load time.
func TestScopeDescriptionsValidated(t *testing.T) {
	p := &Policy{
		Tools:             []Rule{{Match: "*", Scopes: []string{"jira:read"}}},
		ScopeDescriptions: map[string]string{"jira:read": "Read Jira issues"},
	}
	if err := p.Validate(); err != nil {
		t.Fatalf("valid descriptions refused: %v", err)
	}
	p.ScopeDescriptions["jira:raed"] = "typo"
	err := p.Validate()
	if err == nil || !strings.Contains(err.Error(), `"jira:raed" is not a scope of this policy`) {
		t.Errorf("description of an unknown scope: %v", err)
	}
}
