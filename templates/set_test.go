package templates

import (
	"errors"
	"io"
	"net/mail"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/postiemail/postie/mailer"
)

// pngBytes is a 1x1 PNG.
var pngBytes = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82")

func mf(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }

// shopFS is a small but complete set: a layout with CSS, partials, locales, an image.
func shopFS() fstest.MapFS {
	return fstest.MapFS{
		"layouts/default.html.tmpl": mf(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{block "title" .}}Shop{{end}}</title>
<style>
.btn { color: red; padding: 4px }
.footer a { color: gray }
td.price { text-align: right }
@media (max-width: 600px) { .btn { display: block } }
a:hover { color: green }
</style></head>
<body><div class="wrap">{{template "content" .}}</div>
<p class="footer">{{template "footer" .}}</p></body></html>
`),
		"layouts/default.txt.tmpl":  mf("{{template \"content\" .}}-- \nShop\n"),
		"partials/button.html.tmpl": mf(`<a class="btn" href="{{.URL}}">{{.Label}}</a>`),
		"partials/footer.html.tmpl": mf(`<a href="https://shop.example/help">Help</a>`),
		"welcome.subject.tmpl":      mf("Welcome, {{.Name}}!\n"),
		"welcome.html.tmpl": mf(`{{define "title"}}Welcome{{end}}<h1>Hello {{.Name}}</h1>
<img src="images/logo.png" alt="Shop">
<p>{{template "button" (dict "URL" .URL "Label" "Start")}}</p>
<p class="note">{{if .VIP}}<b>VIP</b>{{end}}</p>
`),
		"welcome.txt.tmpl":         mf("Hello {{.Name}}, start at {{.URL}}\n"),
		"welcome.fr.subject.tmpl":  mf("Bienvenue, {{.Name}} !"),
		"welcome.fr.html.tmpl":     mf(`<h1>Bonjour {{.Name}}</h1><p><a href="{{.URL}}">Commencer</a></p>`),
		"receipt.subject.tmpl":     mf("Receipt {{.Number}}"),
		"receipt.html.tmpl":        mf(`<table>{{range .Items}}<tr><td>{{.Name}}</td><td class="price">{{.Price}}</td></tr>{{end}}</table>`),
		"plain.subject.tmpl":       mf("Plain"),
		"plain.txt.tmpl":           mf("Just text, {{.Name}}.\n"),
		"images/logo.png":          {Data: pngBytes},
		"images/unused-banner.png": {Data: pngBytes},
	}
}

var testFuncs = map[string]any{
	"dict": func(kv ...any) (map[string]any, error) {
		if len(kv)%2 != 0 {
			return nil, errors.New("dict: odd number of arguments")
		}
		m := map[string]any{}
		for i := 0; i < len(kv); i += 2 {
			k, ok := kv[i].(string)
			if !ok {
				return nil, errors.New("dict: keys must be strings")
			}
			m[k] = kv[i+1]
		}
		return m, nil
	},
}

func newShop(t testing.TB) *Set {
	t.Helper()
	s, err := New(shopFS(), &Options{Funcs: testFuncs})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

type welcomeData struct {
	Name string
	URL  string
	VIP  bool
}

func TestRenderWithLayoutAndInlinedCSS(t *testing.T) {
	s := newShop(t)
	r, err := s.Render("welcome", "", welcomeData{Name: `Ann <script>alert("x")</script>`, URL: "https://shop.example/start?a=1&b=2"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Subject != `Welcome, Ann <script>alert("x")</script>!` {
		t.Errorf("subject = %q", r.Subject)
	}
	for _, want := range []string{
		// .btn{color:red} is now a style attribute on the rendered element.
		`<a class="btn" href="https://shop.example/start?a=1&amp;b=2" style="color:red;padding:4px">Start</a>`,
		// html/template still escapes the data.
		`<h1>Hello Ann &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;</h1>`,
		// A descendant selector spanning layout and partial matched.
		`<a href="https://shop.example/help" style="color:gray">Help</a>`,
		// The rules premailer cannot inline stay in a <style>.
		"@media (max-width: 600px)",
		"a:hover",
		// A block override.
		"<title>Welcome</title>",
	} {
		if !strings.Contains(r.HTML, want) {
			t.Errorf("HTML lacks %q:\n%s", want, r.HTML)
		}
	}
	if strings.Contains(r.HTML, ".footer a") || strings.Contains(r.HTML, "td.price") {
		t.Errorf("inlined rules were left in the <style>:\n%s", r.HTML)
	}
	if strings.Count(r.HTML, "<style") != 1 {
		t.Errorf("want exactly one <style> (the leftover rules):\n%s", r.HTML)
	}
	if r.Text != "Hello Ann <script>alert(\"x\")</script>, start at https://shop.example/start?a=1&b=2\n-- \nShop\n" {
		t.Errorf("text = %q", r.Text)
	}
	if r.Locale != "" || r.Name != "welcome" {
		t.Errorf("name, locale = %q, %q", r.Name, r.Locale)
	}
}

func TestInlineCSSKeepsActionsInTables(t *testing.T) {
	s := newShop(t)
	data := map[string]any{"Number": "42", "Items": []map[string]string{{"Name": "Tea", "Price": "$3"}, {"Name": "Cake & cream", "Price": "$5"}}}
	r, err := s.Render("receipt", "", data)
	if err != nil {
		t.Fatal(err)
	}
	// An HTML parser would move {{range}} text out of <table> (foster parenting) and add a
	// <tbody>; the rows must still repeat inside the table, each styled.
	want := `<table><tr><td>Tea</td><td class="price" style="text-align:right">$3</td></tr><tr><td>Cake &amp; cream</td><td class="price" style="text-align:right">$5</td></tr></table>`
	if !strings.Contains(r.HTML, want) {
		t.Errorf("HTML:\n%s\nwant it to contain\n%s", r.HTML, want)
	}
	// No text template: the text is derived from the HTML.
	if r.Text != "Tea  $3\nCake & cream  $5\n-- \nShop\n" && !strings.HasPrefix(r.Text, "Tea  $3\nCake & cream  $5") {
		t.Errorf("text = %q", r.Text)
	}
}

func TestInlineCSSEdgeCases(t *testing.T) {
	fsys := fstest.MapFS{
		"n.subject.tmpl": mf("s"),
		"n.html.tmpl": mf(`<html><head><style>
p { margin: 0 }
.x { color: blue }
.big { font-size: 20px }
img.logo { width: 120px }
</style><style media="print">.x { color: black }</style>
<style>.dyn { color: {{.Color}} }</style></head><body>
<p style="color: {{.C}}">dynamic style keeps its action last</p>
<p class="x" style="font-weight:bold">static style merges</p>
<p class='x' data-q='say "hi"'>single quotes</p>
<p class="x {{.Extra}}" title="{{.T}}">dynamic class</p>
<p class="big{{if .Small}} small{{end}}">conditional</p>
<img class="logo" src="{{.Src}}" alt="">
<p>{{/* a comment */}}{{"<b>literal</b>"}}</p>
<br/>
</body></html>`),
	}
	s, err := New(fsys, nil)
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Render("n", "", map[string]any{"Color": "red", "C": "green", "Extra": "e", "T": `a"b`, "Small": false, "Src": "https://cdn.example/l.png"})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`<p style="margin:0;color: green">dynamic style keeps its action last</p>`,
		`<p class="x" style="margin:0;color:blue;font-weight:bold">static style merges</p>`,
		`<p class='x' data-q='say "hi"' style="margin:0;color:blue">single quotes</p>`,
		`<p class="x e" title="a&#34;b" style="margin:0;color:blue">dynamic class</p>`,
		`<p class="big" style="margin:0;font-size:20px">conditional</p>`,
		`<img class="logo" src="https://cdn.example/l.png" alt="" style="width:120px" width="120">`,
		`<p style="margin:0">&lt;b&gt;literal&lt;/b&gt;</p>`,
		`<style media="print">.x { color: black }</style>`,
		`.dyn { color: red }`,
		`<br/>`,
	} {
		if !strings.Contains(r.HTML, want) {
			t.Errorf("HTML lacks %s\n%s", want, r.HTML)
		}
	}
}

