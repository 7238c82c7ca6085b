package smtptest_test

import (
	"fmt"
	"log"
	"strings"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"github.com/postiemail/postie/smtp/smtptest"
)

// A server with STARTTLS and one user; any SMTP client that trusts RootCAs can send to it.
func ExampleNewServer() {
	srv, err := smtptest.NewServer(&smtptest.ServerOptions{
		Users: map[string]string{"app": "secret"},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	c, err := gosmtp.DialStartTLS(srv.Addr(), srv.ClientTLSConfig())
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	if err := c.Auth(sasl.NewPlainClient("", "app", "secret")); err != nil {
		log.Fatal(err)
	}
	err = c.SendMail("app@example.com", []string{"user@example.net"},
		strings.NewReader("Subject: hello\r\n\r\nHi!\r\n"))
	if err != nil {
		log.Fatal(err)
	}

	m := srv.Messages()[0]
	fmt.Println(m.From, m.To, m.User, m.TLS)
	fmt.Printf("%q\n", m.Raw)
	// Output:
	// app@example.com [user@example.net] app true
	// "Subject: hello\r\n\r\nHi!\r\n"
}

// Faults make the server refuse a recipient, fail a command, drop the connection after
// the body, or stall.
func ExampleServer_Inject() {
	srv, err := smtptest.NewServer(nil)
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	srv.Inject(smtptest.Fault{At: smtptest.AtRcpt, Recipient: "gone@example.net",
		Code: 550, Enhanced: [3]int{5, 1, 1}, Text: "no such user"})

	c, err := gosmtp.DialStartTLS(srv.Addr(), srv.ClientTLSConfig())
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	_ = c.Mail("app@example.com", nil)
	fmt.Println(c.Rcpt("gone@example.net", nil))
	fmt.Println(c.Rcpt("here@example.net", nil))
	// Output:
	// SMTP error 550: no such user
	// <nil>
}
