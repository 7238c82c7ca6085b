// Command wired builds its mailer with Wire: wire.go declares the injector, wire_gen.go is
// what `go tool wire ./examples/wired` generated from it, and main only calls it.
//
//	go run ./examples/wired                      # writes the message as an .eml file
//	go run ./examples/wired -url smtp://mail.example:587
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net/mail"
	"os"

	"github.com/postiemail/postie"
	"github.com/postiemail/postie/mailer"
)

// Notifier is the application's part that sends mail. It depends on the interface.
type Notifier struct {
	Mailer mailer.Mailer
}

// NewNotifier is the application's provider, wired after postie.MailerSet.
func NewNotifier(m mailer.Mailer) *Notifier { return &Notifier{Mailer: m} }

// Welcome sends the welcome mail.
func (n *Notifier) Welcome(ctx context.Context, to mail.Address) (*mailer.Receipt, error) {
	return n.Mailer.Send(ctx, &mailer.Message{
		From:    mail.Address{Name: "Shop", Address: "hello@shop.example"},
		To:      []mail.Address{to},
		Subject: "Welcome, " + to.Name,
		Text:    "Thanks for signing up.",
	})
}

func main() {
	dir, err := os.MkdirTemp("", "postie-wired-")
	if err != nil {
		log.Fatal(err)
	}
	url := flag.String("url", "file://"+dir, "transport URL")
	flag.Parse()

	ctx := context.Background()
	n, cleanup, err := initNotifier(ctx, postie.Config{URL: *url})
	if err != nil {
		log.Fatal(err)
	}
	defer cleanup()
	r, err := n.Welcome(ctx, mail.Address{Name: "Ann", Address: "ann@example.org"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("sent <%s> to %v (backend id %s)\n", r.MessageID, r.Accepted, r.ID)
}
