package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// check is one check of one scenario, as the suite saved it in
// DIR/<role>-<scenario>-<timestamp>/checks.json.
type check struct {
	Scenario string
	ID       string
	Status   string // SUCCESS, FAILURE, WARNING, SKIPPED or INFO
}

func (c check) name() string { return c.Scenario + ":" + c.ID }

// failed reports whether c counts against conformance: the suite's own
// baseline treats a WARNING (a SHOULD not met) like a FAILURE.
func (c check) failed() bool { return c.Status == "FAILURE" || c.Status == "WARNING" }

// expectedGroup is an entry of the expected-failures file: checks that
// fail, and why.
type expectedGroup struct {
	// Checks name a whole scenario ("tools-call-image") or one check of
	// it ("server-stateless:sep-2575-server-no-log-without-loglevel").
	Checks []string `yaml:"checks"`
	Why    string   `yaml:"why"`
}

func compareMain(args []string) error {
	fs := flag.NewFlagSet("compare", flag.ExitOnError)
	expectedFile := fs.String("expected", "", "expected-failures file (YAML: target -> [{checks, why}])")
	target := fs.String("target", "", "the target's key in the expected-failures file")
	labels := fs.String("labels", "", "comma-separated labels of the directories, for the report (default: their names)")
	_ = fs.Parse(args)
	dirs := fs.Args()
	if *expectedFile == "" || *target == "" || len(dirs) == 0 {
		return errors.New("compare needs -expected, -target and at least one results directory")
	}
	names := dirs
	if *labels != "" {
		names = strings.Split(*labels, ",")
		if len(names) != len(dirs) {
			return errors.New("compare: -labels needs one label per directory")
		}
	}
	groups, err := readExpected(*expectedFile, *target)
	if err != nil {
		return err
	}

	var lists [][]check
	for _, d := range dirs {
		cs, err := readResults(d)
		if err != nil {
			return err
		}
		lists = append(lists, cs)
	}
	ok := true
	for i, cs := range lists {
		n := map[string]int{}
		for _, c := range cs {
			n[c.Status]++
		}
		fmt.Printf("%s %s: %d checks passed, %d failed, %d warnings\n", *target, names[i], n["SUCCESS"], n["FAILURE"], n["WARNING"])
	}
	for i := 1; i < len(lists); i++ {
		if d := diff(lists[0], lists[i]); len(d) > 0 {
			ok = false
			fmt.Printf("%s: the pass/fail lists differ between %s and %s:\n", *target, names[0], names[i])
			for _, l := range d {
				fmt.Println("  " + l)
			}
		}
	}
	unexpected, stale := judge(lists[0], groups)
	for _, c := range unexpected {
		ok = false
		fmt.Printf("%s: unexpected %s: %s\n", *target, c.Status, c.name())
	}
	for _, e := range stale {
		ok = false
		fmt.Printf("%s: expected to fail but did not fail: %s (remove it from %s)\n", *target, e, *expectedFile)
	}
	if !ok {
		return fmt.Errorf("%s: conformance results differ from what is expected", *target)
	}
	if len(lists) > 1 {
		fmt.Printf("%s: identical pass/fail lists (%s); every failure is expected\n", *target, strings.Join(names, ", "))
	} else {
		fmt.Printf("%s: every failure is expected\n", *target)
	}
	return nil
}

// readExpected returns the groups of target in the expected-failures file.
// Every group must say why its checks fail.
func readExpected(path, target string) ([]expectedGroup, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var all map[string][]expectedGroup
	if err := yaml.Unmarshal(b, &all); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	groups, ok := all[target]
	if !ok {
		return nil, fmt.Errorf("%s: no entry for target %q", path, target)
	}
	for _, g := range groups {
		if strings.TrimSpace(g.Why) == "" {
			return nil, fmt.Errorf("%s: %s: a group of expected failures (%s) does not say why", path, target, strings.Join(g.Checks, ", "))
		}
	}
	return groups, nil
}

// resultDir matches the directory the suite saves a scenario's checks in.
var resultDir = regexp.MustCompile(`^(?:authorization-server|server|client)-(.+)-\d{4}-\d{2}-\d{2}T[\d-]+Z$`)

// readResults returns every check saved under dir, sorted, leaving out
// INFO entries (a trace of what the suite sent, not a verdict).
func readResults(dir string) ([]check, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []check
	for _, e := range entries {
		m := resultDir.FindStringSubmatch(e.Name())
		if !e.IsDir() || m == nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name(), "checks.json"))
		if err != nil {
			return nil, err
		}
		var cs []struct{ ID, Status string }
		if err := json.Unmarshal(b, &cs); err != nil {
			return nil, fmt.Errorf("%s: %w", e.Name(), err)
		}
		for _, c := range cs {
			if c.Status != "INFO" {
				out = append(out, check{Scenario: m[1], ID: c.ID, Status: c.Status})
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no results", dir)
	}
	slices.SortFunc(out, func(a, b check) int {
		return strings.Compare(a.name()+" "+a.Status, b.name()+" "+b.Status)
	})
	return out, nil
}

// diff returns the lines of a and b that are not in both, marked - and +.
func diff(a, b []check) []string {
	line := func(c check) string { return c.name() + " " + c.Status }
	count := map[string]int{}
	for _, c := range a {
		count[line(c)]++
	}
	for _, c := range b {
		count[line(c)]--
	}
	var out []string
	for l, n := range count {
		for ; n > 0; n-- {
			out = append(out, "- "+l)
		}
		for ; n < 0; n++ {
			out = append(out, "+ "+l)
		}
	}
	slices.SortFunc(out, func(x, y string) int { return strings.Compare(x[2:], y[2:]) })
	return out
}

// judge returns the failing checks no expected entry covers, and the
// expected entries that cover no failing check.
func judge(cs []check, groups []expectedGroup) (unexpected []check, stale []string) {
	used := map[string]bool{}
	covered := func(c check) bool {
		for _, g := range groups {
			for _, e := range g.Checks {
				if e == c.Scenario || e == c.name() {
					used[e] = true
					return true
				}
			}
		}
		return false
	}
	for _, c := range cs {
		if c.failed() && !covered(c) {
			unexpected = append(unexpected, c)
		}
	}
	for _, g := range groups {
		for _, e := range g.Checks {
			if !used[e] {
				stale = append(stale, e)
			}
		}
	}
	return unexpected, stale
}
