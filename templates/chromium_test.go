package templates

import (
	"bytes"
	"context"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromiumPath returns the Chromium binary, skipping the test when there is none (and
// failing it in CI, where .ci/install-chromium.sh must have installed one).
func chromiumPath(t *testing.T) string {
	t.Helper()
	exe := os.Getenv("POSTIE_CHROMIUM")
	if exe == "" {
		exe = "/usr/bin/chromium"
	}
	if _, err := os.Stat(exe); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no Chromium at %s (CI=true): run .ci/install-chromium.sh or set POSTIE_CHROMIUM", exe)
		}
		t.Skipf("SKIP: no Chromium at %s: install it (.ci/install-chromium.sh) or set POSTIE_CHROMIUM to run the browser test", exe)
	}
	return exe
}

// TestPreviewInChromium opens the preview handler in a real headless Chromium, clicks
// into a notification, checks what the sandboxed iframe rendered and takes a screenshot.
func TestPreviewInChromium(t *testing.T) {
	exe := chromiumPath(t)
	srv := previewServer(t)

	actx, cancel := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1200, 1100),
	)
	defer cancel()
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	defer cancel()
	// A bound on a hung browser, not a speed assertion.
	ctx, cancel = context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()

	link := chromedp.CSS(`a[href="view?f=0&l=&n=welcome"]`)
	if err := chromedp.Do(ctx,
		chromedp.Navigate(srv.URL+"/previews/"),
		chromedp.WaitVisible(link),
		chromedp.Click(link),
		chromedp.WaitVisible(chromedp.CSS("iframe#email")),
	); err != nil {
		t.Fatal(err)
	}
	title, err := chromedp.Run(ctx, chromedp.Title())
	if err != nil {
		t.Fatal(err)
	}
	if title != "welcome · new customer · base" {
		t.Errorf("title after the click = %q", title)
	}
	frame, err := chromedp.Run(ctx, chromedp.Attributes(chromedp.CSS("iframe#email")))
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := frame["sandbox"]; !ok || v != "" {
		t.Errorf("iframe sandbox attribute = %q, %v; want an empty sandbox", v, ok)
	}

	// The sandboxed frame has an opaque origin, so Chromium may run it as its own target
	// (site isolation); read its document through that target when it does.
	fctx, in := frameContext(t, ctx)
	if err := chromedp.Do(fctx, chromedp.WaitVisible(chromedp.CSS("a.btn"), in...)); err != nil {
		t.Fatal(err)
	}
	h1, err := chromedp.Run(fctx, chromedp.Text(chromedp.CSS("h1"), in...))
	if err != nil {
		t.Fatal(err)
	}
	btn, err := chromedp.Run(fctx, chromedp.Attributes(chromedp.CSS("a.btn"), in...))
	if err != nil {
		t.Fatal(err)
	}
	logo, err := chromedp.Run(fctx, chromedp.Attributes(chromedp.CSS("img"), in...))
	if err != nil {
		t.Fatal(err)
	}
	if h1 != "Hello Ann" {
		t.Errorf("iframe h1 = %q", h1)
	}
	if btn["style"] != "color:red;padding:4px" || btn["href"] != "https://shop.example/start" {
		t.Errorf("iframe button = %v", btn)
	}
	if !strings.HasPrefix(logo["src"], "data:image/png;base64,") {
		t.Errorf("iframe logo src = %.40q", logo["src"])
	}
	// The inlined style is what the browser computed for the button.
	styles, err := chromedp.Run(fctx, chromedp.ComputedStyle(chromedp.CSS("a.btn"), in...))
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range styles {
		if st.Name == "color" && st.Value != "rgb(255, 0, 0)" {
			t.Errorf("computed color of the button = %q", st.Value)
		}
	}

	shot, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "preview.png")
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatalf("screenshot is not a PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() < 100 || b.Dy() < 100 {
		t.Errorf("screenshot is %v", b)
	}
	if out := os.Getenv("POSTIE_SCREENSHOT"); out != "" { // to look at it by hand
		os.WriteFile(out, shot, 0o644)
	}
	t.Logf("screenshot: %s (%d bytes)", path, len(shot))
}

// frameContext returns where the document of the preview's iframe can be queried: its own
// target when Chromium isolated the sandboxed (opaque-origin) frame, as it does by default,
// else the page with FromNode on the iframe element.
func frameContext(t *testing.T, ctx context.Context) (context.Context, []chromedp.QueryOption) {
	t.Helper()
	infos, err := chromedp.Targets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, info := range infos {
		if info.Type == "iframe" && strings.Contains(info.URL, "/previews/html?") {
			fctx, cancel := chromedp.NewContext(ctx, chromedp.WithTargetID(info.TargetID))
			t.Cleanup(cancel)
			return fctx, nil
		}
	}
	t.Log("the iframe runs in the page's process; querying it through the iframe element")
	nodes, err := chromedp.Run(ctx, chromedp.Nodes(chromedp.CSS("iframe#email"), chromedp.Populate(-1, true)))
	if err != nil || len(nodes) == 0 {
		t.Fatalf("iframe element: %v", err)
	}
	return ctx, []chromedp.QueryOption{chromedp.FromNode(nodes[0])}
}
