// Quickstart sends one multipart message (text, HTML and a PDF attachment) through
// Postie's SMTP engine to an SMTP server started in this process: EHLO, STARTTLS, AUTH and
// one pipelined transaction. It prints the receipt and the redacted SMTP transcript, and
// needs nothing outside the process. Everything is wired by hand.
package main

import (
	"bytes"
	"context"
	"fmt"
	htmltemplate "html/template"
	"io"
	"net/mail"
	"os"
	"strings"
	texttemplate "text/template"

	"github.com/postiemail/postie/mailer"
	"github.com/postiemail/postie/smtp"
	"github.com/postiemail/postie/smtp/smtptest"
)

type order struct{ Name, Number, Total string }

var (
	textTmpl = texttemplate.Must(texttemplate.New("text").Parse("Hi {{.Name}},\n\nOrder {{.Number}} ({{.Total}}) has shipped. The invoice is attached.\n\n-- Acme Shop\n"))
	htmlTmpl = htmltemplate.Must(htmltemplate.New("html").Parse(`<p>Hi {{.Name}},</p><p>Order <b>{{.Number}}</b> ({{.Total}}) has shipped. The invoice is attached.</p><p>&mdash; Acme Shop</p>`))
)

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out io.Writer) error {
	// An SMTP server in this process: STARTTLS on a certificate made at start, one user.
	srv, err := smtptest.NewServer(&smtptest.ServerOptions{Users: map[string]string{"shop": "s3cret-pass"}})
	if err != nil {
		return err
	}
	defer srv.Close()

	// The engine: STARTTLS required (verified against the server's CA), AUTH, a transcript.
	var transcript bytes.Buffer
	tr, err := smtp.New(srv.Addr(), &smtp.Options{
		TLS: smtp.TLSRequired, TLSConfig: srv.ClientTLSConfig(),
		Username: "shop", Password: "s3cret-pass",
		Transcript: &transcript,
	})
	if err != nil {
		return err
	}
	m := mailer.New(tr, nil)
	defer m.Close()

	o := order{Name: "Ada", Number: "#1042", Total: "€42.00"}
	var text, html strings.Builder
	if err := textTmpl.Execute(&text, o); err != nil {
		return err
	}
	if err := htmlTmpl.Execute(&html, o); err != nil {
		return err
	}
	r, err := m.Send(ctx, &mailer.Message{
		From:        mail.Address{Name: "Acme Shop", Address: "orders@shop.example"},
		To:          []mail.Address{{Name: "Ada Lovelace", Address: "ada@example.com"}},
		Subject:     "Your order " + o.Number + " has shipped",
		Text:        text.String(),
		HTML:        html.String(),
		Attachments: []mailer.Attachment{mailer.NewAttachment("invoice-1042.pdf", []byte("%PDF-1.4\n% a tiny stand-in invoice\n"))},
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "sent <%s> to %s\nserver reply: %s\n", r.MessageID, strings.Join(r.Accepted, ", "), r.Reply)
	got := srv.Messages()[0]
	fmt.Fprintf(out, "the server received %d bytes over TLS=%v as user %q\n\nSMTP transcript:\n%s", got.Size, got.TLS, got.User, transcript.String())
	return nil
}
