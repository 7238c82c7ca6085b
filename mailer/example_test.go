package mailer_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/mail"
	"net/url"
	"os"
	"path/filepath"
	"testing/fstest"
	"time"

	"github.com/postiemail/postie/mailer"
	"github.com/postiemail/postie/transport"
	"github.com/postiemail/postie/transport/memmail"
)

func ExampleClient_Send() {
	ctx := context.Background()
	mem := memmail.New(nil) // in production: the SMTP engine or a provider, under middleware
	client := mailer.New(mem, nil)
	defer client.Close()

	r, err := client.Send(ctx, &mailer.Message{
		From:    mail.Address{Name: "Shop", Address: "no-reply@shop.example"},
		To:      []mail.Address{{Name: "Ann", Address: "ann@example.org"}},
		Bcc:     []mail.Address{{Address: "audit@shop.example"}},
		Subject: "Your order has shipped",
		Text:    "It is on its way.",
		HTML:    "<p>It is on its way.</p>",
	})
	if err != nil {
		log.Fatal(err)
	}
	sent := mem.Messages()[0]
	fmt.Println("accepted:", r.Accepted)
	fmt.Println("envelope:", sent.Envelope.To)
	_, hasBcc := sent.Header("Bcc")
	fmt.Println("Bcc header:", hasBcc)
	// Output:
	// accepted: [ann@example.org audit@shop.example]
	// envelope: [ann@example.org audit@shop.example]
	// Bcc header: false
}

func ExampleOpenMailer() {
	ctx := context.Background()
	// The scheme's package registers it; here memmail (imported above) provides "mem".
	client, err := mailer.OpenMailer(ctx, "mem://?max=100")
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	_, err = mailer.OpenMailer(ctx, "carrier-pigeon://coop")
	fmt.Println(mailer.CodeOf(err))
	// Output:
	// InvalidArgument
}

