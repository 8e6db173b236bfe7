package authz

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/mcpgate/mcpgate"
)

// Rule requires Scopes for the tools, resources or prompts whose name (or
// URI) matches Match. In Match, '*' stands for any run of characters,
// including none and including '/'; every other character matches itself. An
// empty Scopes list means the matched names need no scope at all.
type Rule struct {
	Match  string   `yaml:"match" json:"match"`
	Scopes []string `yaml:"scopes" json:"scopes"`
}

// Policy maps MCP calls to the OAuth scopes they require.
//
// For tools/call, resources/read|subscribe|unsubscribe and prompts/get, the
// first rule of Tools, Resources or Prompts whose Match fits the name or URI
// gives the scopes; a name no rule matches requires Default. Methods adds
// scopes to any method by exact name or pattern (for example
// "logging/setLevel": [admin]); every matching entry applies.
//
// Session plumbing needs no scope: initialize, ping, notifications/*, the
// */list methods (their results are filtered instead), completion/complete,
// logging/setLevel, server/discover, subscriptions/listen, and responses the
// client sends to server requests. Any other method requires Default unless
// Methods names it.
//
// A nil *Policy allows everything.
type Policy struct {
	Tools     []Rule              `yaml:"tools" json:"tools"`
	Resources []Rule              `yaml:"resources" json:"resources"`
	Prompts   []Rule              `yaml:"prompts" json:"prompts"`
	Methods   map[string][]string `yaml:"methods" json:"methods"`
	Default   []string            `yaml:"default" json:"default"`
	// ScopeDescriptions say in plain words what each scope allows, for
	// the consent page of the server the policy guards, e.g.
	// "jira:write" → "Create and edit Jira issues". A scope without one
	// is shown by its name. They decide nothing.
	ScopeDescriptions map[string]string `yaml:"scope_descriptions" json:"scope_descriptions,omitempty"`
}

// Scopes returns every scope p names, each once, in the order the policy
// names them: tools, resources, prompts, methods (by sorted method
// pattern), default. They are the scopes of the server p guards, which
// its protected resource metadata advertises. A nil policy names none.
func (p *Policy) Scopes() []string {
	if p == nil {
		return nil
	}
	var out []string
	for _, rules := range [][]Rule{p.Tools, p.Resources, p.Prompts} {
		for _, r := range rules {
			out = appendNew(out, r.Scopes)
		}
	}
	methods := make([]string, 0, len(p.Methods))
	for m := range p.Methods {
		methods = append(methods, m)
	}
	slices.Sort(methods)
	for _, m := range methods {
		out = appendNew(out, p.Methods[m])
	}
	return appendNew(out, p.Default)
}

// Kinds of MCP features, for Allowed.
const (
	KindTool     = "tool"
	KindResource = "resource" // a resource URI or a resource template
	KindPrompt   = "prompt"
)

// Validate reports every problem with p: an empty pattern or one with
// control characters, a rule without a scopes list (an empty list, which
// opens the names to any authenticated caller, must be written out), or a
// scope token outside the RFC 6749 §3.3 character set.
//
// [RFC 6749 §3.3]: https://www.rfc-editor.org/rfc/rfc6749#section-3.3
func (p *Policy) Validate() error {
	if p == nil {
		return nil
	}
	var errs []error
	for _, set := range []struct {
		name  string
		rules []Rule
	}{{"tools", p.Tools}, {"resources", p.Resources}, {"prompts", p.Prompts}} {
		for i, r := range set.rules {
			if err := validPattern(r.Match); err != nil {
				errs = append(errs, fmt.Errorf("authz: %s[%d]: %w", set.name, i, err))
			}
			if r.Scopes == nil {
				// Most likely a forgotten line, which would open the
				// matched names to every caller: make it explicit.
				errs = append(errs, fmt.Errorf("authz: %s[%d] %q: no scopes; write \"scopes: []\" to allow any authenticated caller", set.name, i, r.Match))
			}
			if err := validScopes(r.Scopes); err != nil {
				errs = append(errs, fmt.Errorf("authz: %s[%d] %q: %w", set.name, i, r.Match, err))
			}
		}
	}
	methods := make([]string, 0, len(p.Methods))
	for m := range p.Methods {
		methods = append(methods, m)
	}
	slices.Sort(methods)
	for _, m := range methods {
		if err := validPattern(m); err != nil {
			errs = append(errs, fmt.Errorf("authz: methods: %w", err))
		}
		if err := validScopes(p.Methods[m]); err != nil {
			errs = append(errs, fmt.Errorf("authz: methods %q: %w", m, err))
		}
	}
	if err := validScopes(p.Default); err != nil {
		errs = append(errs, fmt.Errorf("authz: default: %w", err))
	}
	described := make([]string, 0, len(p.ScopeDescriptions))
	for sc := range p.ScopeDescriptions {
		described = append(described, sc)
	}
	slices.Sort(described)
	for _, sc := range described {
		if !slices.Contains(p.Scopes(), sc) {
			errs = append(errs, fmt.Errorf("authz: scope_descriptions: %q is not a scope of this policy", sc))
		}
	}
	return errors.Join(errs...)
}

