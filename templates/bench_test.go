package templates

import (
	"io/fs"
	"os"
	"testing"
	"testing/fstest"
)

// BenchmarkRender renders a typical notification: subject, text and HTML with a layout,
// a partial, an inline image and CSS inlined at start-up.
func BenchmarkRender(b *testing.B) {
	s := newShop(b)
	data := welcomeData{Name: "Ann Example", URL: "https://shop.example/start?token=abc123"}
	benchRender(b, s, "welcome", data)
}

// BenchmarkRenderTextFromHTML renders a notification without a text template, so the text
// is derived from the HTML on every render.
func BenchmarkRenderTextFromHTML(b *testing.B) {
	s := newShop(b)
	data := welcomeData{Name: "Ann Example", URL: "https://shop.example/start?token=abc123"}
	b.ReportAllocs()
	cpu := cpuClock()
	for b.Loop() {
		if _, err := s.Render("welcome", "fr", data); err != nil {
			b.Fatal(err)
		}
	}
	reportCPU(b, cpu)
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

// BenchmarkRenderReceipt renders the receipt of examples/templates: a full email layout
// (about 3 KB of HTML with inlined CSS), a range over line items, partials and a logo; the
// text is derived from the HTML, as that notification has no text template. Its
// BenchmarkRenderReceiptText twin renders with a text template, the typical case.
func BenchmarkRenderReceipt(b *testing.B) { benchReceipt(b, false) }

// BenchmarkRenderReceiptText is the receipt with a text template beside the HTML.
func BenchmarkRenderReceiptText(b *testing.B) { benchReceipt(b, true) }

func benchReceipt(b *testing.B, withText bool) {
	dir := os.DirFS("../examples/templates/templates")
	fsys := fstest.MapFS{}
	err := fs.WalkDir(dir, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(dir, p)
		fsys[p] = &fstest.MapFile{Data: data}
		return err
	})
	if err != nil {
		b.Skipf("examples/templates not found: %v", err)
	}
	if withText {
		fsys["receipt.txt.tmpl"] = &fstest.MapFile{Data: []byte("Thanks for your order, {{.Name}}\n\nReceipt {{.Number}}, paid on {{.Date}} with {{.Card}}.\n\n{{range .Items}}{{.Qty}} x {{.Name}}  {{.Price}}\n{{end}}Total  {{.Total}}\n\nView your order: {{.OrderURL}}\n")}
	}
	type button struct{ URL, Label string }
	s, err := New(fsys, &Options{Funcs: map[string]any{"button": func(u, l string) button { return button{u, l} }}})
	if err != nil {
		b.Fatal(err)
	}
	type line struct {
		Qty         int
		Name, Price string
	}
	data := struct {
		Name, Number, Date, Card, Total, OrderURL string
		Items                                     []line
	}{"Ada", "R-1042", "1 March 2026", "Visa 4242", "€42.50", "https://shop.example/orders/1042",
		[]line{{2, "Earl Grey tea", "€12.00"}, {1, "Teapot", "€30.50"}, {3, "Shortbread", "€9.00"}}}
	benchRender(b, s, "receipt", data)
}

// benchRender renders notification name with data in a loop, reporting bytes rendered per
// op and CPU time, and fails if rendering ever ran the CSS inliner (it runs at parse time).
func benchRender(b *testing.B, s *Set, name string, data any) {
	b.Helper()
	before := s.cssRuns.Load()
	b.ReportAllocs()
	var n int64
	cpu := cpuClock()
	for b.Loop() {
		r, err := s.Render(name, "", data)
		if err != nil {
			b.Fatal(err)
		}
		n = int64(len(r.Subject) + len(r.Text) + len(r.HTML))
	}
	reportCPU(b, cpu)
	b.SetBytes(n)
	if runs := s.cssRuns.Load() - before; runs != 0 {
		b.Fatalf("rendering ran the CSS inliner %d times", runs)
	}
}
