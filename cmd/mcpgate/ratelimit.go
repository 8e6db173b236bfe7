package main

import (
	"fmt"
	"log/slog"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/inmem"
	"github.com/mcpgate/mcpgate/ratelimit"
	"github.com/mcpgate/mcpgate/redis"
)

// RateLimitFlags are serve's rate-limit settings; `rate_limits:` and
// `redis:` in the config file give the same, and rules only there.
type RateLimitFlags struct {
	RateLimit        string   `name:"rate-limit" help:"Limit per principal: COUNT/PERIOD [burst N] (e.g. 600/1m, 100/15m burst 20) or off. Default 600/1m." env:"MCPGATE_RATE_LIMIT" placeholder:"LIMIT"`
	Redis            string   `help:"Redis URL shared by every replica, so limits hold across them, or a reference to it (env:NAME, file:PATH, vault:PATH#FIELD)." env:"MCPGATE_REDIS" placeholder:"URL|REF" secret:""`
	RedisFailure     string   `help:"While Redis is unreachable: local (limit in this process) or deny." env:"MCPGATE_REDIS_FAILURE" default:"local" enum:"local,deny"`
	AuthFailureLimit string   `help:"Failed authentications one client address may make (IPv6: one /64), or off." env:"MCPGATE_AUTH_FAILURE_LIMIT" default:"60/1m burst 30" placeholder:"LIMIT"`
	TrustedProxies   []string `help:"Proxies (CIDRs) whose X-Forwarded-For or Forwarded names the client address." env:"MCPGATE_TRUSTED_PROXIES" placeholder:"CIDR,..."`
}

// RateLimitsConfig is `rate_limits:` in the config file.
type RateLimitsConfig struct {
	Default string           `yaml:"default"`
	Rules   []RateRuleConfig `yaml:"rules"`
}

// RateRuleConfig is one rule of `rate_limits.rules`, first match wins.
type RateRuleConfig struct {
	Name   string `yaml:"name"`
	Tool   string `yaml:"tool"`
	Scope  string `yaml:"scope"`
	Tenant string `yaml:"tenant"`
	Key    string `yaml:"key"`
	Limit  string `yaml:"limit"`
	Cost   int    `yaml:"cost"`

	line int // where the rule starts in the file, for errors
}

// UnmarshalYAML keeps the rule's line, so a malformed limit is reported
// where it is written.
func (r *RateRuleConfig) UnmarshalYAML(n *yaml.Node) error {
	type plain RateRuleConfig
	var p plain
	if err := n.Decode(&p); err != nil {
		return err
	}
	*r = RateRuleConfig(p)
	r.line = n.Line
	return nil
}

// policy turns the config into a ratelimit.Policy; flag beats file for the
// default limit.
func rateLimitPolicy(flag string, cfg *RateLimitsConfig) (*ratelimit.Policy, error) {
	def := flag
	if def == "" && cfg != nil {
		def = cfg.Default
	}
	p := &ratelimit.Policy{Default: ratelimit.DefaultLimit}
	if def != "" {
		l, err := mcpgate.ParseLimit(def)
		if err != nil {
			return nil, fmt.Errorf("rate limit: %w", err)
		}
		p.Default = l
	}
	if cfg == nil {
		return p, nil
	}
	for i, rc := range cfg.Rules {
		where := fmt.Sprintf("rate_limits.rules[%d] (line %d)", i, rc.line)
		l, err := mcpgate.ParseLimit(rc.Limit)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		p.Rules = append(p.Rules, ratelimit.Rule{Name: rc.Name, Tool: rc.Tool, Scope: rc.Scope, Tenant: rc.Tenant, Key: rc.Key, Limit: l, Cost: rc.Cost})
		if err := (&ratelimit.Policy{Default: p.Default, Rules: p.Rules[i : i+1]}).Validate(); err != nil {
			return nil, fmt.Errorf("%s: %s", where, strings.TrimPrefix(err.Error(), "rule 1: "))
		}
	}
	return p, nil
}

// rateLimiter builds the limiter serve uses: in process, or on Redis with
// the configured failure policy. It returns the request-path limiter, the
// store it counts in (which the authorization server's limits share), and
// a function that releases them.
func (c *ServeCmd) rateLimiter(g *Globals, logger *slog.Logger, alert func(kind, principal string, detail map[string]any)) (*ratelimit.Limiter, mcpgate.Limiter, func(), error) {
	policy, err := rateLimitPolicy(c.RateLimit, g.file.RateLimits)
	if err != nil {
		return nil, nil, nil, usageError{err}
	}
	auth, err := mcpgate.ParseLimit(c.AuthFailureLimit)
	if err != nil {
		return nil, nil, nil, usagef("--auth-failure-limit: %v", err)
	}
	local := inmem.New(nil)
	var store mcpgate.Limiter = local
	release := func() {}
	redisURL := c.Redis
	if redisURL == "" {
		redisURL = g.file.Redis
	}
	if redisURL != "" {
		ref, err := g.loadSecret("--redis", redisURL)
		if err != nil {
			return nil, nil, nil, err
		}
		u, _ := ref.Get()
		policyOnFailure, err := redis.ParseFailurePolicy(c.RedisFailure)
		if err != nil {
			return nil, nil, nil, usageError{err}
		}
		shared, err := redis.Dial(u, nil)
		if err != nil {
			return nil, nil, nil, usagef("--redis: %v", err)
		}
		release = func() { _ = shared.Close() }
		store = redis.NewFallback(shared, local, &redis.FallbackOptions{
			Policy: policyOnFailure,
			Logger: logger,
			OnTransition: func(healthy bool, err error) {
				alert("redis_failover", "", map[string]any{"healthy": healthy, "policy": string(policyOnFailure)})
			},
		})
	}
	l, err := ratelimit.New(store, policy, &ratelimit.Options{
		AuthFailures:   &auth,
		TrustedProxies: c.TrustedProxies,
		Alert:          alert,
	})
	if err != nil {
		release()
		return nil, nil, nil, usageError{err}
	}
	return l, store, release, nil
}
