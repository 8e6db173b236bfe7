// Package ratelimit applies rate limits to MCP requests, keyed by who is
// calling: per principal (subject and tenant, whatever authenticated it)
// for authenticated calls, and per client address only for failed
// authentication. Any [mcpgate.Limiter] decides (in-process or Redis); this
// package picks the limit of each call from a [Policy], charges it, and
// turns the decision into the response a client sees: 429 with
// Retry-After and the IETF RateLimit header fields, or the same fields on
// an allowed response.
//
// Why identity and not address: an office of many people behind one NAT
// shares an address, and a leaked key is used from many. Limits that follow
// the credential hit the one that misbehaves and nobody else.
//
//	l := ratelimit.New(inmem.New(nil), policy, nil)
//	pipeline.New(auth, &pipeline.Options{RateLimit: l})
package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/authz"
	"github.com/mcpgate/mcpgate/refusal"
)

// DefaultLimit is the limit per principal when none is configured.
var DefaultLimit = mcpgate.Limit{Rate: 600, Per: time.Minute, Burst: 600}

// DefaultAuthFailureLimit is how many failed authentications one client
// address may make: a client retrying a wrong key is not stopped, a
// credential-guessing flood is.
var DefaultAuthFailureLimit = mcpgate.Limit{Rate: 60, Per: time.Minute, Burst: 30}

// Rule gives Limit to the calls it matches. Exactly one of Tool, Scope,
// Tenant and Key is set: Tool matches a tools/call name ('*' wildcards, as
// in upstream policies), Scope a call that requires that scope, Tenant the
// caller's tenant, Key the caller's API key id.
type Rule struct {
	Name   string // in the RateLimit headers; "rule-N" when empty
	Tool   string
	Scope  string
	Tenant string
	Key    string
	Limit  mcpgate.Limit
	Cost   int // charged per matched call; 0 means 1
}

// Policy is the default limit and the rules, first match wins; a call no
// rule matches uses Default.
type Policy struct {
	Default mcpgate.Limit
	Rules   []Rule
}

// Validate reports the first problem with p: a rule that sets not exactly
// one of Tool, Scope, Tenant and Key, a cost its limit can never admit, or
// two rules with the same name.
func (p *Policy) Validate() error {
	if err := p.Default.Check(1); err != nil && !p.Default.IsOff() {
		return fmt.Errorf("default: %w", err)
	}
	names := map[string]bool{"default": true}
	for i := range p.Rules {
		r := &p.Rules[i]
		set := 0
		for _, s := range []string{r.Tool, r.Scope, r.Tenant, r.Key} {
			if s != "" {
				set++
			}
		}
		if set != 1 {
			return fmt.Errorf("rule %d: set exactly one of tool, scope, tenant and key", i+1)
		}
		if r.Cost < 0 {
			return fmt.Errorf("rule %d: cost %d: must be at least 1", i+1, r.Cost)
		}
		if !r.Limit.IsOff() {
			if err := r.Limit.Check(max(r.Cost, 1)); err != nil {
				return fmt.Errorf("rule %d: %w", i+1, err)
			}
		}
		name := r.name(i)
		if names[name] || !isToken(name) {
			return fmt.Errorf("rule %d: name %q: used twice or not a plain word", i+1, name)
		}
		names[name] = true
	}
	return nil
}

func (r *Rule) name(i int) string {
	if r.Name != "" {
		return r.Name
	}
	return "rule-" + strconv.Itoa(i+1)
}

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("-_.:", c)) {
			return false
		}
	}
	return true
}

// Options configure a Limiter. The zero value is valid.
type Options struct {
	// AuthFailures limits failed authentications per client address;
	// the zero value means DefaultAuthFailureLimit, mcpgate.Off none.
	AuthFailures *mcpgate.Limit
	// TrustedProxies are the addresses whose X-Forwarded-For and
	// Forwarded headers name the client; nil trusts none.
	TrustedProxies []string
	// Alert, if set, is called when a principal or an address goes over
	// a limit (kind "rate_limited" or "auth_failures"); it must not block.
	Alert func(kind, principal string, detail map[string]any)
}

// Limiter charges requests against a Policy with a mcpgate.Limiter.
type Limiter struct {
	store   mcpgate.Limiter
	policy  Policy
	names   []string // rule names, by index
	auth    mcpgate.Limit
	proxies *proxies
	alert   func(kind, principal string, detail map[string]any)
}

// New returns a Limiter over store. policy is validated; nil means
// DefaultLimit for every principal. opts may be nil.
func New(store mcpgate.Limiter, policy *Policy, opts *Options) (*Limiter, error) {
	l := &Limiter{store: store, policy: Policy{Default: DefaultLimit}, auth: DefaultAuthFailureLimit}
	if policy != nil {
		if err := policy.Validate(); err != nil {
			return nil, fmt.Errorf("rate limits: %w", err)
		}
		l.policy = *policy
	}
	for i := range l.policy.Rules {
		l.names = append(l.names, l.policy.Rules[i].name(i))
	}
	if opts != nil {
		if opts.AuthFailures != nil {
			l.auth = *opts.AuthFailures
		}
		var err error
		if l.proxies, err = parseProxies(opts.TrustedProxies); err != nil {
			return nil, err
		}
		l.alert = opts.Alert
	}
	if l.proxies == nil {
		l.proxies = &proxies{}
	}
	if l.alert == nil {
		l.alert = func(string, string, map[string]any) {}
	}
	return l, nil
}

// charge is what one request costs under one limit.
type charge struct {
	rule  int // index into policy.Rules, -1 for the default
	limit mcpgate.Limit
	cost  int
}

