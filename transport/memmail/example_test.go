package memmail_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/mail"

	"github.com/postiemail/postie/mailer"
	"github.com/postiemail/postie/transport"
	"github.com/postiemail/postie/transport/memmail"
)

func ExampleNew() {
	mem := memmail.New(&memmail.Options{Max: 100})
	client := mailer.New(mem, nil)
	_, err := client.Send(context.Background(), &mailer.Message{
		From:    mail.Address{Address: "shop@example.com"},
		To:      []mail.Address{{Address: "ann@example.org"}},
		Subject: "Welcome",
		Text:    "Hello Ann",
	})
	if err != nil {
		log.Fatal(err)
	}
	m := mem.Messages()[0]
	fmt.Println(mem.Len(), m.Subject, m.Envelope.To)
	// Output:
	// 1 Welcome [ann@example.org]
}

func ExampleNewMailer() {
	client, mem := memmail.NewMailer(nil)
	_, _ = client.Send(context.Background(), &mailer.Message{
		From: mail.Address{Address: "shop@example.com"},
		To:   []mail.Address{{Address: "ann@example.org"}},
		Text: "Hi",
	})
	fmt.Println(mem.Len())
	// Output:
	// 1
}

func ExampleTransport_FailNext() {
	mem := memmail.New(nil)
	// The next two sends fail as a busy server would answer; the third goes through.
	busy := transport.ClassifyReply(&transport.Reply{Code: 421, Lines: []string{"try later"}})
	mem.FailNext(busy, busy)
	m := &transport.Message{Envelope: transport.Envelope{From: "shop@example.com", To: []string{"ann@example.org"}}}
	for range 3 {
		_, err := mem.Send(context.Background(), m)
		fmt.Println(transport.CodeOf(err), transport.IsTemporary(err))
	}
	fmt.Println("attempts:", mem.Attempts(), "kept:", mem.Len())
	// Output:
	// Unavailable true
	// Unavailable true
	// OK false
	// attempts: 3 kept: 1
}

func ExampleTransport_RejectRecipientOnce() {
	mem := memmail.New(nil)
	greylisted := transport.ClassifyReply(&transport.Reply{Code: 451, Enhanced: transport.Enhanced{4, 7, 1}, Lines: []string{"greylisted"}})
	mem.RejectRecipientOnce("bob@example.org", greylisted)
	m := &transport.Message{Envelope: transport.Envelope{From: "shop@example.com", To: []string{"ann@example.org", "bob@example.org"}}}

	r, err := mem.Send(context.Background(), m)
	fmt.Println(r.Accepted, transport.IsTemporary(err))
	// A retry for bob alone now succeeds.
	retry := m.Clone()
	retry.Envelope.To = []string{"bob@example.org"}
	r, err = mem.Send(context.Background(), retry)
	fmt.Println(r.Accepted, err)
	// Output:
	// [ann@example.org] true
	// [bob@example.org] <nil>
}

func Example_url() {
	// Importing memmail registers "mem" on the default URL mux.
	client, err := mailer.OpenMailer(context.Background(), "mem://?max=10")
	if err != nil {
		log.Fatal(err)
	}
	var tr transport.Transport
	client.As(&tr)
	fmt.Printf("%T\n", tr)
	// Output:
	// *memmail.Transport
}

// LoseReplyNext keeps the message but reports the outcome as unknown, as when a
// connection dies after the final dot: the case retry must not repeat blindly.
func ExampleTransport_LoseReplyNext() {
	mem := memmail.New(nil)
	mem.LoseReplyNext()
	m := &transport.Message{MessageID: "a1@shop.example", Envelope: transport.Envelope{From: "shop@example.com", To: []string{"ann@example.org"}}}
	_, err := mem.Send(context.Background(), m)
	fmt.Println(errors.Is(err, transport.ErrMaybeDelivered), transport.IsTemporary(err), mem.Len())
	// Output:
	// true false 1
}

// Stall makes sends hang until their ctx ends, to test an application's timeouts.
func ExampleTransport_Stall() {
	mem := memmail.New(nil)
	mem.Stall()
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // in a real test: context.WithTimeout
	m := &transport.Message{Envelope: transport.Envelope{From: "shop@example.com", To: []string{"ann@example.org"}}}
	_, err := mem.Send(ctx, m)
	fmt.Println(transport.CodeOf(err), mem.Len())
	// Output:
	// Canceled 0
}

// RejectRecipient refuses one address on every send until AcceptRecipient, as a server
// with no such mailbox would; the other recipients still get the message.
func ExampleTransport_RejectRecipient() {
	mem := memmail.New(nil)
	mem.RejectRecipient("gone@example.org", nil) // nil: 550 5.1.1 no such user
	m := &transport.Message{Envelope: transport.Envelope{From: "shop@example.com", To: []string{"ann@example.org", "gone@example.org"}}}
	r, err := mem.Send(context.Background(), m)
	fmt.Println(r.Accepted, transport.CodeOf(r.Rejected[0].Err), err != nil)
	mem.AcceptRecipient("gone@example.org")
	r, err = mem.Send(context.Background(), m)
	fmt.Println(r.Accepted, err)
	// Output:
	// [ann@example.org] NotFound true
	// [ann@example.org gone@example.org] <nil>
}
