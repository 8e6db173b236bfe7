package login

import (
	"regexp"
	"strings"
	"testing"

	"github.com/mcpgate/mcpgate/internal/browsertest"
)

// themes reads the custom properties of the stylesheet: those of the
// first :root rule (the light theme), and those again with the :root rule
// inside @media (prefers-color-scheme: dark) applied over them.
func themes(t *testing.T, css string) map[string]map[string]string {
	t.Helper()
	css = regexp.MustCompile(`(?s)/\*.*?\*/`).ReplaceAllString(css, "")
	root := regexp.MustCompile(`(?s):root\s*\{(.*?)\}`)
	m := root.FindStringSubmatchIndex(css)
	if m == nil {
		t.Fatal("no :root rule")
	}
	light := props(css[m[2]:m[3]])
	i := strings.Index(css, "@media (prefers-color-scheme: dark)")
	if i < 0 {
		t.Fatal("no dark theme: @media (prefers-color-scheme: dark)")
	}
	d := root.FindStringSubmatch(css[i:])
	if d == nil {
		t.Fatal("no :root rule in the dark theme")
	}
	dark := map[string]string{}
	for k, v := range light {
		dark[k] = v
	}
	for k, v := range props(d[1]) {
		if _, ok := light[k]; !ok {
			t.Errorf("dark theme sets %s, which the light theme does not", k)
		}
		dark[k] = v
	}
	for k := range light {
		if strings.HasPrefix(light[k], "#") && dark[k] == light[k] {
			t.Errorf("dark theme keeps the light %s %s", k, light[k])
		}
	}
	return map[string]map[string]string{"light": light, "dark": dark}
}

func props(block string) map[string]string {
	out := map[string]string{}
	for _, decl := range strings.Split(block, ";") {
		k, v, ok := strings.Cut(decl, ":")
		if k = strings.TrimSpace(k); ok && strings.HasPrefix(k, "--") {
			out[k] = strings.TrimSpace(v)
		}
	}
	return out
}

// contrastRules are the pairs of colors that must be told apart, and by
// how much: 4.5:1 for text (WCAG 1.4.3), 3:1 for the borders of fields and
// buttons and for focus rings (WCAG 1.4.11).
var contrastRules = []struct {
	fg, bg string
	min    float64
	what   string
}{
	{"--field-border", "--field-bg", 3, "field border on the field"},
	{"--field-border", "--card", 3, "field border on the card"},
	{"--field-border", "--subtle-bg", 3, "the chosen server's border"},
	{"--danger", "--field-bg", 3, "the border of a field in error"},
	{"--accent", "--field-bg", 3, "focus ring on a field"},
	{"--accent", "--card", 4.5, "links"},
	{"--text", "--card", 4.5, "text"},
	{"--text", "--field-bg", 4.5, "typed text"},
	{"--text", "--bg", 4.5, "text on the page"},
	{"--text", "--code-bg", 4.5, "code snippets"},
	{"--text", "--ok-bg", 4.5, "notices"},
	{"--muted", "--card", 4.5, "secondary text"},
	{"--muted", "--subtle-bg", 4.5, "secondary text in boxes"},
	{"--muted", "--code-bg", 4.5, "scope names"},
	{"--on-accent", "--accent", 4.5, "primary button text"},
	{"--on-accent", "--accent-hover", 4.5, "primary button text, hovered"},
	{"--danger", "--card", 4.5, "revoke button text"},
	{"--danger", "--danger-hover-bg", 4.5, "revoke button text, hovered"},
	{"--text", "--hover-bg", 4.5, "secondary button text, hovered"},
	{"--error-text", "--error-bg", 4.5, "error messages"},
	{"--warn-text", "--warn-bg", 4.5, "warnings"},
}

// TestContrast computes, from the stylesheet's own values, the contrast
// of every pair in contrastRules in the light and the dark theme.
func TestContrast(t *testing.T) {
	for name, vars := range themes(t, string(styleCSS)) {
		for _, r := range contrastRules {
			fg, err1 := browsertest.ParseColor(vars[r.fg])
			bg, err2 := browsertest.ParseColor(vars[r.bg])
			if err1 != nil || err2 != nil {
				t.Errorf("%s: %s %q / %s %q: %v %v", name, r.fg, vars[r.fg], r.bg, vars[r.bg], err1, err2)
				continue
			}
			got := browsertest.Contrast(fg, bg)
			if got < r.min {
				t.Errorf("%s theme, %s: %s %s on %s %s is %.2f:1, want at least %.1f:1", name, r.what, r.fg, vars[r.fg], r.bg, vars[r.bg], got, r.min)
			} else {
				t.Logf("%s theme, %s: %.2f:1", name, r.what, got)
			}
		}
	}
}

// TestStylesheetColorsAreVariables: outside the two :root rules the
// stylesheet names no color of its own, so that the dark theme cannot miss
// one, and fields take their border from --field-border.
func TestStylesheetColorsAreVariables(t *testing.T) {
	css := regexp.MustCompile(`(?s)/\*.*?\*/`).ReplaceAllString(string(styleCSS), "")
	rest := regexp.MustCompile(`(?s):root\s*\{.*?\}`).ReplaceAllString(css, "")
	if m := regexp.MustCompile(`#[0-9a-fA-F]{3,8}\b|rgba?\(|[\s:](white|black)\s*[;}!]`).FindAllString(rest, -1); len(m) > 0 {
		t.Errorf("colors outside :root: %v", m)
	}
	field := regexp.MustCompile(`(?s)input\[type=text\], input\[type=password\] \{(.*?)\}`).FindStringSubmatch(css)
	if field == nil || !strings.Contains(field[1], "border: 1px solid var(--field-border)") || !strings.Contains(field[1], "background: var(--field-bg)") {
		t.Errorf("text fields do not use --field-border and --field-bg: %q", field)
	}
}