// Limit charges a request of principal pr carrying calls (none for GET and
// DELETE), whose scopes policy requires, and writes the RateLimit fields
// of the tightest limit it passed into h. It returns a refusal when a
// limit is exceeded (429) or the limiter cannot decide (503).
func (l *Limiter) Limit(ctx context.Context, pr *mcpgate.Principal, calls []authz.Call, policy *authz.Policy, h http.Header) *refusal.Refusal {
	var buf [4]charge
	charges := l.charges(buf[:0], pr, calls, policy)
	var tightest mcpgate.Decision
	tightestName := ""
	id := pr.ID()
	for _, c := range charges {
		if c.limit.IsOff() {
			continue
		}
		name := l.ruleName(c.rule)
		d, err := l.store.Allow(ctx, name+"|"+id, c.limit, c.cost)
		if err != nil {
			return unavailable(d, err)
		}
		if !d.Allowed {
			l.alert("rate_limited", id, map[string]any{"policy": name, "limit": c.limit.String()})
			return limited(name, d)
		}
		if tightestName == "" || d.Remaining < tightest.Remaining {
			tightest, tightestName = d, name
		}
	}
	if tightestName != "" {
		setFields(h, tightestName, tightest)
	}
	return nil
}

func (l *Limiter) ruleName(i int) string {
	if i < 0 {
		return "default"
	}
	return l.names[i]
}

// charges groups the calls by the limit each falls under, first matching
// rule first; a request without calls is one unit of the principal's own
// limit.
func (l *Limiter) charges(out []charge, pr *mcpgate.Principal, calls []authz.Call, policy *authz.Policy) []charge {
	add := func(rule int, limit mcpgate.Limit, cost int) {
		for i := range out {
			if out[i].rule == rule {
				out[i].cost += cost
				return
			}
		}
		out = append(out, charge{rule: rule, limit: limit, cost: cost})
	}
	if len(calls) == 0 {
		i, r := l.match(pr, nil, policy)
		if r == nil {
			add(-1, l.policy.Default, 1)
		} else {
			add(i, r.Limit, max(r.Cost, 1))
		}
		return out
	}
	for ci := range calls {
		i, r := l.match(pr, &calls[ci], policy)
		if r == nil {
			add(-1, l.policy.Default, 1)
		} else {
			add(i, r.Limit, max(r.Cost, 1))
		}
	}
	return out
}

// match returns the first rule matching call c (nil for a request without
// calls) of principal pr.
func (l *Limiter) match(pr *mcpgate.Principal, c *authz.Call, policy *authz.Policy) (int, *Rule) {
	for i := range l.policy.Rules {
		r := &l.policy.Rules[i]
		switch {
		case r.Tool != "":
			if c != nil && c.Method == "tools/call" && authz.Match(r.Tool, c.Name) {
				return i, r
			}
		case r.Scope != "":
			if c != nil && contains(policy.Required(*c), r.Scope) {
				return i, r
			}
		case r.Tenant != "":
			if pr.Tenant == r.Tenant {
				return i, r
			}
		case r.Key != "":
			if pr.KeyID == r.Key {
				return i, r
			}
		}
	}
	return -1, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// AuthFailed charges a failed authentication to the client address of r.
// It returns a 429 refusal once the address is over its limit: a flood of
// bad credentials from one address is slowed, while valid credentials
// from the same address, which never come here, keep working.
func (l *Limiter) AuthFailed(r *http.Request) *refusal.Refusal {
	if l.auth.IsOff() {
		return nil
	}
	addr := l.proxies.client(r)
	d, err := l.store.Allow(r.Context(), "auth|"+addr, l.auth, 1)
	if err != nil || d.Allowed {
		return nil // the 401 stands; an unavailable limiter must not turn it into a 503
	}
	l.alert("auth_failures", addr, map[string]any{"address": addr, "limit": l.auth.String()})
	return limited("auth-failures", d)
}

// limited is the 429 for a refused decision under the named limit.
func limited(name string, d mcpgate.Decision) *refusal.Refusal {
	secs := seconds(d.RetryAfter)
	h := http.Header{"Retry-After": {strconv.Itoa(secs)}}
	setFields(h, name, d)
	return &refusal.Refusal{
		Kind:    refusal.RateLimited,
		Message: "rate limit " + strconv.Quote(name) + " exceeded (" + d.Limit.String() + ")",
		Data:    map[string]any{"retry_after": secs, "policy": name},
		Header:  h,
	}
}

func unavailable(d mcpgate.Decision, err error) *refusal.Refusal {
	secs := max(seconds(d.RetryAfter), 1)
	return &refusal.Refusal{
		Kind:    refusal.LimiterUnavailable,
		Header:  http.Header{"Retry-After": {strconv.Itoa(secs)}},
		Err:     err,
		Message: unavailableMessage(err),
	}
}

func unavailableMessage(err error) string {
	if errors.Is(err, mcpgate.ErrLimiterUnavailable) {
		return "rate limiting is temporarily unavailable"
	}
	return ""
}

// setFields writes the RateLimit-Policy and RateLimit fields (IETF
// draft-ietf-httpapi-ratelimit-headers, structured-field form).
func setFields(h http.Header, name string, d mcpgate.Decision) {
	q := strconv.Quote(name)
	h.Set("RateLimit-Policy", q+";q="+strconv.Itoa(d.Limit.Rate)+";w="+strconv.Itoa(seconds(d.Limit.Per)))
	h.Set("RateLimit", q+";r="+strconv.Itoa(d.Remaining)+";t="+strconv.Itoa(seconds(d.ResetAfter)))
}

// seconds rounds d up to whole seconds.
func seconds(d time.Duration) int {
	if d <= 0 {
		return 0
	}
	return int(math.Ceil(d.Seconds()))
}
