package mailer_test

import (
	"context"
	"net/mail"
	"testing"
	"time"

	"github.com/postiemail/postie/mailer"
	"github.com/postiemail/postie/transport"
)

// BenchmarkClientSend measures what the Client itself costs per send (validation, Date and
// Message-ID, normalization, the envelope) over a transport that does nothing.
func BenchmarkClientSend(b *testing.B) {
	nop := transport.SendFunc(func(context.Context, *transport.Message) (*transport.Receipt, error) {
		return &transport.Receipt{}, nil
	})
	c := mailer.New(nop, &mailer.Options{Now: func() time.Time { return fixedNow }})
	m := &mailer.Message{
		From:    mail.Address{Name: "Shop", Address: "orders@shop.example"},
		To:      []mail.Address{{Name: "Ann", Address: "ann@example.org"}, {Address: "bob@example.org"}},
		Cc:      []mail.Address{{Address: "cy@example.net"}},
		Bcc:     []mail.Address{{Address: "archive@shop.example"}},
		ReplyTo: []mail.Address{{Address: "help@shop.example"}},
		Subject: "Your order has shipped",
		Text:    "It is on its way.",
		HTML:    "<p>It is on its way.</p>",
		Headers: map[string][]string{"List-Unsubscribe": {"<mailto:u@shop.example>"}, "X-Campaign": {"spring"}},
		Attachments: []mailer.Attachment{
			mailer.NewAttachment("invoice.pdf", []byte("%PDF-1.7")),
			mailer.Inline(mailer.NewAttachment("logo.png", []byte("png")), "logo"),
		},
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Send(ctx, m); err != nil {
			b.Fatal(err)
		}
	}
}
