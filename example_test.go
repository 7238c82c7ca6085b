package postie_test

import (
	"context"
	"fmt"
	"log"
	"net/mail"

	"github.com/postiemail/postie"
	"github.com/postiemail/postie/mailer"
)

// New builds the whole default stack from a Config; here the in-memory transport stands in
// for an SMTP server.
func ExampleNew() {
	ctx := context.Background()
	client, cleanup, err := postie.New(ctx, postie.Config{URL: "mem://"})
	if err != nil {
		log.Fatal(err)
	}
	defer cleanup()

	receipt, err := client.Send(ctx, &mailer.Message{
		From:    mail.Address{Name: "Shop", Address: "orders@shop.example"},
		To:      []mail.Address{{Name: "Ann", Address: "ann@example.org"}},
		Subject: "Your order has shipped",
		Text:    "It is on its way.",
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("accepted:", receipt.Accepted)
	// Output: accepted: [ann@example.org]
}
