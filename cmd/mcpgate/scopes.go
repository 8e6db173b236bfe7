package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/mcpgate/mcpgate/admin"
	"github.com/mcpgate/mcpgate/authz"
	"github.com/mcpgate/mcpgate/demo"
)

// scopeAdmin is the scope of mcpgate's own administration: the admin
// dashboard's sign-in.
const scopeAdmin = admin.Scope

// knownScopes returns every scope this gateway checks: the built-in
// server's, those of the upstream policies in the config file, and
// mcpgate:admin, sorted.
func (g *Globals) knownScopes() []string {
	known := append(demo.Scopes(), scopeAdmin)
	if g.file != nil {
		for _, u := range g.file.Upstreams {
			known = append(known, policyScopes(u.Policy)...)
		}
	}
	slices.Sort(known)
	return slices.Compact(known)
}

func policyScopes(p *authz.Policy) []string {
	if p == nil {
		return nil
	}
	var s []string
	for _, rules := range [][]authz.Rule{p.Tools, p.Resources, p.Prompts} {
		for _, r := range rules {
			s = append(s, r.Scopes...)
		}
	}
	for _, m := range p.Methods {
		s = append(s, m...)
	}
	return append(s, p.Default...)
}

// checkScopes refuses, as a usage error, a scope that is not a valid
// token or that this gateway does not know, suggesting the nearest known
// one: a misspelt scope would otherwise give a credential that is refused
// everywhere.
func (g *Globals) checkScopes(flag string, scopes []string) error {
	known := g.knownScopes()
	for _, s := range scopes {
		if !authz.ValidScope(s) {
			return usagef("%s %q is not a valid OAuth scope token", flag, s)
		}
		if slices.Contains(known, s) {
			continue
		}
		msg := fmt.Sprintf("%s %q is not a scope of this gateway", flag, s)
		if near := didYouMean(s, known); near != "" {
			msg += fmt.Sprintf(": did you mean %q?", near)
		}
		return usagef("%s (known: %s; an upstream's policy in --config adds its own)", msg, strings.Join(known, ", "))
	}
	return nil
}

// didYouMean returns the candidate nearest to s, if it is near enough to
// be a likely typo: at most a third of s's letters, and at least one,
// edited.
func didYouMean(s string, candidates []string) string {
	best, bestD := "", max(1, len(s)/3)+1
	for _, c := range candidates {
		if d := editDistance(strings.ToLower(s), strings.ToLower(c)); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
