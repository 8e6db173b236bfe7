package apikey

import (
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// gitleaksRule reads the mcpgate key rule of the repository's
// .gitleaks.toml, which scripts/test.sh runs gitleaks with, and checks that
// docs/api-keys.md publishes the same rule, so that the documented rule is
// the tested and the enforced one.
func gitleaksRule(t *testing.T) (*regexp.Regexp, float64) {
	t.Helper()
	conf := ruleBlock(t, "../.gitleaks.toml")
	if doc := ruleBlock(t, "../docs/api-keys.md"); doc != conf {
		t.Fatalf("docs/api-keys.md documents\n%s\nbut .gitleaks.toml has\n%s", doc, conf)
	}
	m := regexp.MustCompile(`(?m)^regex = '''(.*)'''$`).FindStringSubmatch(conf)
	e := regexp.MustCompile(`(?m)^entropy = ([0-9.]+)$`).FindStringSubmatch(conf)
	if m == nil || e == nil {
		t.Fatal("the mcpgate-api-key rule has no regex or no entropy")
	}
	entropy, err := strconv.ParseFloat(e[1], 64)
	if err != nil {
		t.Fatal(err)
	}
	return regexp.MustCompile(m[1]), entropy
}

// ruleBlock returns the [[rules]] block of the mcpgate-api-key rule in a
// TOML file or a markdown page quoting one: from its header to the first
// blank line or code fence.
func ruleBlock(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?m)^\\[\\[rules\\]\\]\nid = \"mcpgate-api-key\"\n(?:[^\n`]+\n)*").Find(b)
	if m == nil {
		t.Fatalf("%s has no [[rules]] block with id = \"mcpgate-api-key\"", path)
	}
	return string(m)
}

func TestGitleaksConfigKeepsDefaults(t *testing.T) {
	b, err := os.ReadFile("../.gitleaks.toml")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^\[extend\]\nuseDefault = true$`).Match(b) {
		t.Error(".gitleaks.toml must extend gitleaks' default rules")
	}
}

// shannon is the entropy in bits per character, as gitleaks computes it.
func shannon(s string) float64 {
	counts := map[rune]float64{}
	for _, r := range s {
		counts[r]++
	}
	var h float64
	n := float64(len(s))
	for _, c := range counts {
		p := c / n
		h -= p * math.Log2(p)
	}
	return h
}

func TestGitleaksRule(t *testing.T) {
	re, minEntropy := gitleaksRule(t)
	for range 200 {
		key, _, _ := mustGenerate(t)
		for _, text := range []string{
			key,
			"MCPGATE_KEY=" + key + "\n",
			`{"headers":{"Authorization":"Bearer ` + key + `"}}`,
			"claude mcp add --header 'Authorization: Bearer " + key + "'",
		} {
			m := re.FindStringSubmatch(text)
			if m == nil || m[1] != key {
				t.Fatalf("rule misses %q in %q", key, text)
			}
		}
		if h := shannon(key); h < minEntropy {
			t.Fatalf("generated key %q has entropy %.2f below the rule's %.2f", key, h, minEntropy)
		}
		if re.MatchString(key+"0") || re.MatchString(key[:Len-1]) {
			t.Fatalf("rule matches a string of the wrong length")
		}
	}
	example := "mcpg_k3Y9xq2LmT0a_" + strings.Repeat("S", 43) + "CCCCCC"
	if !re.MatchString(example) || shannon(example) >= minEntropy || Looks(example) {
		t.Errorf("the documented placeholder must match the shape but be dropped by entropy and checksum")
	}
}
