package mailer_test

import (
	"context"
	"errors"
	"net/mail"
	"testing"

	"github.com/postiemail/postie/mailer"
	"github.com/postiemail/postie/transport"
	_ "github.com/postiemail/postie/transport/memmail"
)

func TestCompositeURLForms(t *testing.T) {
	ctx := context.Background()
	for url, check := range map[string]func(transport.Transport) bool{
		"failover(mem:// mem://)":                      func(t transport.Transport) bool { _, ok := t.(*transport.Failover); return ok },
		"roundrobin(mem:// mem:// mem://)":             func(t transport.Transport) bool { _, ok := t.(*transport.RoundRobin); return ok },
		"failover(mem:// roundrobin(mem:// mem://))":   func(t transport.Transport) bool { _, ok := t.(*transport.Failover); return ok },
		"  roundrobin(failover(mem:// mem://) mem://)": func(t transport.Transport) bool { _, ok := t.(*transport.RoundRobin); return ok },
	} {
		tr, err := mailer.OpenTransport(ctx, url)
		if err != nil {
			t.Errorf("OpenTransport(%q): %v", url, err)
			continue
		}
		if !check(tr) {
			t.Errorf("OpenTransport(%q) = %T", url, tr)
		}
		c := mailer.New(tr, nil)
		msg := &mailer.Message{From: mail.Address{Address: "app@example.com"}, To: []mail.Address{{Address: "ann@example.com"}}, Subject: "hi", Text: "hi"}
		if _, err := c.Send(ctx, msg); err != nil {
			t.Errorf("%q: Send: %v", url, err)
		}
		if err := c.Close(); err != nil {
			t.Errorf("%q: Close: %v", url, err)
		}
		if _, err := tr.Send(ctx, &transport.Message{}); !errors.Is(err, transport.ErrClosed) {
			t.Errorf("%q: Send after Close: %v", url, err)
		}
	}
}

func TestCompositeURLBadMember(t *testing.T) {
	if _, err := mailer.OpenTransport(context.Background(), "failover(mem:// nosuch://x)"); transport.CodeOf(err) != transport.InvalidArgument {
		t.Fatalf("err = %v, want InvalidArgument for the unknown member scheme", err)
	}
}
