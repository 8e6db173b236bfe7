package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"reflect"
	"strings"
	"time"

	"github.com/alecthomas/kong"
	"go.yaml.in/yaml/v3"

	"github.com/mcpgate/mcpgate/proxy"
	"github.com/mcpgate/mcpgate/redact"
	"github.com/mcpgate/mcpgate/secret"
)

// ConfigCmd groups the commands about the configuration.
type ConfigCmd struct {
	Show ConfigShowCmd `cmd:"" help:"Print the settings serve would run with (flags, then MCPGATE_* variables, then the config file, then defaults), secret settings as their references."`
}

// ConfigShowCmd prints the effective settings. It takes serve's flags, so
// that `mcpgate config show` followed by serve's arguments shows what that
// serve would use.
type ConfigShowCmd struct {
	ServeCmd `embed:""`

	JSON bool `name:"json" help:"Print JSON instead of YAML."`
}

// setting is one line of the output, in the order flags are declared.
type setting struct {
	key   string
	value any
}

// Run prints the settings.
func (c *ConfigShowCmd) Run(e *env, g *Globals, kctx *kong.Context) error {
	c.fillFromFile(g.file)
	var out []setting
	for _, f := range kctx.Flags() {
		if f.Hidden || f.Name == "help" || f.Name == "version" || f.Name == "json" {
			continue
		}
		out = append(out, setting{strings.ReplaceAll(f.Name, "-", "_"), showFlag(f)})
	}
	out = append(out, g.fileOnlySettings(&c.ServeCmd)...)
	if c.JSON {
		return writeJSONSettings(e, out)
	}
	return writeYAMLSettings(e, out)
}

// isSecretFlag reports whether f is a secret setting: tagged secret, or
// taking a reference (its placeholder is REF), so that a secret setting
// added without the tag is still hidden.
func isSecretFlag(f *kong.Flag) bool {
	return f.Tag.Has("secret") || f.PlaceHolder == "REF"
}

// showFlag returns what may be printed of a flag's value: a secret
// setting as its reference, anything else as it is, masked by the log
// redactor in case a credential was put where none belongs.
func showFlag(f *kong.Flag) any {
	v := f.Target.Interface()
	if isSecretFlag(f) {
		s, _ := v.(string)
		return secret.Describe(s)
	}
	if t := f.Target.Type(); t.Kind() == reflect.Int64 && t != reflect.TypeFor[int64]() && t.ConvertibleTo(reflect.TypeFor[time.Duration]()) {
		// A duration, or a type of its own that holds one (retention).
		return time.Duration(f.Target.Int()).String()
	}
	switch x := v.(type) {
	case string:
		return redact.String(x)
	case []string:
		shown := make([]string, len(x))
		for i, s := range x {
			shown[i] = redact.String(s)
		}
		return shown
	}
	return v
}

// fileOnlySettings returns what only the config file can set: upstreams,
// identity providers, introspection details, sign-in providers, rate-limit
// rules.
func (g *Globals) fileOnlySettings(c *ServeCmd) []setting {
	f := g.file
	var out []setting
	if len(f.Upstreams) > 0 {
		ups := make([]UpstreamConfig, len(f.Upstreams))
		for i, u := range f.Upstreams {
			ups[i] = u
			ups[i].Upstream = showUpstream(u.Upstream)
		}
		out = append(out, setting{"upstreams", ups})
	}
	if len(f.Issuers) > 0 {
		out = append(out, setting{"issuers", f.Issuers})
	}
	if in := f.Introspection; in != nil {
		shown := *in
		shown.URL, shown.ClientID, shown.ClientSecret = c.IntrospectionURL, c.IntrospectionClientID, secret.Describe(c.IntrospectionClientSecret)
		out = append(out, setting{"introspection", shown})
	}
	if len(f.LoginProviders) > 0 {
		lps := make([]LoginProviderConfig, len(f.LoginProviders))
		for i, lp := range f.LoginProviders {
			lps[i] = lp
			lps[i].ClientSecret = secret.Describe(lp.ClientSecret)
		}
		out = append(out, setting{"login_providers", lps})
	}
	if f.RateLimits != nil && len(f.RateLimits.Rules) > 0 {
		out = append(out, setting{"rate_limit_rules", f.RateLimits.Rules})
	}
	return out
}

// showUpstream hides what an upstream's settings may hold of credentials:
// the values of its environment (passed to the program as written, so
// often tokens), a password in its URL, credentials in its arguments.
func showUpstream(u proxy.Upstream) proxy.Upstream {
	if u.URL != "" {
		if pu, err := url.Parse(u.URL); err == nil {
			u.URL = pu.Redacted()
		}
		u.URL = redact.String(u.URL)
	}
	if len(u.Command) > 0 {
		cmd := make([]string, len(u.Command))
		for i, a := range u.Command {
			cmd[i] = redact.String(a)
		}
		u.Command = cmd
	}
	if len(u.Env) > 0 {
		env := make(map[string]string, len(u.Env))
		for k := range u.Env {
			env[k] = secret.Hidden
		}
		u.Env = env
	}
	return u
}

func writeYAMLSettings(e *env, out []setting) error {
	doc := &yaml.Node{Kind: yaml.MappingNode}
	for _, s := range out {
		var v yaml.Node
		if err := v.Encode(s.value); err != nil {
			return fmt.Errorf("config show: %s: %w", s.key, err)
		}
		doc.Content = append(doc.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: s.key}, &v)
	}
	var b bytes.Buffer
	b.WriteString("# The settings `mcpgate serve` would run with. Secret settings show their\n# reference (env:, file:, vault:), or " + secret.Hidden + ", never the value.\n")
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return err
	}
	_, err := e.stdout.Write(b.Bytes())
	return err
}

// writeJSONSettings writes one object, keys in the order of the YAML.
// Nested values go through YAML first, so their keys are the config
// file's.
func writeJSONSettings(e *env, out []setting) error {
	var b bytes.Buffer
	b.WriteString("{\n")
	for i, s := range out {
		v := s.value
		if k := reflect.ValueOf(v).Kind(); k == reflect.Slice || k == reflect.Struct {
			y, err := yaml.Marshal(v)
			if err != nil {
				return err
			}
			var generic any
			if err := yaml.Unmarshal(y, &generic); err != nil {
				return err
			}
			v = generic
		}
		key, _ := json.Marshal(s.key)
		val, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("config show: %s: %w", s.key, err)
		}
		fmt.Fprintf(&b, "  %s: %s", key, val)
		if i < len(out)-1 {
			b.WriteByte(',')
		}
		b.WriteByte('\n')
	}
	b.WriteString("}\n")
	_, err := e.stdout.Write(b.Bytes())
	return err
}