func ExampleNew() {
	// Fixed clock and ids make previews and golden tests deterministic.
	client := mailer.New(memmail.New(nil), &mailer.Options{
		Now:          func() time.Time { return time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC) },
		NewMessageID: func(domain string) string { return "preview@" + domain },
	})
	tm, err := client.Prepare(&mailer.Message{
		From: mail.Address{Address: "no-reply@shop.example"},
		To:   []mail.Address{{Address: "ann@example.org"}},
		Text: "Hi",
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(tm.MessageID, tm.Date.Format(time.RFC3339))
	// Output:
	// preview@shop.example 2025-01-02T03:04:05Z
}

func ExampleClient_Prepare() {
	client := mailer.New(memmail.New(nil), nil)
	tm, err := client.Prepare(&mailer.Message{
		From: mail.Address{Address: "no-reply@shop.example"},
		To:   []mail.Address{{Address: "ann@example.org"}},
		Cc:   []mail.Address{{Address: "ann@EXAMPLE.org"}}, // the same mailbox
		Bcc:  []mail.Address{{Address: "Ann@example.org"}}, // a different one: local parts are case-sensitive
		Text: "Hi",
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(tm.Envelope.To)
	// Output:
	// [ann@example.org Ann@example.org]
}

func ExampleMessage_Validate() {
	m := &mailer.Message{
		From:    mail.Address{Address: "no-reply@shop.example"},
		To:      []mail.Address{{Address: "ann@example.org"}},
		Subject: "Hello\r\nBcc: everyone@example.org", // header injection
	}
	err := m.Validate()
	var fe *mailer.FieldError
	if errors.As(err, &fe) {
		fmt.Println(mailer.CodeOf(err), fe.Field, "-", fe.Reason)
	}
	// Output:
	// InvalidArgument Subject - contains CR or LF
}

func ExampleInline() {
	logo := mailer.Inline(mailer.NewAttachment("logo.png", []byte("\x89PNG...")), "logo@shop.example")
	m := &mailer.Message{
		From:        mail.Address{Address: "no-reply@shop.example"},
		To:          []mail.Address{{Address: "ann@example.org"}},
		HTML:        `<img src="cid:logo@shop.example" alt="Shop">`,
		Attachments: []mailer.Attachment{logo, mailer.NewAttachment("invoice.pdf", []byte("%PDF-1.7"))},
	}
	fmt.Println(m.Validate(), logo.Inline, logo.ContentType, m.Attachments[1].ContentType)
	// Output:
	// <nil> true image/png application/pdf
}

func ExampleAttachmentFromFS() {
	// Usually an embed.FS of assets; it is opened again on every send (and every retry).
	assets := fstest.MapFS{"terms.txt": {Data: []byte("Be nice.")}}
	a, err := mailer.AttachmentFromFS(assets, "terms.txt")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(a.Filename, a.ContentType, a.Size)
	// Output:
	// terms.txt text/plain; charset=utf-8 8
}

func ExampleIsPartial() {
	mem := memmail.New(nil)
	mem.RejectRecipient("gone@example.org", nil) // answers like "550 5.1.1 no such user"
	client := mailer.New(mem, nil)
	r, err := client.Send(context.Background(), &mailer.Message{
		From: mail.Address{Address: "no-reply@shop.example"},
		To:   []mail.Address{{Address: "ann@example.org"}, {Address: "gone@example.org"}},
		Text: "Hi",
	})
	if pe, ok := mailer.IsPartial(err); ok {
		fmt.Println("delivered to:", r.Accepted)
		for _, re := range pe.Rejected {
			fmt.Println("refused:", re.Recipient, mailer.CodeOf(re.Err), "temporary:", mailer.IsTemporary(re.Err))
		}
	}
	// Output:
	// delivered to: [ann@example.org]
	// refused: gone@example.org NotFound temporary: false
}

func ExampleURLMux() {
	// A private mux, for tests or for an application that wants its own schemes.
	var mux mailer.URLMux
	mux.Register("null", mailer.URLOpenerFunc(func(ctx context.Context, u *url.URL) (transport.Transport, error) {
		return transport.SendFunc(func(ctx context.Context, m *transport.Message) (*transport.Receipt, error) {
			return &transport.Receipt{Accepted: m.Envelope.To}, nil
		}), nil
	}))
	_, err := mux.OpenTransport(context.Background(), "smtp://mail.example:587")
	fmt.Println(err)
	fmt.Println(mux.Schemes())
	// Output:
	// InvalidArgument: mailer: open "smtp://mail.example:587": unknown scheme "smtp"; known schemes: null (is the driver package imported?)
	// [null]
}

// OpenTransport opens a transport without a Client on top, to wrap it in middleware first.
// A composite URL names several: here a failover over two in-memory transports.
func ExampleOpenTransport() {
	ctx := context.Background()
	t, err := mailer.OpenTransport(ctx, "failover(mem:// mem://)")
	if err != nil {
		log.Fatal(err)
	}
	client := mailer.New(t, nil) // usually mailer.New(transport.Chain(...)(t), nil)
	defer client.Close()
	var f *transport.Failover
	fmt.Println(client.As(&f))
	// Output:
	// true
}

func ExampleURLMux_RegisterComposite() {
	var mux mailer.URLMux
	mux.Register("mem", &memmail.URLOpener{})
	// "failover(A B ...)" opens each member URL and hands them over in order; this is how
	// the default mux registers it.
	mux.RegisterComposite("failover", func(ctx context.Context, members []transport.Transport) (transport.Transport, error) {
		return transport.NewFailover(nil, members...), nil
	})
	t, err := mux.OpenTransport(context.Background(), "failover(mem://?max=1 mem://)")
	if err != nil {
		log.Fatal(err)
	}
	defer t.Close() // closes every member
	fmt.Println(mux.Schemes())
	// Output:
	// [failover(...) mem]
}

func ExampleAttachmentFromFile() {
	dir, err := os.MkdirTemp("", "postie-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "invoice.pdf")
	if err := os.WriteFile(path, []byte("%PDF-1.7 ..."), 0o600); err != nil {
		log.Fatal(err)
	}
	// The file is opened again on every send, so a retry reads it afresh.
	a, err := mailer.AttachmentFromFile(path)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(a.Filename, a.ContentType, a.Size)

	_, err = mailer.AttachmentFromFile(filepath.Join(dir, "missing.pdf"))
	fmt.Println(mailer.CodeOf(err))
	// Output:
	// invoice.pdf application/pdf 12
	// InvalidArgument
}

// CodeOf and IsTemporary tell the application what to do about a failed send, whatever
// the transport.
func ExampleCodeOf() {
	mem := memmail.New(nil)
	mem.FailNext(transport.ClassifyReply(&transport.Reply{Code: 535, Enhanced: transport.Enhanced{5, 7, 8}, Lines: []string{"bad credentials"}}))
	client := mailer.New(mem, nil)
	_, err := client.Send(context.Background(), &mailer.Message{
		From: mail.Address{Address: "no-reply@shop.example"},
		To:   []mail.Address{{Address: "ann@example.org"}},
		Text: "Hi",
	})
	switch {
	case err == nil:
		fmt.Println("sent")
	case mailer.CodeOf(err) == mailer.PermissionDenied:
		fmt.Println("fix the credentials; temporary:", mailer.IsTemporary(err))
	case mailer.IsTemporary(err):
		fmt.Println("try again later")
	}
	// Output:
	// fix the credentials; temporary: false
}