func TestPartialStyledPerCallSite(t *testing.T) {
	fsys := fstest.MapFS{
		"layouts/default.html.tmpl": mf(`<style>.top a { color: red } .bottom a { color: blue }</style><div class="top">{{template "link" .}}</div>{{template "content" .}}<div class="bottom">{{template "link" .}}</div><div class="bottom">{{template "link" .}}</div>`),
		"partials/link.html.tmpl":   mf(`<a href="{{.}}">link</a>`),
		"n.subject.tmpl":            mf("s"),
		"n.html.tmpl":               mf(`<p>body</p>`),
	}
	s, err := New(fsys, nil)
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Render("n", "", "https://x.example/")
	if err != nil {
		t.Fatal(err)
	}
	want := `<div class="top"><a href="https://x.example/" style="color:red">link</a></div><p>body</p><div class="bottom"><a href="https://x.example/" style="color:blue">link</a></div><div class="bottom"><a href="https://x.example/" style="color:blue">link</a></div>`
	if r.HTML != want {
		t.Errorf("HTML\n got %s\nwant %s", r.HTML, want)
	}
	// The two identical bottom copies fold into one template.
	u := s.units["n"][""]
	var names []string
	for _, tt := range u.html.Templates() {
		names = append(names, tt.Name())
	}
	if strings.Count(strings.Join(names, ","), "link") != 2 {
		t.Errorf("want link and one specialized copy, got %v", names)
	}
}

