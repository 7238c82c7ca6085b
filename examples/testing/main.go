// Command testing shows how an application that sends mail is tested with Postie: the
// application depends on mailer.Mailer, production passes a real Client, and the tests in
// signup_test.go pass a mailertest.Recorder and assert on what was sent.
//
// Run it with: go run ./examples/testing   (and its tests with go test ./examples/testing)
package main

import (
	"context"
	"fmt"
	"log"
	"net/mail"

	"github.com/postiemail/postie/mailer"
	"github.com/postiemail/postie/transport/memmail"
)

// Signups registers users and sends each a confirmation mail.
type Signups struct {
	Mail mailer.Mailer // the interface, so tests can pass a Recorder
	From mail.Address
}

// SignUp sends the confirmation mail for a new user.
func (s *Signups) SignUp(ctx context.Context, name, addr, token string) error {
	_, err := s.Mail.Send(ctx, &mailer.Message{
		From:    s.From,
		To:      []mail.Address{{Name: name, Address: addr}},
		Subject: "Confirm your account",
		Text:    fmt.Sprintf("Hello %s,\n\nconfirm your account: https://shop.example/confirm?t=%s\n", name, token),
		Headers: map[string][]string{"X-Campaign": {"signup"}},
	})
	if err != nil {
		return fmt.Errorf("signup %s: %w", addr, err)
	}
	return nil
}

func main() {
	client, mem := memmail.NewMailer(nil)
	defer client.Close()
	s := &Signups{Mail: client, From: mail.Address{Name: "Shop", Address: "hello@shop.example"}}
	if err := s.SignUp(context.Background(), "Ann", "ann@example.org", "t0k3n"); err != nil {
		log.Fatal(err)
	}
	for _, m := range mem.Messages() {
		fmt.Printf("sent %q to %v\n", m.Subject, m.Envelope.To)
	}
}
