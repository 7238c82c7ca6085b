package filemail_test

import (
	"context"
	"fmt"
	"log"
	"net/mail"
	"os"
	"path/filepath"

	"github.com/postiemail/postie/mailer"
	"github.com/postiemail/postie/transport/filemail"
)

func ExampleNew() {
	dir, err := os.MkdirTemp("", "outbox")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	tr, err := filemail.New(dir, &filemail.Options{Envelope: true})
	if err != nil {
		log.Fatal(err)
	}
	client := mailer.New(tr, nil)
	r, err := client.Send(context.Background(), &mailer.Message{
		From:    mail.Address{Address: "shop@example.com"},
		To:      []mail.Address{{Address: "ann@example.org"}},
		Bcc:     []mail.Address{{Address: "audit@example.com"}},
		Subject: "Welcome",
		Text:    "Hello Ann",
	})
	if err != nil {
		log.Fatal(err)
	}
	// r.ID is the path of the .eml; the envelope beside it names the Bcc recipient.
	env, err := filemail.ReadEnvelope(r.ID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(filepath.Ext(r.ID), env.To)
	// Output:
	// .eml [ann@example.org audit@example.com]
}

func Example_url() {
	// Importing filemail registers "file" on the default URL mux.
	_, err := mailer.OpenMailer(context.Background(), "file:///no/such/postie/dir")
	fmt.Println(err)
	// Output:
	// InvalidArgument: filemail: directory "/no/such/postie/dir" does not exist: create it (mkdir -p /no/such/postie/dir) or name an existing directory
}
