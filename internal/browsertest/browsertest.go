// Package browsertest runs pages in headless Chromium for tests: it starts
// the browser, emulates a viewport and a color scheme, and keeps
// screenshots under $MCPGATE_ARTIFACTS.
package browsertest

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

// ChromiumPath is the Debian package's browser.
const ChromiumPath = "/usr/bin/chromium"

// New starts headless Chromium with a fresh profile, stopped when t ends.
// Without Chromium the test fails, so that CI cannot pass by not running
// it, unless MCPGATE_SKIP_BROWSER=1.
func New(t *testing.T) context.Context {
	t.Helper()
	if os.Getenv("MCPGATE_SKIP_BROWSER") == "1" {
		t.Skip("MCPGATE_SKIP_BROWSER=1")
	}
	if _, err := os.Stat(ChromiumPath); err != nil {
		t.Fatalf("browser tests need Debian chromium at %s (apt-get install -y chromium), or MCPGATE_SKIP_BROWSER=1: %v", ChromiumPath, err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(ChromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 800),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(t.Context(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(func() {
		cancelTimeout()
		cancelCtx()
		cancelAlloc()
	})
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// ArtifactDir is where screenshots of sub go: $MCPGATE_ARTIFACTS/sub, or a
// temporary directory.
func ArtifactDir(t *testing.T, sub string) string {
	t.Helper()
	dir := os.Getenv("MCPGATE_ARTIFACTS")
	if dir == "" {
		return t.TempDir()
	}
	dir = filepath.Join(dir, sub)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// Screenshot saves the whole page as dir/name.
func Screenshot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s", filepath.Join(dir, name))
}

// Viewport is a window size and color scheme to look at pages in.
type Viewport struct {
	Name          string // for file names: "1280x800-light"
	Width, Height int64
	Dark          bool // prefers-color-scheme: dark
	Mobile        bool
}

// Viewports are the sizes and schemes every page is checked in: a laptop
// and a phone, each light and dark.
var Viewports = []Viewport{
	{Name: "1280x800-light", Width: 1280, Height: 800},
	{Name: "1280x800-dark", Width: 1280, Height: 800, Dark: true},
	{Name: "390x844-light", Width: 390, Height: 844, Mobile: true},
	{Name: "390x844-dark", Width: 390, Height: 844, Mobile: true, Dark: true},
}

// Emulate sets the viewport and the color scheme of the tab.
func Emulate(v Viewport) chromedp.Action[chromedp.Void] {
	scheme := "light"
	if v.Dark {
		scheme = "dark"
	}
	var opts []chromedp.EmulateViewportOption
	if v.Mobile {
		opts = append(opts, chromedp.EmulatePortrait, chromedp.EmulateMobile, chromedp.EmulateTouch)
	}
	return chromedp.Steps(
		chromedp.EmulateViewport(v.Width, v.Height, opts...),
		chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			_, err := cdp.Call(ctx, t, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
				Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}},
			})
			return err
		}),
	)
}
