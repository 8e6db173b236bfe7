package gateway_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

const chromiumPath = "/usr/bin/chromium"

// TestBrowserConsentPerEndpoint: in headless Chromium, the consent page for
// an upstream asks for that upstream's permissions, in its policy's words
// or by name, and never for the built-in server's; the one for the
// built-in server asks for its own. Screenshots go to
// $MCPGATE_ARTIFACTS/gateway.
func TestBrowserConsentPerEndpoint(t *testing.T) {
	if os.Getenv("MCPGATE_SKIP_BROWSER") == "1" {
		t.Skip("MCPGATE_SKIP_BROWSER=1")
	}
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("browser tests need Debian chromium at %s, or MCPGATE_SKIP_BROWSER=1: %v", chromiumPath, err)
	}
	e := newResEnv(t)
	dir := t.TempDir()
	if a := os.Getenv("MCPGATE_ARTIFACTS"); a != "" {
		dir = filepath.Join(a, "gateway")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(t.Context(),
		chromedp.ExecPath(chromiumPath), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(900, 760))
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	defer cancelTimeout()

	signedIn := false
	consent := func(resource, shot string) string {
		t.Helper()
		steps := []chromedp.Action[chromedp.Void]{chromedp.Navigate(e.authorizeURL(resource, ""))}
		if !signedIn {
			steps = append(steps,
				chromedp.WaitVisible(chromedp.ID("username")),
				chromedp.SendKeys(chromedp.ID("username"), "alice"),
				chromedp.SendKeys(chromedp.ID("password"), resPassword),
				chromedp.Click(chromedp.ID("sign-in")))
			signedIn = true
		}
		steps = append(steps, chromedp.WaitVisible(chromedp.ID("approve")))
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("consent for %s: %v", resource, err)
		}
		text, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("ul.scopes")))
		if err != nil {
			t.Fatal(err)
		}
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, shot), png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot %s", filepath.Join(dir, shot))
		return text
	}

	upstream := consent(e.jira, "consent-upstream.png")
	for _, want := range []string{"Search your Jira issues", "jira:read", "Use the jira:write permission"} {
		if !strings.Contains(upstream, want) {
			t.Errorf("upstream's consent lacks %q: %q", want, upstream)
		}
	}
	if strings.Contains(upstream, "notes") || strings.Contains(upstream, "documents") {
		t.Errorf("upstream's consent asks for the built-in server's permissions: %q", upstream)
	}
	builtin := consent(e.builtin, "consent-builtin.png")
	if !strings.Contains(builtin, "Read your notes") || strings.Contains(builtin, "jira") {
		t.Errorf("built-in server's consent: %q", builtin)
	}
}
