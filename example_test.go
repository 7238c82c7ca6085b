package postie_test

import (
	"context"
	"fmt"
	"log"
	"net/mail"

	"github.com/postiemail/postie"
	"github.com/postiemail/postie/mailer"
	"github.com/postiemail/postie/transport/memmail"
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

// ProvideStack and Stack.Wrap build the same middleware chain as New around a transport
// of your own, for applications that wire by hand instead of with Wire.
func ExampleProvideStack() {
	mem := memmail.New(nil)
	stack := postie.ProvideStack(postie.Config{URL: "mem://", RedirectTo: "qa@example.net"})
	client := mailer.New(stack.Wrap(mem), nil)
	defer client.Close()

	_, err := client.Send(context.Background(), &mailer.Message{
		From:    mail.Address{Address: "orders@shop.example"},
		To:      []mail.Address{{Address: "ann@example.org"}},
		Subject: "Staging test",
		Text:    "Only QA gets this.",
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(stack), mem.Messages()[0].Envelope.To)
	// Output: 3 [qa@example.net]
}
