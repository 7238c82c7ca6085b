package postie_test

import (
	"context"
	"net/mail"
	"strings"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/postiemail/postie"
	"github.com/postiemail/postie/mailer"
	"github.com/postiemail/postie/middleware"
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

func TestNewStackRetriesRedirectsAndTraces(t *testing.T) {
	ctx := context.Background()
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	c, cleanup, err := postie.New(ctx, postie.Config{
		URL:        "mem://",
		Tracing:    &middleware.TracingOptions{TracerProvider: tp},
		Retry:      &middleware.RetryOptions{InitialDelay: time.Millisecond, MaxAttempts: 3},
		RateLimit:  postie.RateLimitConfig{PerSecond: 1000, Burst: 10},
		RedirectTo: "qa@example.net",
	})
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup()
	var mem *memmail.Transport
	if !c.As(&mem) {
		t.Fatal("no memmail transport under the stack")
	}
	mem.FailNext(&transport.Error{Code: transport.Unavailable, Temporary: true})

	_, err = c.Send(ctx, &mailer.Message{
		From:    mail.Address{Address: "shop@example.com"},
		To:      []mail.Address{{Address: "customer@example.org"}},
		Subject: "Hi",
		Text:    "x",
	})
	if err != nil {
		t.Fatalf("Send = %v; the stack should have retried the temporary failure", err)
	}
	if got := mem.Attempts(); got != 2 {
		t.Errorf("transport saw %d attempts, want 2 (one failure, one retry)", got)
	}
	got := mem.Messages()
	if len(got) != 1 || len(got[0].Envelope.To) != 1 || got[0].Envelope.To[0] != "qa@example.net" {
		t.Fatalf("delivered %+v, want one message redirected to qa@example.net", got)
	}
	ended := spans.Ended()
	if len(ended) == 0 || ended[len(ended)-1].Name() != middleware.SpanSend {
		t.Fatalf("spans %v, want a %s span", ended, middleware.SpanSend)
	}
	var scheme string
	for _, kv := range ended[len(ended)-1].Attributes() {
		if kv.Key == "mail.transport" {
			scheme = kv.Value.AsString()
		}
	}
	if scheme != "mem" {
		t.Errorf("mail.transport = %q, want the URL scheme", scheme)
	}
}

func TestNewNoRetry(t *testing.T) {
	ctx := context.Background()
	c, cleanup, err := postie.New(ctx, postie.Config{URL: "mem://", NoRetry: true})
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup()
	var mem *memmail.Transport
	c.As(&mem)
	mem.FailNext(&transport.Error{Code: transport.Unavailable, Temporary: true})
	_, err = c.Send(ctx, &mailer.Message{From: mail.Address{Address: "a@example.com"}, To: []mail.Address{{Address: "b@example.com"}}, Text: "x"})
	if transport.CodeOf(err) != transport.Unavailable || mem.Attempts() != 1 {
		t.Fatalf("err %v after %d attempts, want Unavailable after exactly 1", err, mem.Attempts())
	}
}
