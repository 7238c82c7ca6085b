package smtp_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/mail"
	"time"

	"github.com/postiemail/postie/mailer"
	"github.com/postiemail/postie/smtp"
	"github.com/postiemail/postie/smtp/smtptest"
	"github.com/postiemail/postie/transport"
)

// startServer starts an in-process server with STARTTLS and one user.
func startServer() *smtptest.Server {
	srv, err := smtptest.NewServer(&smtptest.ServerOptions{Users: map[string]string{"app": "secret"}})
	if err != nil {
		log.Fatal(err)
	}
	return srv
}

// A Transport is the engine under a mailer.Client: a pool of warm connections, STARTTLS
// required, AUTH with the strongest shared mechanism.
func ExampleNew() {
	srv := startServer()
	defer srv.Close()

	tr, err := smtp.New(srv.Addr(), &smtp.Options{
		TLSConfig: srv.ClientTLSConfig(), // trust the test server's generated CA
		Username:  "app",
		Password:  "secret",
	})
	if err != nil {
		log.Fatal(err)
	}
	client := mailer.New(tr, nil)
	defer client.Close()

	rec, err := client.Send(context.Background(), &mailer.Message{
		From:    mail.Address{Name: "App", Address: "app@example.com"},
		To:      []mail.Address{{Address: "ann@example.org"}},
		Bcc:     []mail.Address{{Address: "audit@example.com"}},
		Subject: "Your receipt",
		Text:    "Thanks for your order.",
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("accepted:", rec.Accepted)
	// Output:
	// accepted: [ann@example.org audit@example.com]
}

// String (and every error) leaves the password out.
func ExampleTransport_String() {
	tr, err := smtp.New("mail.example.com:587", &smtp.Options{Username: "app", Password: "secret"})
	if err != nil {
		log.Fatal(err)
	}
	defer tr.Close()
	fmt.Println(tr)
	// Output:
	// smtp://app@mail.example.com:587 (tls=required)
}

// Errors are classified: a refused recipient does not stop the others, and the error
// says what happened to whom.
func ExampleTransport_Send() {
	srv := startServer()
	defer srv.Close()
	if err := srv.Inject(smtptest.Fault{At: smtptest.AtRcpt, Recipient: "gone@example.org", Code: 550, Enhanced: [3]int{5, 1, 1}, Text: "no such user"}); err != nil {
		log.Fatal(err)
	}
	tr, err := smtp.New(srv.Addr(), &smtp.Options{TLSConfig: srv.ClientTLSConfig(), Username: "app", Password: "secret"})
	if err != nil {
		log.Fatal(err)
	}
	defer tr.Close()

	m := &transport.Message{
		Envelope:  transport.Envelope{From: "app@example.com", To: []string{"ann@example.org", "gone@example.org"}},
		From:      mail.Address{Address: "app@example.com"},
		To:        []mail.Address{{Address: "ann@example.org"}, {Address: "gone@example.org"}},
		Subject:   "Hello",
		Date:      time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		MessageID: "hello-1@example.com",
		Text:      "Hi!",
	}
	rec, err := tr.Send(context.Background(), m)
	var pe *transport.PartialError
	if errors.As(err, &pe) {
		for _, r := range pe.Rejected {
			fmt.Println("refused:", r.Recipient, transport.CodeOf(r.Err), transport.IsTemporary(r.Err))
		}
	}
	fmt.Println("accepted:", rec.Accepted)
	// Output:
	// refused: gone@example.org NotFound false
	// accepted: [ann@example.org]
}

// Dial gives a low-level session: greeting, EHLO, STARTTLS and AUTH done.
func ExampleDial() {
	srv := startServer()
	defer srv.Close()

	ctx := context.Background()
	c, err := smtp.Dial(ctx, srv.Addr(), &smtp.Options{TLSConfig: srv.ClientTLSConfig(), Username: "app", Password: "secret"})
	if err != nil {
		log.Fatal(err)
	}
	_, pipelining := c.Extension("PIPELINING")
	_, tls := c.TLSState()
	fmt.Println("pipelining:", pipelining, "tls:", tls, "auth:", c.AuthMechanism())

	// Commands one by one, as net/smtp would send them.
	if err := c.Mail(ctx, "app@example.com", nil); err != nil {
		log.Fatal(err)
	}
	if err := c.Rcpt(ctx, "ann@example.org", nil); err != nil {
		log.Fatal(err)
	}
	w, err := c.Data(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Fprint(w, "Subject: hi\r\n\r\nHello.\r\n")
	if err := w.Close(); err != nil {
		log.Fatal(err)
	}
	fmt.Println("final reply:", w.Reply().Code)
	if err := c.Quit(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%q\n", srv.Messages()[0].Raw)
	// Output:
	// pipelining: true tls: true auth: CRAM-MD5
	// final reply: 250
	// "Subject: hi\r\n\r\nHello.\r\n"
}

// ParseURL reads the smtp:// and smtps:// URLs that mailer.OpenMailer accepts once this
// package is imported.
func ExampleParseURL() {
	addr, opts, err := smtp.ParseURL("smtp://app%40example.com:p%40ss@mail.example.com?auth=login&max_conns=8&timeout=30s")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(addr, opts.TLS, opts.Username, opts.Mechanism, opts.MaxConns, opts.Timeouts.DataTerm)

	addr, opts, _ = smtp.ParseURL("smtps://mail.example.com")
	fmt.Println(addr, opts.TLS)

	_, _, err = smtp.ParseURL("smtp://app:p%40ss@mail.example.com?tls=sometimes")
	fmt.Println(err)
	// Output:
	// mail.example.com:587 required app@example.com LOGIN 8 30s
	// mail.example.com:465 implicit
	// InvalidArgument: smtp: URL "smtp://app:xxxxx@mail.example.com?tls=xxxxx": parameter tls: unknown TLS policy "sometimes"; use required, opportunistic, none or implicit
}

// Probe is a connection test: what the server offers, and whether the credentials work.
func ExampleProbe() {
	srv := startServer()
	defer srv.Close()

	res, err := smtp.Probe(context.Background(), srv.Addr(), &smtp.Options{
		TLSConfig: srv.ClientTLSConfig(), Username: "app", Password: "secret"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Hello, res.TLS.Mode, res.TLS.Peer.Subject)
	fmt.Println(res.AuthMechanisms, res.Auth.Mechanism, res.Auth.OK)
	// Output:
	// EHLO starttls CN=localhost,O=Postie smtptest
	// [PLAIN LOGIN CRAM-MD5] CRAM-MD5 true
}

// NewClient drives a session step by step over a connection the caller made (through a
// proxy, say). The TLS policy still holds: nothing is sent before StartTLS.
func ExampleNewClient() {
	srv := startServer()
	defer srv.Close()
	ctx := context.Background()

	conn, err := net.Dial("tcp", srv.Addr())
	if err != nil {
		log.Fatal(err)
	}
	c, err := smtp.NewClient(ctx, conn, srv.Addr(), &smtp.Options{TLSConfig: srv.ClientTLSConfig()})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello(ctx, "client.example.com"); err != nil {
		log.Fatal(err)
	}
	if err := c.StartTLS(ctx); err != nil {
		log.Fatal(err)
	}
	if err := c.Auth(ctx, smtp.PlainAuth("", "app", "secret")); err != nil {
		log.Fatal(err)
	}
	rec, err := c.Send(ctx, &transport.Message{
		Envelope:  transport.Envelope{From: "app@example.com", To: []string{"ann@example.org"}},
		From:      mail.Address{Address: "app@example.com"},
		To:        []mail.Address{{Address: "ann@example.org"}},
		Subject:   "Hi",
		Date:      time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		MessageID: "hi-1@example.com",
		Text:      "Hello.",
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(rec.Accepted, srv.Messages()[0].Helo, srv.Messages()[0].User)
	// Output:
	// [ann@example.org] client.example.com app
}