func TestImagesBecomeInlineParts(t *testing.T) {
	s := newShop(t)
	r, err := s.Render("welcome", "", welcomeData{Name: "Ann", URL: "https://shop.example/"})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Inline) != 1 {
		t.Fatalf("inline parts = %+v, want the logo only", r.Inline)
	}
	a := r.Inline[0]
	if !a.Inline || a.Filename != "logo.png" || a.ContentType != "image/png" || !strings.HasSuffix(a.ContentID, "@postie") {
		t.Errorf("inline part = %+v", a)
	}
	if !strings.Contains(r.HTML, `<img src="cid:`+a.ContentID+`" alt="Shop">`) {
		t.Errorf("img src not rewritten to cid:%s:\n%s", a.ContentID, r.HTML)
	}
	rc, err := a.Reader()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if string(b) != string(pngBytes) {
		t.Error("inline part content differs from the asset")
	}
	// Content-IDs are deterministic across Sets.
	r2, _ := newShop(t).Render("welcome", "", welcomeData{Name: "B", URL: "u"})
	if r2.Inline[0].ContentID != a.ContentID {
		t.Errorf("Content-ID changed between two Sets: %q, %q", a.ContentID, r2.Inline[0].ContentID)
	}

	m := &mailer.Message{From: mail.Address{Address: "shop@shop.example"}, To: []mail.Address{{Address: "ann@example.com"}}}
	r.ApplyTo(m)
	r.ApplyTo(m) // idempotent
	if m.Subject != r.Subject || m.HTML != r.HTML || m.Text != r.Text || len(m.Attachments) != 1 {
		t.Fatalf("ApplyTo: %+v", m)
	}
	if err := m.Validate(); err != nil {
		t.Errorf("the applied message is invalid: %v", err)
	}
}

