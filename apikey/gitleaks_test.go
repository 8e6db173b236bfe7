package apikey

import (
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// gitleaksRule reads the gitleaks rule published in docs/api-keys.md, so
// that the documented rule is the tested one.
func gitleaksRule(t *testing.T) (*regexp.Regexp, float64) {
	t.Helper()
	doc, err := os.ReadFile("../docs/api-keys.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^regex = '''(.*)'''$`).FindSubmatch(doc)
	e := regexp.MustCompile(`(?m)^entropy = ([0-9.]+)$`).FindSubmatch(doc)
	if m == nil || e == nil {
		t.Fatal("docs/api-keys.md has no gitleaks rule with regex and entropy")
	}
	entropy, err := strconv.ParseFloat(string(e[1]), 64)
	if err != nil {
		t.Fatal(err)
	}
	return regexp.MustCompile(string(m[1])), entropy
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