func validPattern(s string) error {
	if s == "" {
		return errors.New("empty match pattern")
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("match pattern %q contains a control character", s)
		}
	}
	return nil
}

func validScopes(scopes []string) error {
	for _, s := range scopes {
		if !ValidScope(s) {
			return fmt.Errorf("invalid scope token %q", s)
		}
	}
	return nil
}

// ValidScope reports whether s is a scope token as RFC 6749 §3.3 defines
// it: one or more of %x21 / %x23-5B / %x5D-7E (printable ASCII except
// space, '"' and '\').
func ValidScope(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// Match reports whether name matches pattern, where '*' in pattern matches
// any run of characters. Matching is exact and case-sensitive otherwise.
func Match(pattern, name string) bool {
	// Iterative glob with single-star backtracking: linear in practice and
	// never exponential.
	p, n := 0, 0
	star, mark := -1, 0
	for n < len(name) {
		switch {
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, n
			p++
		case p < len(pattern) && pattern[p] == name[n]:
			p++
			n++
		case star >= 0:
			p = star + 1
			mark++
			n = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// firstMatch returns the scopes of the first rule matching name, or def.
func firstMatch(rules []Rule, name string, def []string) []string {
	for _, r := range rules {
		if Match(r.Match, name) {
			return r.Scopes
		}
	}
	return def
}

// free reports whether method is session plumbing that needs no scope.
func free(method string) bool {
	switch method {
	case "", "initialize", "ping", "completion/complete", "logging/setLevel",
		"server/discover", "subscriptions/listen":
		return true
	}
	return strings.HasPrefix(method, "notifications/") || strings.HasSuffix(method, "/list")
}

// Required returns the scopes c requires under p, without duplicates, in
// the order the policy lists them. A nil policy requires nothing.
func (p *Policy) Required(c Call) []string {
	if p == nil {
		return nil
	}
	out := appendNew(nil, p.base(c))
	if c.Method != "" {
		n := len(out)
		for m, scopes := range p.Methods {
			if Match(m, c.Method) {
				out = appendNew(out, scopes)
			}
		}
		// Map order is random; keep the result stable.
		slices.Sort(out[n:])
	}
	return out
}

// base returns the scopes c requires before Methods is applied.
func (p *Policy) base(c Call) []string {
	switch c.Method {
	case "tools/call":
		return firstMatch(p.Tools, c.Name, p.Default)
	case "resources/read", "resources/subscribe", "resources/unsubscribe":
		return firstMatch(p.Resources, c.Name, p.Default)
	case "prompts/get":
		return firstMatch(p.Prompts, c.Name, p.Default)
	}
	if !free(c.Method) && !p.methodListed(c.Method) {
		return p.Default
	}
	return nil
}

// permits reports whether pr has every scope c requires; it is Required
// without the allocations, for filtering long lists.
func (p *Policy) permits(pr *mcpgate.Principal, c Call) bool {
	if _, ok := pr.HasScopes(p.base(c)); !ok {
		return false
	}
	if c.Method != "" {
		for m, scopes := range p.Methods {
			if _, ok := pr.HasScopes(scopes); !ok && Match(m, c.Method) {
				return false
			}
		}
	}
	return true
}

func (p *Policy) methodListed(method string) bool {
	for m := range p.Methods {
		if Match(m, method) {
			return true
		}
	}
	return false
}

// appendNew appends the elements of add not already in dst.
func appendNew(dst, add []string) []string {
	for _, s := range add {
		if !slices.Contains(dst, s) {
			dst = append(dst, s)
		}
	}
	return dst
}

// Check returns the scopes the batch calls requires that pr lacks, sorted
// and without duplicates; ok is true when nothing is missing. A nil
// principal lacks every scope; a nil policy allows everything.
func (p *Policy) Check(pr *mcpgate.Principal, calls []Call) (missing []string, ok bool) {
	if p == nil {
		return nil, true
	}
	for _, c := range calls {
		for _, s := range p.Required(c) {
			if !pr.HasScope(s) && !slices.Contains(missing, s) {
				missing = append(missing, s)
			}
		}
	}
	slices.Sort(missing)
	return missing, len(missing) == 0
}

// Allowed reports whether pr may use the feature of kind (KindTool,
// KindResource or KindPrompt) called name: a tool name, a resource URI or
// URI template, or a prompt name. An unknown kind is not allowed.
func (p *Policy) Allowed(pr *mcpgate.Principal, kind, name string) bool {
	if p == nil {
		return true
	}
	var method string
	switch kind {
	case KindTool:
		method = "tools/call"
	case KindResource:
		method = "resources/read"
	case KindPrompt:
		method = "prompts/get"
	default:
		return false
	}
	return p.permits(pr, Call{Method: method, Name: name})
}
