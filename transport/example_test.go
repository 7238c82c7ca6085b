package transport_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/mail"
	"os"
	"time"

	"github.com/postiemail/postie/transport"
)

// logging is a middleware: it wraps the next transport and calls through to it.
func logging(name string) transport.Middleware {
	return func(next transport.Transport) transport.Transport {
		return transport.Wrap(next, func(ctx context.Context, m *transport.Message) (*transport.Receipt, error) {
			fmt.Println("enter", name)
			defer fmt.Println("leave", name)
			return next.Send(ctx, m)
		})
	}
}

func ExampleChain() {
	base := transport.SendFunc(func(ctx context.Context, m *transport.Message) (*transport.Receipt, error) {
		fmt.Println("deliver to", m.Envelope.To)
		return &transport.Receipt{Accepted: m.Envelope.To}, nil
	})
	// The first middleware is the outermost: tracing sees one logical send, retry inside it.
	t := transport.Chain(logging("tracing"), logging("retry"))(base)
	if _, err := t.Send(context.Background(), &transport.Message{Envelope: transport.Envelope{To: []string{"ann@example.org"}}}); err != nil {
		log.Fatal(err)
	}
	// Output:
	// enter tracing
	// enter retry
	// deliver to [ann@example.org]
	// leave retry
	// leave tracing
}

func ExampleSendFunc() {
	// A transport that refuses everything, for a test of an application's error path.
	down := transport.SendFunc(func(ctx context.Context, m *transport.Message) (*transport.Receipt, error) {
		return nil, transport.ClassifyHTTP(503, "30")
	})
	_, err := down.Send(context.Background(), &transport.Message{})
	fmt.Println(transport.CodeOf(err), transport.IsTemporary(err), transport.RetryAfterOf(err))
	// Output:
	// Unavailable true 30s
}

func ExampleClassifyReply() {
	for _, r := range []*transport.Reply{
		{Code: 450, Enhanced: transport.Enhanced{4, 2, 1}, Lines: []string{"mailbox busy"}},
		{Code: 550, Enhanced: transport.Enhanced{5, 1, 1}, Lines: []string{"no such user"}},
		{Code: 535, Enhanced: transport.Enhanced{5, 7, 8}, Lines: []string{"bad credentials"}},
	} {
		e := transport.ClassifyReply(r)
		fmt.Printf("%v -> %v temporary=%v\n", r, e.Code, e.Temporary)
	}
	// Output:
	// 450 4.2.1 mailbox busy -> Unavailable temporary=true
	// 550 5.1.1 no such user -> NotFound temporary=false
	// 535 5.7.8 bad credentials -> PermissionDenied temporary=false
}

func ExampleClassifyHTTP() {
	e := transport.ClassifyHTTP(429, "120")
	fmt.Println(e, "| retry after", e.RetryAfter)
	// Output:
	// ResourceExhausted (temporary): HTTP 429 Too Many Requests | retry after 2m0s
}

func ExampleParseRetryAfter() {
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	fmt.Println(transport.ParseRetryAfter("90", now))
	fmt.Println(transport.ParseRetryAfter("Sun, 01 Jun 2025 12:01:00 GMT", now))
	fmt.Println(transport.ParseRetryAfter("86400", now)) // capped
	fmt.Println(transport.ParseRetryAfter("later", now))
	// Output:
	// 1m30s
	// 1m0s
	// 5m0s
	// 0s
}

func ExampleCodeOf() {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	fmt.Println(transport.CodeOf(nil))
	fmt.Println(transport.CodeOf(fmt.Errorf("send: %w", transport.Errorf(transport.NotFound, false, "no such user"))))
	fmt.Println(transport.CodeOf(ctx.Err()))
	fmt.Println(transport.CodeOf(errors.New("something else")))
	// Output:
	// OK
	// NotFound
	// Canceled
	// Unknown
}

func ExampleIsTemporary() {
	greylisted := transport.ClassifyReply(&transport.Reply{Code: 451, Enhanced: transport.Enhanced{4, 7, 1}, Lines: []string{"greylisted"}})
	gone := transport.ClassifyReply(&transport.Reply{Code: 550, Enhanced: transport.Enhanced{5, 1, 1}, Lines: []string{"no such user"}})
	pe := transport.NewPartialError([]transport.RecipientError{
		{Recipient: "grey@example.org", Err: greylisted},
		{Recipient: "gone@example.org", Err: gone},
	})
	// Retry is worth it for the greylisted recipient, though the worst refusal is permanent.
	fmt.Println(transport.IsTemporary(pe), transport.CodeOf(pe))
	// Output:
	// true NotFound
}