func TestEmbedFunc(t *testing.T) {
	fsys := fstest.MapFS{
		"n.subject.tmpl":   mf("s"),
		"n.html.tmpl":      mf(`<img src="{{embed .Logo}}"><div style="background-image:url('{{embed "img/b.png"}}')"></div>`),
		"img/a.png":        {Data: pngBytes},
		"img/b.png":        {Data: pngBytes},
		"img/not-used.gif": {Data: []byte("GIF89a")},
	}
	s, err := New(fsys, nil)
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Render("n", "", map[string]string{"Logo": "img/a.png"})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Inline) != 2 || r.Inline[0].Filename != "a.png" || r.Inline[1].Filename != "b.png" {
		t.Fatalf("inline = %+v", r.Inline)
	}
	if !strings.Contains(r.HTML, `src="cid:`+r.Inline[0].ContentID+`"`) {
		t.Errorf("html/template filtered the cid: URL:\n%s", r.HTML)
	}
	_, err = s.Render("n", "", map[string]string{"Logo": "img/missing.png"})
	if err == nil || !strings.Contains(err.Error(), `"img/missing.png" is not an asset`) {
		t.Errorf("embed of a missing asset: err = %v", err)
	}
}

func TestLocales(t *testing.T) {
	s := newShop(t)
	d := welcomeData{Name: "Zoé", URL: "https://shop.example/"}
	for _, tc := range []struct {
		locale, wantLocale, subject, h1 string
	}{
		{"", "", "Welcome, Zoé!", "Hello Zoé"},
		{"fr", "fr", "Bienvenue, Zoé !", "Bonjour Zoé"},
		{"fr-CA", "fr", "Bienvenue, Zoé !", "Bonjour Zoé"},
		{"fr_ca", "fr", "Bienvenue, Zoé !", "Bonjour Zoé"},
		{"FR", "fr", "Bienvenue, Zoé !", "Bonjour Zoé"},
		{"de-DE", "", "Welcome, Zoé!", "Hello Zoé"},
		{"not a locale!", "", "Welcome, Zoé!", "Hello Zoé"},
	} {
		r, err := s.Render("welcome", tc.locale, d)
		if err != nil {
			t.Fatalf("%q: %v", tc.locale, err)
		}
		if r.Locale != tc.wantLocale || r.Subject != tc.subject || !strings.Contains(r.HTML, tc.h1) {
			t.Errorf("locale %q: got locale %q subject %q\n%s", tc.locale, r.Locale, r.Subject, r.HTML)
		}
	}
	// welcome.fr.html.tmpl exists but welcome.fr.txt.tmpl does not: the French text comes
	// from the French HTML, not from the English text template.
	r, _ := s.Render("welcome", "fr", d)
	if !strings.HasPrefix(r.Text, "Bonjour Zoé\n===========\n\nCommencer (https://shop.example/)") {
		t.Errorf("French text = %q", r.Text)
	}
	// The French body still uses the (base) layout and its CSS.
	if !strings.Contains(r.HTML, `<p class="footer">`) {
		t.Errorf("French HTML lost the layout:\n%s", r.HTML)
	}
	if got := s.Locales(); len(got) != 2 || got[0] != "" || got[1] != "fr" {
		t.Errorf("Locales() = %q", got)
	}
	if got := s.Names(); strings.Join(got, ",") != "plain,receipt,welcome" {
		t.Errorf("Names() = %q", got)
	}
}

func TestLocalizedLayoutAndPartial(t *testing.T) {
	fsys := fstest.MapFS{
		"layouts/default.html.tmpl":    mf(`<p>EN</p>{{template "content" .}}{{template "sig" .}}`),
		"layouts/default.pt.html.tmpl": mf(`<p>PT</p>{{template "content" .}}{{template "sig" .}}`),
		"partials/sig.html.tmpl":       mf(`<i>Regards</i>`),
		"partials/sig.pt-BR.html.tmpl": mf(`<i>Abraços</i>`),
		"n.subject.tmpl":               mf("s"),
		"n.html.tmpl":                  mf(`body`),
	}
	s, err := New(fsys, nil)
	if err != nil {
		t.Fatal(err)
	}
	for loc, want := range map[string]string{
		"":      "<p>EN</p>body<i>Regards</i>",
		"pt":    "<p>PT</p>body<i>Regards</i>",
		"pt-BR": "<p>PT</p>body<i>Abraços</i>",
		"pt-PT": "<p>PT</p>body<i>Regards</i>",
		"en-US": "<p>EN</p>body<i>Regards</i>",
	} {
		r, err := s.Render("n", loc, nil)
		if err != nil {
			t.Fatal(err)
		}
		if r.HTML != want {
			t.Errorf("%q: %q, want %q", loc, r.HTML, want)
		}
	}
}

