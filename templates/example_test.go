package templates_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"strings"
	"testing/fstest"

	"github.com/postiemail/postie/mailer"
	"github.com/postiemail/postie/templates"
	"github.com/postiemail/postie/transport/memmail"
)

// files stands in for an embed.FS: //go:embed templates, then fs.Sub(files, "templates").
var files = fstest.MapFS{
	"layouts/default.html.tmpl": {Data: []byte(`<html><head><style>.btn{color:#fff;background:#0a58ca;padding:8px 14px}</style></head>
<body><img src="images/logo.png" alt="Shop">{{template "content" .}}</body></html>`)},
	"welcome.subject.tmpl":    {Data: []byte("Welcome to Shop, {{.Name}}\n")},
	"welcome.html.tmpl":       {Data: []byte(`<p>Hi {{.Name}},</p><p><a class="btn" href="{{.URL}}">Get started</a></p>`)},
	"welcome.fr.subject.tmpl": {Data: []byte("Bienvenue chez Shop, {{.Name}}\n")},
	"welcome.fr.html.tmpl":    {Data: []byte(`<p>Bonjour {{.Name}},</p><p><a class="btn" href="{{.URL}}">Commencer</a></p>`)},
	"images/logo.png":         {Data: []byte("\x89PNG\r\n\x1a\n")},
}

type Welcome struct {
	Name string
	URL  string
}

func ExampleNew() {
	set, err := templates.New(files, nil) // parse, inline CSS and resolve images once, at start-up
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(set.Names(), set.Locales())
	// Output: [welcome] [ fr]
}

func ExampleSet_Render() {
	set, err := templates.New(files, nil)
	if err != nil {
		log.Fatal(err)
	}
	r, err := set.Render("welcome", "fr-CA", Welcome{Name: "Zoé", URL: "https://shop.example/start"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(r.Locale)
	fmt.Println(r.Subject)
	fmt.Println(r.HTML[strings.Index(r.HTML, "<a") : strings.Index(r.HTML, "</a>")+4])
	fmt.Print(r.Text)
	// Output:
	// fr
	// Bienvenue chez Shop, Zoé
	// <a class="btn" href="https://shop.example/start" style="color:#fff;background:#0a58ca;padding:8px 14px">Commencer</a>
	// Bonjour Zoé,
	//
	// Commencer (https://shop.example/start)
}

func ExampleRendered_ApplyTo() {
	set, err := templates.New(files, nil)
	if err != nil {
		log.Fatal(err)
	}
	client, sent := memmail.NewMailer(nil)
	defer client.Close()

	r, err := set.Render("welcome", "", Welcome{Name: "Ann", URL: "https://shop.example/start"})
	if err != nil {
		log.Fatal(err)
	}
	m := &mailer.Message{
		From: mail.Address{Name: "Shop", Address: "hello@shop.example"},
		To:   []mail.Address{{Name: "Ann", Address: "ann@example.com"}},
	}
	r.ApplyTo(m) // Subject, Text, HTML and the logo as an inline part
	if _, err := client.Send(context.Background(), m); err != nil {
		log.Fatal(err)
	}
	got := sent.Messages()[0]
	logo := got.Attachments[0]
	fmt.Println(got.Subject)
	fmt.Println(logo.Filename, logo.ContentType, logo.Inline, strings.Contains(got.HTML, `src="cid:`+logo.ContentID+`"`))
	// Output:
	// Welcome to Shop, Ann
	// logo.png image/png true true
}

func ExampleNewTyped() {
	set, err := templates.New(files, nil)
	if err != nil {
		log.Fatal(err)
	}
	// NewTyped checks the templates against Welcome once; Render then only accepts a Welcome.
	welcome, err := templates.NewTyped[Welcome](set, "welcome")
	if err != nil {
		log.Fatal(err)
	}
	r, err := welcome.Render("", Welcome{Name: "Ann", URL: "https://shop.example/start"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(r.Subject)

	// A type whose fields do not match the templates is refused at start-up.
	_, err = templates.NewTyped[struct{ Name string }](set, "welcome")
	fmt.Println(err != nil)
	// Output:
	// Welcome to Shop, Ann
	// true
}

func ExamplePreviewHandler() {
	set, err := templates.New(files, nil)
	if err != nil {
		log.Fatal(err)
	}
	fixtures := map[string][]templates.Fixture{
		"welcome": {{Name: "new customer", Data: Welcome{Name: "Ann", URL: "https://shop.example/start"}}},
	}
	mux := http.NewServeMux()
	mux.Handle("/previews/", http.StripPrefix("/previews", templates.PreviewHandler(set, fixtures, nil)))
	// In a development server: http.ListenAndServe("127.0.0.1:8025", mux).

	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", "/previews/", nil))
	for _, line := range strings.Split(rec.Body.String(), "\n") {
		if strings.Contains(line, "<li>") {
			fmt.Println(strings.TrimSpace(line))
		}
	}
	// Output:
	// <ul><li><a href="view?f=0&amp;l=&amp;n=welcome">new customer · base</a></li><li><a href="view?f=0&amp;l=fr&amp;n=welcome">new customer · fr</a></li></ul>
}

func ExampleHTMLToText() {
	fmt.Print(templates.HTMLToText(`<h1>Your order</h1><ol><li>Tea &amp; cake</li><li>Scones</li></ol>
<p>Track it <a href="https://shop.example/t/42">here</a>.</p>`))
	// Output:
	// Your order
	// ==========
	//
	// 1. Tea & cake
	// 2. Scones
	//
	// Track it here (https://shop.example/t/42).
}
