package templates

import "testing"

// BenchmarkRender renders a typical notification: subject, text and HTML with a layout,
// a partial, an inline image and CSS inlined at start-up.
func BenchmarkRender(b *testing.B) {
	s := newShop(b)
	data := welcomeData{Name: "Ann Example", URL: "https://shop.example/start?token=abc123"}
	before := s.cssRuns.Load()
	b.ReportAllocs()
	var n int64
	for b.Loop() {
		r, err := s.Render("welcome", "", data)
		if err != nil {
			b.Fatal(err)
		}
		n = int64(len(r.Subject) + len(r.Text) + len(r.HTML))
	}
	b.SetBytes(n)
	if runs := s.cssRuns.Load() - before; runs != 0 {
		b.Fatalf("rendering ran the CSS inliner %d times", runs)
	}
}

// BenchmarkRenderTextFromHTML renders a notification without a text template, so the text
// is derived from the HTML on every render.
func BenchmarkRenderTextFromHTML(b *testing.B) {
	s := newShop(b)
	data := welcomeData{Name: "Ann Example", URL: "https://shop.example/start?token=abc123"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Render("welcome", "fr", data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNew measures start-up: parsing, CSS inlining and escaping of the whole set.
func BenchmarkNew(b *testing.B) {
	fsys := shopFS()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := New(fsys, &Options{Funcs: testFuncs}); err != nil {
			b.Fatal(err)
		}
	}
}
