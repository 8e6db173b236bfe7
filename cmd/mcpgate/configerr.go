package main

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Config file errors are reported with the keys as written in YAML, not
// with the Go types the file is decoded into: "line 5: unknown key
// "polcy"; did you mean "policy"?" rather than "field polcy not found in
// type main.UpstreamConfig".

var (
	unknownFieldRe = regexp.MustCompile(`^line (\d+): field (.+) not found in type (\S+)$`)
	badValueRe     = regexp.MustCompile("^line (\\d+): cannot unmarshal !!(\\w+)(?: `(.*)`)? into (.+)$")
)

// configError rewrites the decoding errors of the config file src.
func configError(err error, src []byte) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return err
	}
	keys := yamlKeysByType(reflect.TypeFor[Config]())
	var root yaml.Node
	_ = yaml.Unmarshal(src, &root)
	msgs := make([]string, 0, len(te.Errors))
	for _, e := range te.Errors {
		msgs = append(msgs, rewriteConfigError(e, keys, &root))
	}
	if len(msgs) == 1 {
		return errors.New(msgs[0])
	}
	return errors.New(strings.Join(msgs, "\n  "))
}

func rewriteConfigError(e string, keys map[string][]string, root *yaml.Node) string {
	if m := unknownFieldRe.FindStringSubmatch(e); m != nil {
		msg := fmt.Sprintf("line %s: unknown key %q", m[1], m[2])
		if near := didYouMean(m[2], keys[m[3]]); near != "" {
			return msg + fmt.Sprintf("; did you mean %q?", near)
		}
		if known := keys[m[3]]; len(known) > 0 {
			return msg + "; known here: " + strings.Join(known, ", ")
		}
		return msg
	}
	if m := badValueRe.FindStringSubmatch(e); m != nil {
		line, _ := strconv.Atoi(m[1])
		got := map[string]string{"int": "a number", "float": "a number", "str": "text", "bool": "true or false",
			"seq": "a list", "map": "a mapping", "null": "nothing"}[m[2]]
		if got == "" {
			got = "a value"
		}
		if m[3] != "" {
			got += " (" + m[3] + ")"
		}
		where := "line " + m[1]
		if k := keyOnLine(root, line); k != "" {
			where += ": " + k
		}
		return fmt.Sprintf("%s: expected %s, got %s", where, describeGoType(m[4]), got)
	}
	return e
}

// yamlKeysByType maps each struct type reachable from t, named as the
// YAML decoder names it in errors, to the keys it accepts.
func yamlKeysByType(t reflect.Type) map[string][]string {
	out := map[string][]string{}
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || t == reflect.TypeFor[time.Time]() {
			return
		}
		if _, seen := out[t.String()]; seen {
			return
		}
		out[t.String()] = nil
		out[t.String()] = structKeys(t, walk)
	}
	walk(t)
	return out
}

func structKeys(t reflect.Type, walk func(reflect.Type)) []string {
	var keys []string
	for f := range t.Fields() {
		if !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if strings.Contains(opts, "inline") {
			keys = append(keys, structKeys(f.Type, walk)...)
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		keys = append(keys, name)
		walk(f.Type)
	}
	return keys
}

// keyOnLine returns the key whose value starts on line, or "".
func keyOnLine(n *yaml.Node, line int) string {
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i+1].Line == line {
				return n.Content[i].Value
			}
		}
	}
	for _, c := range n.Content {
		if k := keyOnLine(c, line); k != "" {
			return k
		}
	}
	return ""
}

// describeGoType says in words what a value of a Go type looks like in YAML.
func describeGoType(t string) string {
	switch {
	case t == "time.Duration":
		return "a duration such as 30s or 5m"
	case t == "bool":
		return "true or false"
	case t == "string":
		return "text"
	case strings.HasPrefix(t, "int") || strings.HasPrefix(t, "uint") || strings.HasPrefix(t, "float"):
		return "a number"
	case strings.HasPrefix(t, "map[string]"):
		return "a mapping of names to " + describeGoType(t[len("map[string]"):]) + " values"
	case strings.HasPrefix(t, "[]"):
		return "a list"
	case strings.HasPrefix(t, "map["):
		return "a mapping"
	}
	return "a mapping of settings"
}
