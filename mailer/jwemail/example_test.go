package jwemail_test

import (
	"context"
	"fmt"
	"log"

	"github.com/jordan-wright/email"

	"github.com/postiemail/postie/mailer/jwemail"
	"github.com/postiemail/postie/transport/memmail"
)

func ExampleFromEmail() {
	// Existing code builds an email.Email...
	e := email.NewEmail()
	e.From = "Shop <shop@example.com>"
	e.To = []string{"ann@example.org"}
	e.Subject = "Your invoice"
	e.Text = []byte("Attached.")

	// ...and now sends it through Postie instead of e.Send.
	m, err := jwemail.FromEmail(e)
	if err != nil {
		log.Fatal(err)
	}
	client, mem := memmail.NewMailer(nil) // in production: any mailer.Mailer
	if _, err := client.Send(context.Background(), m); err != nil {
		log.Fatal(err)
	}
	fmt.Println(mem.Messages()[0].Subject, mem.Messages()[0].Envelope.To)
	// Output:
	// Your invoice [ann@example.org]
}

func ExampleToEmail() {
	m, _ := jwemail.FromEmail(&email.Email{From: "shop@example.com", To: []string{"Ann <ann@example.org>"}, Subject: "Hi"})
	e, err := jwemail.ToEmail(m)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(e.From, e.To)
	// Output:
	// <shop@example.com> ["Ann" <ann@example.org>]
}