func ExampleFromContext() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Nanosecond)
	defer cancel()
	<-ctx.Done()
	readErr := errors.New("read tcp: i/o timeout")
	err := transport.FromContext(ctx, readErr)
	fmt.Println(transport.CodeOf(err), errors.Is(err, context.DeadlineExceeded), errors.Is(err, readErr))
	// Output:
	// DeadlineExceeded true true
}

func ExampleNewPartialError() {
	pe := transport.NewPartialError([]transport.RecipientError{
		{Recipient: "zoe@example.org", Err: transport.Errorf(transport.NotFound, false, "no such user")},
		{Recipient: "ann@example.org", Err: transport.Errorf(transport.Unavailable, true, "mailbox busy")},
	})
	for _, err := range pe.Unwrap() {
		fmt.Println(err)
	}
	// Output:
	// recipient <ann@example.org>: Unavailable (temporary): mailbox busy
	// recipient <zoe@example.org>: NotFound: no such user
}

func ExampleReceipt_Merge() {
	busy := transport.Errorf(transport.Unavailable, true, "busy")
	first := &transport.Receipt{
		Accepted: []string{"ann@example.org"},
		Rejected: []transport.RecipientError{{Recipient: "bob@example.org", Err: busy}},
	}
	// A retry for bob alone succeeds.
	first.Merge(&transport.Receipt{Accepted: []string{"bob@example.org"}})
	fmt.Println(first.Accepted, len(first.Rejected))
	// Output:
	// [ann@example.org bob@example.org] 0
}

func ExampleMessage_Clone() {
	m := &transport.Message{
		From:     mail.Address{Address: "shop@example.com"},
		Envelope: transport.Envelope{From: "shop@example.com", To: []string{"ann@example.org", "bob@example.org"}},
	}
	// Middleware never mutates the message; it narrows a copy.
	retry := m.Clone()
	retry.Envelope.To = []string{"bob@example.org"}
	fmt.Println(m.Envelope.To, retry.Envelope.To)
	// Output:
	// [ann@example.org bob@example.org] [bob@example.org]
}

func ExampleClosed() {
	err := transport.Closed("memmail")
	fmt.Println(transport.CodeOf(err), errors.Is(err, transport.ErrClosed))
	// Output:
	// FailedPrecondition true
}

// AddrKey is how Postie decides that two addresses are one recipient: the domain is
// case-insensitive, the local part is not.
func ExampleAddrKey() {
	fmt.Println(transport.AddrKey("Ann@Example.ORG") == transport.AddrKey("Ann@example.org"))
	fmt.Println(transport.AddrKey("Ann@example.org") == transport.AddrKey("ann@example.org"))
	fmt.Println(transport.AddrKey("Ann@Example.ORG"))
	// Output:
	// true
	// false
	// Ann@example.org
}

// As reaches a transport under middleware: its concrete type, or what its As method offers.
func ExampleAs() {
	base := transport.NewFailover(nil, transport.SendFunc(func(ctx context.Context, m *transport.Message) (*transport.Receipt, error) {
		return &transport.Receipt{Accepted: m.Envelope.To}, nil
	}))
	t := transport.Chain(logging("tracing"))(base)
	var f *transport.Failover
	fmt.Println(transport.As(t, &f), f == base)
	// Output:
	// true true
}

// Errorf is how a driver reports a failure it classified itself; %w keeps the cause
// reachable with errors.Is and errors.As.
func ExampleErrorf() {
	err := transport.Errorf(transport.FailedPrecondition, false, "mydriver: load config: %w", os.ErrNotExist)
	fmt.Println(err)
	fmt.Println(transport.CodeOf(err), transport.IsTemporary(err), errors.Is(err, os.ErrNotExist))
	// Output:
	// FailedPrecondition: mydriver: load config: file does not exist
	// FailedPrecondition false true
}

// RetryAfterOf is the delay a server asked for; for a partial failure, the longest any
// refused recipient asked for.
func ExampleRetryAfterOf() {
	greylisted := &transport.Error{Code: transport.Unavailable, Temporary: true, RetryAfter: 5 * time.Minute}
	busy := &transport.Error{Code: transport.Unavailable, Temporary: true, RetryAfter: 30 * time.Second}
	err := transport.NewPartialError([]transport.RecipientError{
		{Recipient: "ann@example.org", Err: busy},
		{Recipient: "bob@example.org", Err: greylisted},
	})
	fmt.Println(transport.RetryAfterOf(err), transport.RetryAfterOf(busy), transport.RetryAfterOf(errors.New("plain")))
	// Output:
	// 5m0s 30s 0s
}