func TestLayoutDirective(t *testing.T) {
	fsys := fstest.MapFS{
		"layouts/default.html.tmpl": mf(`[default]{{template "content" .}}`),
		"layouts/wide.html.tmpl":    mf(`[wide]{{template "content" .}}`),
		"layouts/wide.txt.tmpl":     mf(`[wide text]{{template "content" .}}`),
		"a.subject.tmpl":            mf("a"),
		"a.html.tmpl":               mf(`A`),
		"b.subject.tmpl":            mf("b"),
		"b.html.tmpl":               mf("{{/* layout: wide */}}B"),
		"b.txt.tmpl":                mf("{{/* layout: wide */}}B"),
		"c.subject.tmpl":            mf("c"),
		"c.html.tmpl":               mf("{{- /* layout: none */ -}}\nC"),
	}
	s, err := New(fsys, nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"a": "[default]A", "b": "[wide]B", "c": "C"} {
		r, err := s.Render(name, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		if r.HTML != want {
			t.Errorf("%s: HTML = %q, want %q", name, r.HTML, want)
		}
	}
	r, _ := s.Render("b", "", nil)
	if r.Text != "[wide text]B" {
		t.Errorf("b text = %q", r.Text)
	}
	// Options.Layout picks another default.
	s, err = New(fsys, &Options{Layout: "wide"})
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := s.Render("a", "", nil); r.HTML != "[wide]A" {
		t.Errorf("with Layout wide: %q", r.HTML)
	}
}

func TestNewErrors(t *testing.T) {
	base := func(extra fstest.MapFS) fstest.MapFS {
		m := fstest.MapFS{"n.subject.tmpl": mf("s"), "n.html.tmpl": mf("<p>x</p>")}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	tests := []struct {
		name string
		fsys fstest.MapFS
		opts *Options
		want string
	}{
		{"syntax error names file and line", base(fstest.MapFS{"n.html.tmpl": mf("<p>\n\n{{.Name}</p>")}), nil, "n.html.tmpl:3:"},
		{"unknown func", base(fstest.MapFS{"m.subject.tmpl": mf("{{shout .}}"), "m.txt.tmpl": mf("x")}), nil, `m.subject.tmpl:1: function "shout" not defined`},
		{"no subject", base(fstest.MapFS{"m.html.tmpl": mf("x")}), nil, `notification "m" has no subject: add m.subject.tmpl`},
		{"no body", base(fstest.MapFS{"m.subject.tmpl": mf("x")}), nil, `notification "m" has no body`},
		{"bad kind", base(fstest.MapFS{"m.body.tmpl": mf("x")}), nil, "m.body.tmpl: cannot tell what this template is"},
		{"bad locale", base(fstest.MapFS{"n.f!r.html.tmpl": mf("x")}), nil, `"f!r" is not a locale`},
		{"duplicate locale", base(fstest.MapFS{"n.fr.html.tmpl": mf("x"), "n.FR.html.tmpl": mf("y")}), nil, "are the same template"},
		{"missing layout", base(fstest.MapFS{"n.html.tmpl": mf("{{/* layout: fancy */}}x")}), nil, `asks for layout "fancy"`},
		{"missing default layout", base(nil), &Options{Layout: "fancy"}, `Options.Layout is "fancy"`},
		{"layout without content", base(fstest.MapFS{"layouts/default.html.tmpl": mf("<p>no content</p>")}), nil, `never calls {{template "content" .}}`},
		{"body defines content", base(fstest.MapFS{"n.html.tmpl": mf(`{{define "content"}}x{{end}}`)}), nil, `defines "content"`},
		{"partials collide", base(fstest.MapFS{"partials/a.html.tmpl": mf(`{{define "x"}}1{{end}}`), "partials/b.html.tmpl": mf(`{{define "x"}}2{{end}}`)}), nil, `"x" is defined in both`},
		{"html context error", base(fstest.MapFS{"n.html.tmpl": mf(`{{if .A}}<a href="{{else}}<b>{{end}}x`)}), nil, "n.html.tmpl"},
		{"undefined template", base(fstest.MapFS{"n.html.tmpl": mf(`{{template "nope" .}}`)}), nil, `no such template "nope"`},
		{"layout subject", base(fstest.MapFS{"layouts/x.subject.tmpl": mf("x")}), nil, "layouts and partials are txt or html"},
		{"embed reserved", base(nil), &Options{Funcs: map[string]any{"embed": func() string { return "" }}}, `may not define "embed"`},
		{"empty", fstest.MapFS{"images/a.png": {Data: pngBytes}}, nil, "no notification templates found"},
		{"unquoted dynamic style", base(fstest.MapFS{"n.html.tmpl": mf("<style>p{color:red}</style>\n<p style={{.S}}>x</p>")}), nil, "n.html.tmpl:2: <p> has an unquoted style attribute"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.fsys, tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New: err = %v\nwant it to contain %q", err, tt.want)
			}
		})
	}
	if _, err := New(nil, nil); err == nil {
		t.Error("New(nil) succeeded")
	}
}

