package main

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/alecthomas/kong"
	"go.yaml.in/yaml/v3"
)

// Every duration mcpgate reads, in a flag, an environment variable or the
// config file, has one syntax: a Go duration (90s, 15m, 12h, 1h30m) whose
// units may also be d (day), w (week) and y (365 days), as in 7d, 2w or
// 1d12h.

// durationUnits are the units time.ParseDuration does not know.
var durationUnits = map[string]time.Duration{"d": 24 * time.Hour, "w": 7 * 24 * time.Hour, "y": 365 * 24 * time.Hour}

// maxDuration bounds what is read, well below time.Duration's ~292 years.
const maxDuration = 100 * 365 * 24 * time.Hour

// parseDuration reads a duration in mcpgate's syntax. It refuses negative
// durations.
func parseDuration(s string) (time.Duration, error) {
	in := s
	s = strings.TrimSpace(s)
	bad := fmt.Errorf("%q is not a duration such as 30s, 15m, 12h, 7d or 2w", in)
	if s == "" {
		return 0, bad
	}
	if s == "0" {
		return 0, nil
	}
	var total time.Duration
	for s != "" {
		i := 0
		for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
			i++
		}
		j := i
		for j < len(s) && !(s[j] >= '0' && s[j] <= '9' || s[j] == '.') {
			j++
		}
		num, unit := s[:i], s[i:j]
		if num == "" || unit == "" {
			return 0, bad
		}
		var d time.Duration
		if u, ok := durationUnits[unit]; ok {
			n, err := strconv.ParseFloat(num, 64)
			if err != nil || n*float64(u) > float64(maxDuration) {
				return 0, bad
			}
			d = time.Duration(n * float64(u))
		} else {
			var err error
			if d, err = time.ParseDuration(num + unit); err != nil {
				return 0, bad
			}
		}
		total += d
		if total > maxDuration {
			return 0, fmt.Errorf("%q is longer than 100 years", in)
		}
		s = s[j:]
	}
	return total, nil
}

// durationMapper makes every time.Duration flag read mcpgate's syntax.
var durationMapper = kong.TypeMapper(reflect.TypeFor[time.Duration](), kong.MapperFunc(func(ctx *kong.DecodeContext, target reflect.Value) error {
	var s string
	if err := ctx.Scan.PopValueInto("duration", &s); err != nil {
		return err
	}
	d, err := parseDuration(s)
	if err != nil {
		return err
	}
	target.SetInt(int64(d))
	return nil
}))

// duration is a time.Duration in the config file, in the same syntax as
// the flags.
type duration time.Duration

// UnmarshalYAML reads a duration in mcpgate's syntax.
func (d *duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: expected a duration such as 30s, 15m, 12h or 7d", n.Line)
	}
	v, err := parseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*d = duration(v)
	return nil
}

// String returns d as a Go duration, such as 168h0m0s for 7d.
func (d duration) String() string { return time.Duration(d).String() }

// MarshalYAML writes d as it is read back.
func (d duration) MarshalYAML() (any, error) { return d.String(), nil }
