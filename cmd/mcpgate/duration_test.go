package main

import (
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/alecthomas/kong"
)

func TestDurationSyntax(t *testing.T) {
	day := 24 * time.Hour
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"90d", 90 * day, true},
		{"7d", 7 * day, true},
		{"2w", 14 * day, true},
		{"1y", 365 * day, true},
		{"1d12h", 36 * time.Hour, true},
		{"1.5d", 36 * time.Hour, true},
		{"720h", 720 * time.Hour, true},
		{"1h30m", 90 * time.Minute, true},
		{"250ms", 250 * time.Millisecond, true},
		{"0", 0, true},
		{"0d", 0, true},
		{" 5m ", 5 * time.Minute, true},
		{"-1d", 0, false},
		{"-5m", 0, false},
		{"5", 0, false},
		{"d", 0, false},
		{"7days", 0, false},
		{"soon", 0, false},
		{"", 0, false},
		{"101y", 0, false},
		{"99999999999999d", 0, false},
	} {
		got, err := parseDuration(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parseDuration(%q) = %v, %v; want %v (ok %v)", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

// TestDurationEverywhere: every duration flag of every command reads 7d,
// and no config key is a bare time.Duration, which YAML would read in Go's
// syntax only.
func TestDurationEverywhere(t *testing.T) {
	var cli CLI
	parser, err := newParser(&cli, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	type durationFlag struct {
		path []string // the command, then its required arguments
		flag *kong.Flag
	}
	var flags []durationFlag
	var walk func(n *kong.Node, path []string)
	walk = func(n *kong.Node, path []string) {
		args := append([]string(nil), path...)
		for range n.Positional {
			args = append(args, "x")
		}
		for _, f := range n.Flags {
			if f.Required {
				args = append(args, "--"+f.Name+"=x")
			}
		}
		for _, f := range n.Flags {
			if f.Target.Type() == reflect.TypeFor[time.Duration]() {
				flags = append(flags, durationFlag{args, f})
			}
		}
		for _, c := range n.Children {
			if c.Type == kong.CommandNode {
				walk(c, append(append([]string(nil), path...), c.Name))
			}
		}
	}
	walk(parser.Model.Node, nil)
	if len(flags) < 6 {
		t.Fatalf("found %d duration flags; the walk of the command tree is broken", len(flags))
	}
	for _, df := range flags {
		var cli CLI
		parser, err := newParser(&cli, io.Discard, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		args := append(append([]string(nil), df.path...), "--"+df.flag.Name+"=7d")
		kctx, err := parser.Parse(args)
		if err != nil {
			t.Errorf("mcpgate %s: %v", strings.Join(args, " "), err)
			continue
		}
		var got time.Duration
		for _, f := range kctx.Flags() {
			if f.Name == df.flag.Name {
				got = time.Duration(f.Target.Int())
			}
		}
		if got != 7*24*time.Hour {
			t.Errorf("mcpgate %s: --%s = %v, want 168h", strings.Join(args, " "), df.flag.Name, got)
		}
		if res := runCLI(t, append(append([]string(nil), df.path...), "--"+df.flag.Name+"=7 days")...); res.code != exitUsage ||
			!strings.Contains(res.stderr, "is not a duration such as") {
			t.Errorf("--%s=\"7 days\": exit %d, want %d and the syntax:\n%s", df.flag.Name, res.code, exitUsage, res.stderr)
		}
	}

	var check func(t reflect.Type, path string)
	seen := map[reflect.Type]bool{}
	check = func(ty reflect.Type, path string) {
		for ty.Kind() == reflect.Pointer || ty.Kind() == reflect.Slice || ty.Kind() == reflect.Map {
			ty = ty.Elem()
		}
		if ty == reflect.TypeFor[time.Duration]() {
			t.Errorf("config key %s is a time.Duration: make it a duration so that 7d works", path)
		}
		if ty.Kind() != reflect.Struct || seen[ty] {
			return
		}
		seen[ty] = true
		for i := range ty.NumField() {
			f := ty.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			check(f.Type, path+"."+name)
		}
	}
	check(reflect.TypeFor[Config](), "")

	cfg, err := parseConfig([]byte("alerts:\n  window: 7d\nintrospection:\n  url: https://idp.example/introspect\n  cache_ttl: 1d\n  max_token_lifetime: 2w\nissuers:\n  - issuer: https://idp.example\n    max_token_lifetime: 1d12h\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Alerts.Window != duration(7*24*time.Hour) || cfg.Introspection.CacheTTL != duration(24*time.Hour) ||
		cfg.Introspection.MaxTokenLifetime != duration(14*24*time.Hour) || cfg.Issuers[0].MaxTokenLifetime != duration(36*time.Hour) {
		t.Errorf("durations in the config file: %+v %+v %+v", cfg.Alerts, cfg.Introspection, cfg.Issuers[0])
	}
	if _, err := parseConfig([]byte("alerts:\n  window: 7 days\n")); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("a bad duration in the config file: %v, want its line", err)
	}
}
