package middleware_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/mail"
	"os"
	"time"

	"github.com/emersion/go-msgauth/dkim"
	"github.com/sethvargo/go-retry"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"golang.org/x/time/rate"

	"github.com/postiemail/postie/mailer"
	"github.com/postiemail/postie/middleware"
	"github.com/postiemail/postie/smtp/mime"
	"github.com/postiemail/postie/transport"
	"github.com/postiemail/postie/transport/memmail"
)

func exampleMessage() *mailer.Message {
	return &mailer.Message{
		From:    mail.Address{Name: "Shop", Address: "shop@example.com"},
		To:      []mail.Address{{Name: "Ann", Address: "ann@example.org"}},
		Subject: "Your receipt",
		Text:    "Thanks for your order.",
	}
}

// The default stack: one span per send, retries of temporary errors, and a rate limit
// that every attempt respects.
func Example() {
	base := memmail.New(nil)
	stack := transport.Chain(
		middleware.Tracing(&middleware.TracingOptions{Transport: "mem"}),
		middleware.Retry(nil),
		middleware.RateLimit(rate.NewLimiter(10, 5), nil),
	)(base)
	client := mailer.New(stack, nil)
	defer client.Close()

	r, err := client.Send(context.Background(), exampleMessage())
	fmt.Println(r.Accepted, err)
	// Output: [ann@example.org] <nil>
}

func ExampleRetry() {
	base := memmail.New(nil)
	base.FailNext(transport.ClassifyReply(&transport.Reply{Code: 421, Lines: []string{"try again later"}}))
	client := mailer.New(middleware.Retry(&middleware.RetryOptions{
		MaxAttempts: 3,
		// A fresh backoff for every send; the default is exponential with jitter.
		NewBackoff: func() retry.Backoff { return retry.NewConstant(10 * time.Millisecond) },
		OnRetry: func(_ context.Context, attempt int, err error, wait time.Duration) {
			fmt.Printf("attempt %d failed with %v; retrying in %v\n", attempt, transport.CodeOf(err), wait)
		},
	})(base), nil)

	_, err := client.Send(context.Background(), exampleMessage())
	fmt.Println("sent:", err == nil, "attempts:", base.Attempts())
	// Output:
	// attempt 1 failed with Unavailable; retrying in 10ms
	// sent: true attempts: 2
}

func ExampleTracing() {
	// In an application the SDK is set up once, usually as the global provider, and
	// TracingOptions stays nil. Here an in-memory exporter shows what is recorded.
	spans := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	defer tp.Shutdown(context.Background())

	t := middleware.Tracing(&middleware.TracingOptions{TracerProvider: tp, Transport: "mem"})(memmail.New(nil))
	client := mailer.New(t, nil)
	if _, err := client.Send(context.Background(), exampleMessage()); err != nil {
		fmt.Println(err)
	}
	for _, s := range spans.GetSpans() {
		fmt.Println(s.Name, s.SpanKind)
		for _, a := range s.Attributes {
			fmt.Printf("  %s=%s\n", a.Key, a.Value.Emit())
		}
	}
	// Output:
	// mail.send client
	//   mail.transport=mem
	//   mail.recipients.count=1
}

func ExampleRateLimit() {
	base := memmail.New(nil)
	// One message per hour, failing at once when over the limit instead of waiting.
	limited := middleware.RateLimit(rate.NewLimiter(rate.Every(time.Hour), 1), &middleware.RateLimitOptions{FailFast: true})(base)
	client := mailer.New(limited, nil)
	for range 2 {
		_, err := client.Send(context.Background(), exampleMessage())
		fmt.Println(mailer.CodeOf(err), mailer.IsTemporary(err))
	}
	// Output:
	// OK false
	// ResourceExhausted true
}

func ExampleLogging() {
	// A handler without the time and duration, so the output is stable.
	h := slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey || a.Key == "duration" {
			return slog.Attr{}
		}
		return a
	}})
	base := memmail.New(nil)
	base.RejectRecipient("ann@example.org", nil)
	client := mailer.New(middleware.Logging(&middleware.LoggingOptions{Logger: slog.New(h)})(base),
		&mailer.Options{NewMessageID: func(domain string) string { return "42@" + domain }})
	_, _ = client.Send(context.Background(), exampleMessage())
	// Output:
	// level=ERROR msg="mail not sent" outcome=failed message_id=42@example.com recipients=1 accepted=0 rejected=1 reply_code=550 code=NotFound temporary=false error="1 recipient(s) refused; recipient <[redacted]>: NotFound: 550 5.1.1 no such user"
}

func ExampleRedirect() {
	base := memmail.New(nil)
	client := mailer.New(middleware.Redirect("QA <qa@staging.example>")(base), nil)
	if _, err := client.Send(context.Background(), exampleMessage()); err != nil {
		fmt.Println(err)
	}
	got := base.Messages()[0]
	orig, _ := got.Header(middleware.HeaderOriginalRecipients)
	fmt.Println(got.Envelope.To, got.To[0].String())
	fmt.Println(middleware.HeaderOriginalRecipients+":", orig)
	// Output:
	// [qa@staging.example] "QA" <qa@staging.example>
	// X-Postie-Original-Recipients: ann@example.org
}

func ExampleAllowList() {
	base := memmail.New(nil)
	client := mailer.New(middleware.AllowList("example.org", "*.corp.example")(base), nil)
	m := exampleMessage()
	m.Cc = []mail.Address{{Address: "boss@customer.example"}, {Address: "dev@eu.corp.example"}}
	r, err := client.Send(context.Background(), m)
	fmt.Println(r.Accepted, err)

	m.To, m.Cc = []mail.Address{{Address: "someone@customer.example"}}, nil
	_, err = client.Send(context.Background(), m)
	fmt.Println(mailer.CodeOf(err))
	// Output:
	// [ann@example.org dev@eu.corp.example] <nil>
	// PermissionDenied
}

func ExampleDKIM() {
	// A fixed key so the example is repeatable; load yours from a secret store.
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))
	base := memmail.New(nil)
	client := mailer.New(middleware.DKIM(&middleware.DKIMOptions{
		Domain: "example.com", Selector: "mail2026", Signer: key,
	})(base), nil)
	if _, err := client.Send(context.Background(), exampleMessage()); err != nil {
		fmt.Println(err)
	}

	// Render what the transport got and check it as a receiver would.
	var raw bytes.Buffer
	if err := mime.Write(&raw, base.Messages()[0], nil); err != nil {
		fmt.Println(err)
	}
	record := "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(key.Public().(ed25519.PublicKey))
	vs, err := dkim.VerifyWithOptions(&raw, &dkim.VerifyOptions{LookupTXT: func(string) ([]string, error) {
		return []string{record}, nil
	}})
	fmt.Println(len(vs), err, vs[0].Domain, vs[0].Err)
	// Output: 1 <nil> example.com <nil>
}
