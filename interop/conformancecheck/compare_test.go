package main

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func mustResults(t *testing.T, scenarios map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, checks := range scenarios {
		d := filepath.Join(dir, "server-"+name+"-2026-11-29T09-45-38-937Z")
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "checks.json"), []byte(checks), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestReadResults(t *testing.T) {
	dir := mustResults(t, map[string]string{
		"server-stateless": `[{"id":"b","status":"SUCCESS"},{"id":"a","status":"WARNING"},{"id":"trace","status":"INFO"}]`,
		"tools-list":       `[{"id":"tools-list","status":"FAILURE"}]`,
	})
	got, err := readResults(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []check{
		{"server-stateless", "a", "WARNING"},
		{"server-stateless", "b", "SUCCESS"},
		{"tools-list", "tools-list", "FAILURE"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("readResults = %v, want %v", got, want)
	}
	if _, err := readResults(t.TempDir()); err == nil {
		t.Error("an empty results directory is no error")
	}
}

func TestJudge(t *testing.T) {
	cs := []check{
		{"caching", "ttl", "SUCCESS"},
		{"tasks-lifecycle", "create", "FAILURE"},
		{"tasks-lifecycle", "cancel", "FAILURE"},
		{"server-sse-polling", "priming", "WARNING"},
		{"server-stateless", "logs", "FAILURE"},
	}
	groups := []expectedGroup{
		{Checks: []string{"tasks-lifecycle"}, Why: "not implemented"},
		{Checks: []string{"server-sse-polling:priming", "caching:ttl", "gone"}, Why: "reasons"},
	}
	unexpected, stale := judge(cs, groups)
	if want := []check{{"server-stateless", "logs", "FAILURE"}}; !slices.Equal(unexpected, want) {
		t.Errorf("unexpected = %v, want %v", unexpected, want)
	}
	if want := []string{"caching:ttl", "gone"}; !slices.Equal(stale, want) {
		t.Errorf("stale = %q, want %q", stale, want)
	}
}

func TestDiff(t *testing.T) {
	a := []check{{"s", "x", "SUCCESS"}, {"s", "y", "FAILURE"}}
	b := []check{{"s", "x", "SUCCESS"}, {"s", "y", "SUCCESS"}}
	if got := diff(a, a); len(got) != 0 {
		t.Errorf("diff of a list with itself = %q", got)
	}
	if got, want := diff(a, b), []string{"- s:y FAILURE", "+ s:y SUCCESS"}; !slices.Equal(got, want) {
		t.Errorf("diff = %q, want %q", got, want)
	}
}

func TestReadExpectedNeedsReasons(t *testing.T) {
	path := filepath.Join(t.TempDir(), "expected.yml")
	if err := os.WriteFile(path, []byte("a:\n  - checks: [x]\n    why: because\nb:\n  - checks: [y]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := readExpected(path, "a"); err != nil {
		t.Errorf("target a: %v", err)
	}
	if _, err := readExpected(path, "b"); err == nil {
		t.Error("target b: a group without a reason is accepted")
	}
	if _, err := readExpected(path, "c"); err == nil {
		t.Error("target c: a missing target is accepted")
	}
}