func TestRenderErrors(t *testing.T) {
	s := newShop(t)
	if _, err := s.Render("nope", "", nil); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "plain, receipt, welcome") {
		t.Errorf("unknown notification: %v", err)
	}
	_, err := s.Render("receipt", "", map[string]any{"Items": nil})
	if err == nil || !strings.Contains(err.Error(), `map has no entry for key "Number"`) {
		t.Errorf("missing key: %v", err)
	}
	_, err = s.Render("welcome", "", welcomeData{Name: "Eve\r\nBcc: victim@example.com"})
	if err == nil || !strings.Contains(err.Error(), "subject (welcome.subject.tmpl) contains a line break") {
		t.Errorf("subject with CRLF: %v", err)
	}
	if strings.Contains(err.Error(), "victim") {
		t.Errorf("the error repeats the data: %v", err)
	}
}

func TestTextOnlyNotification(t *testing.T) {
	r, err := newShop(t).Render("plain", "", map[string]string{"Name": "Bo"})
	if err != nil {
		t.Fatal(err)
	}
	if r.HTML != "" || r.Text != "Just text, Bo.\n-- \nShop\n" || len(r.Inline) != 0 {
		t.Errorf("%+v", r)
	}
}

func TestRenderDoesNoCSSWork(t *testing.T) {
	s := newShop(t)
	before := s.cssRuns.Load()
	if before == 0 {
		t.Fatal("New inlined no CSS at all")
	}
	for i := 0; i < 10; i++ {
		if _, err := s.Render("welcome", "fr-CA", welcomeData{Name: "x", URL: "y"}); err != nil {
			t.Fatal(err)
		}
	}
	if after := s.cssRuns.Load(); after != before {
		t.Errorf("Render ran the CSS inliner %d times", after-before)
	}
}

func TestConcurrentRender(t *testing.T) {
	s := newShop(t)
	want, _ := s.Render("welcome", "", welcomeData{Name: "x", URL: "y"})
	done := make(chan error)
	for g := 0; g < 8; g++ {
		go func() {
			for i := 0; i < 50; i++ {
				r, err := s.Render("welcome", "", welcomeData{Name: "x", URL: "y"})
				if err == nil && r.HTML != want.HTML {
					err = errors.New("different output")
				}
				if err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	for g := 0; g < 8; g++ {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}
