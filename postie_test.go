package postie_test

import (
	"context"
	"net/mail"
	"strings"
	"testing"

	"github.com/postiemail/postie"
	"github.com/postiemail/postie/mailer"
	"github.com/postiemail/postie/transport"
	"github.com/postiemail/postie/transport/memmail"
)

func TestNewSendsThroughTheURLTransport(t *testing.T) {
	ctx := context.Background()
	c, cleanup, err := postie.New(ctx, postie.Config{URL: "mem://"})
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup()

	msg := &mailer.Message{
		From:    mail.Address{Name: "Shop", Address: "shop@example.com"},
		To:      []mail.Address{{Address: "ann@example.org"}},
		Subject: "Hello",
		Text:    "Hi Ann",
	}
	r, err := c.Send(ctx, msg)
	if err != nil {
		t.Fatal(err)
	}
	var mem *memmail.Transport
	if !c.As(&mem) {
		t.Fatal("Client.As did not reach the memmail transport through the stack")
	}
	got := mem.Messages()
	if len(got) != 1 || got[0].Subject != "Hello" || got[0].MessageID != r.MessageID {
		t.Fatalf("memmail holds %d messages (%+v), want the one sent with id %s", len(got), got, r.MessageID)
	}
	if !strings.HasSuffix(r.MessageID, "@example.com") {
		t.Errorf("Message-ID %q should take its domain from From", r.MessageID)
	}
}

func TestNewCleanupClosesTheTransport(t *testing.T) {
	ctx := context.Background()
	c, cleanup, err := postie.New(ctx, postie.Config{URL: "mem://"})
	if err != nil {
		t.Fatal(err)
	}
	var mem *memmail.Transport
	if !c.As(&mem) {
		t.Fatal("no memmail transport")
	}
	cleanup()
	_, err = mem.Send(ctx, &transport.Message{Envelope: transport.Envelope{From: "a@example.com", To: []string{"b@example.com"}}})
	if transport.CodeOf(err) != transport.FailedPrecondition {
		t.Fatalf("Send after cleanup: %v, want FailedPrecondition", err)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	for _, tc := range []struct{ url, want string }{
		{"", "Config.URL is empty"},
		{"nosuch://x", `unknown scheme "nosuch"`},
	} {
		_, _, err := postie.New(context.Background(), postie.Config{URL: tc.url})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(URL %q) error = %v, want one containing %q", tc.url, err, tc.want)
		}
	}
}
