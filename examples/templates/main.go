// Templates renders a transactional set (welcome, password reset, receipt) from an
// embed.FS with package templates, and sends it through the default Postie stack
// (postie.New over an smtp:// URL) to an SMTP server started in this process. It prints
// what the server received: each message's subject and MIME structure, with the logo as an
// inline part of the HTML.
//
//	go run ./examples/templates                          send the three messages and print them
//	go run ./examples/templates -preview 127.0.0.1:8025  browse the previews instead
//
// The templates are in templates/: a layout with the CSS (inlined once, at start-up),
// partials, a French variant of the welcome mail, and images/logo.png. The receipt and the
// French welcome have no text template: their text is derived from the HTML.
package main

import (
	"context"
	"embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log"
	"mime"
	"mime/multipart"
	"net/http"
	"net/mail"
	"os"
	"strings"

	"github.com/postiemail/postie"
	"github.com/postiemail/postie/mailer"
	_ "github.com/postiemail/postie/smtp" // registers smtp:// and smtps://
	"github.com/postiemail/postie/smtp/smtptest"
	"github.com/postiemail/postie/templates"
)

//go:embed templates
var files embed.FS

// The data of each notification. templates.NewTyped checks the templates against them.
type (
	Welcome struct {
		Name, Email, StartURL string
	}
	PasswordReset struct {
		Name, ResetURL, ExpiresIn, IP string
	}
	Receipt struct {
		Name, Number, Date, Card, Total, OrderURL string
		Items                                     []LineItem
	}
	LineItem struct {
		Qty         int
		Name, Price string
	}
)

// Button is what the "button" partial renders: {{template "button" (button .URL "Label")}}.
type Button struct{ URL, Label string }

// notifications holds the typed renderers, built once at start-up.
type notifications struct {
	set     *templates.Set
	welcome *templates.Typed[Welcome]
	reset   *templates.Typed[PasswordReset]
	receipt *templates.Typed[Receipt]
}

func load() (*notifications, error) {
	root, err := fs.Sub(files, "templates")
	if err != nil {
		return nil, err
	}
	set, err := templates.New(root, &templates.Options{Funcs: map[string]any{
		"button": func(url, label string) Button { return Button{URL: url, Label: label} },
	}})
	if err != nil {
		return nil, err
	}
	n := &notifications{set: set}
	if n.welcome, err = templates.NewTyped[Welcome](set, "welcome"); err != nil {
		return nil, err
	}
	if n.reset, err = templates.NewTyped[PasswordReset](set, "password_reset"); err != nil {
		return nil, err
	}
	if n.receipt, err = templates.NewTyped[Receipt](set, "receipt"); err != nil {
		return nil, err
	}
	return n, nil
}

var (
	sampleWelcome = Welcome{Name: "Zoé", Email: "zoe@example.com", StartURL: "https://shop.example/start"}
	sampleReset   = PasswordReset{Name: "Ada", ResetURL: "https://shop.example/reset?token=9f8e7d", ExpiresIn: "30 minutes", IP: "203.0.113.7"}
	sampleReceipt = Receipt{
		Name: "Ada", Number: "R-1042", Date: "1 March 2026", Card: "Visa •••• 4242", Total: "€42.50",
		OrderURL: "https://shop.example/orders/1042",
		Items:    []LineItem{{2, "Earl Grey tea", "€12.00"}, {1, "Teapot", "€30.50"}},
	}
)

func main() {
	preview := flag.String("preview", "", "serve the template previews on this address (e.g. 127.0.0.1:8025) instead of sending")
	flag.Parse()
	if *preview != "" {
		n, err := load()
		if err != nil {
			log.Fatal(err)
		}
		fixtures := map[string][]templates.Fixture{
			"welcome":        {{Name: "new customer", Data: sampleWelcome}},
			"password_reset": {{Name: "from the web", Data: sampleReset}},
			"receipt":        {{Name: "two items", Data: sampleReceipt}},
		}
		log.Printf("previews on http://%s/", *preview)
		log.Fatal(http.ListenAndServe(*preview, templates.PreviewHandler(n.set, fixtures, nil)))
	}
	if err := run(context.Background(), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "templates:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out io.Writer) error {
	n, err := load() // parse, inline CSS and check the data types once
	if err != nil {
		return err
	}

	srv, err := smtptest.NewServer(nil) // an SMTP server on 127.0.0.1
	if err != nil {
		return err
	}
	defer srv.Close()
	// The default stack from a URL; tls=none is allowed only because the server is loopback.
	client, cleanup, err := postie.New(ctx, postie.Config{URL: "smtp://" + srv.Addr() + "?tls=none"})
	if err != nil {
		return err
	}
	defer cleanup()

	from := mail.Address{Name: "Acme Shop", Address: "hello@shop.example"}
	send := func(r *templates.Rendered, err error, to mail.Address) error {
		if err != nil {
			return err
		}
		m := &mailer.Message{From: from, To: []mail.Address{to}}
		r.ApplyTo(m)
		_, err = client.Send(ctx, m)
		return err
	}
	zoe, ada := mail.Address{Name: "Zoé", Address: "zoe@example.com"}, mail.Address{Name: "Ada", Address: "ada@example.com"}
	r, err := n.welcome.Render("fr-CA", sampleWelcome) // falls back to the French templates
	if err := send(r, err, zoe); err != nil {
		return err
	}
	r, err = n.reset.Render("", sampleReset)
	if err := send(r, err, ada); err != nil {
		return err
	}
	r, err = n.receipt.Render("en-GB", sampleReceipt)
	if err := send(r, err, ada); err != nil {
		return err
	}

	for _, got := range srv.Messages() {
		if err := describe(out, got); err != nil {
			return err
		}
	}
	return nil
}

// describe prints one received message: envelope, subject and MIME tree.
func describe(out io.Writer, got smtptest.Message) error {
	m, err := mail.ReadMessage(strings.NewReader(string(got.Raw)))
	if err != nil {
		return err
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%s -> %s: %q\n", got.From, strings.Join(got.To, ", "), subject)
	if err := tree(out, m.Header.Get("Content-Type"), "", m.Body, "  "); err != nil {
		return err
	}
	fmt.Fprintln(out)
	return nil
}

func tree(out io.Writer, contentType, cid string, body io.Reader, indent string) error {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return err
	}
	b, err := io.ReadAll(body)
	if err != nil {
		return err
	}
	if !strings.HasPrefix(mt, "multipart/") {
		line := fmt.Sprintf("%s%s (%d bytes)", indent, mt, len(b))
		if cid != "" {
			line += " Content-ID: " + cid
		}
		fmt.Fprintln(out, line)
		return nil
	}
	fmt.Fprintf(out, "%s%s\n", indent, mt)
	r := multipart.NewReader(strings.NewReader(string(b)), params["boundary"])
	for {
		p, err := r.NextRawPart()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := tree(out, p.Header.Get("Content-Type"), p.Header.Get("Content-Id"), p, indent+"  "); err != nil {
			return err
		}
	}
}
