package middleware_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"

	"golang.org/x/time/rate"

	"github.com/postiemail/postie/middleware"
	"github.com/postiemail/postie/smtp"
	"github.com/postiemail/postie/smtp/smtptest"
	"github.com/postiemail/postie/transport"
)

// smtpStack is the default stack (Tracing, Retry, RateLimit) over the SMTP engine talking
// to an in-process server with STARTTLS and AUTH, plus any inner middleware.
func smtpStack(t *testing.T, tel *telemetry, inner ...transport.Middleware) (*smtptest.Server, transport.Transport) {
	t.Helper()
	srv := smtptest.Start(t, &smtptest.ServerOptions{Users: map[string]string{"app": "s3cret"}})
	base, err := smtp.New(srv.Addr(), &smtp.Options{TLSConfig: srv.ClientTLSConfig(), Username: "app", Password: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	mws := []transport.Middleware{
		middleware.Retry(&middleware.RetryOptions{NewBackoff: fast}),
		middleware.RateLimit(rate.NewLimiter(rate.Inf, 1), nil),
	}
	stack := transport.Chain(middleware.Tracing(tel.options("smtp")), append(mws, inner...)...)(base)
	t.Cleanup(func() {
		if err := stack.Close(); err != nil {
			t.Error(err)
		}
	})
	return srv, stack
}

// A greylisted recipient and a refused one over real SMTP: the greylisted one alone is
// retried, the refused one never; one span records it all.
func TestStackOverSMTPPartialRetry(t *testing.T) {
	tel := newTelemetry(t)
	srv, stack := smtpStack(t, tel)
	for _, f := range []smtptest.Fault{
		{At: smtptest.AtRcpt, Recipient: "bob@example.org", Code: 450, Enhanced: [3]int{4, 2, 1}, Text: "greylisted", Times: 1},
		{At: smtptest.AtRcpt, Recipient: "cat@example.org", Code: 550, Enhanced: [3]int{5, 1, 1}, Text: "no such user"},
	} {
		if err := srv.Inject(f); err != nil {
			t.Fatal(err)
		}
	}
	r, err := stack.Send(context.Background(), testMessage("ann@example.org", "bob@example.org", "cat@example.org"))
	var pe *transport.PartialError
	if !errors.As(err, &pe) || len(pe.Rejected) != 1 || pe.Rejected[0].Recipient != "cat@example.org" || transport.CodeOf(err) != transport.NotFound {
		t.Fatalf("err = %v, want cat refused with NotFound", err)
	}
	if r == nil || !slices.Equal(r.Accepted, []string{"ann@example.org", "bob@example.org"}) {
		t.Fatalf("receipt %+v, want ann and bob accepted", r)
	}
	msgs := srv.Messages()
	if len(msgs) != 2 || !slices.Equal(msgs[0].To, []string{"ann@example.org"}) || !slices.Equal(msgs[1].To, []string{"bob@example.org"}) {
		t.Fatalf("server got %d messages; want ann's, then bob's alone", len(msgs))
	}
	if !bytes.Equal(msgs[0].Raw, msgs[1].Raw) || !msgs[0].TLS || msgs[0].User != "app" {
		t.Error("the retry did not send the same message over TLS as the authenticated user")
	}

	send := tel.span(t, middleware.SpanSend)
	if v, _ := attrOf(send.Attributes, middleware.AttrServerAddr); v.AsString() != "127.0.0.1" {
		t.Errorf("server.address = %q", v.AsString())
	}
	if v, _ := attrOf(send.Attributes, middleware.AttrServerPort); v.AsInt64() == 0 {
		t.Error("no server.port")
	}
	if v, _ := attrOf(send.Attributes, middleware.AttrErrorType); v.AsString() != "NotFound" {
		t.Errorf("error.type = %q, want NotFound", v.AsString())
	}
	if len(send.Events) != 1 || send.Events[0].Name != middleware.EventRetry {
		t.Errorf("events %v, want one retry", send.Events)
	}
	// The engine reports its phases: a dial (the connection is pooled, so usually one),
	// and an envelope and a body for each attempt (each had an accepted recipient).
	count := map[string]int{}
	for _, s := range tel.spans.GetSpans() {
		if s.Parent.SpanID() == send.SpanContext.SpanID() {
			count[s.Name]++
		}
	}
	if count["mail.dial"] < 1 || count["mail.envelope"] != 2 || count["mail.body"] != 2 {
		t.Errorf("phase spans %v, want a dial and two envelopes and bodies", count)
	}
	ms := tel.metrics(t)
	if counter(t, ms, middleware.MetricRetries, "") != 1 || counter(t, ms, middleware.MetricSent, "") != 1 || counter(t, ms, middleware.MetricFailed, "NotFound") != 1 {
		t.Errorf("retries %d sent %d failed{NotFound} %d; want 1, 1, 1",
			counter(t, ms, middleware.MetricRetries, ""), counter(t, ms, middleware.MetricSent, ""), counter(t, ms, middleware.MetricFailed, "NotFound"))
	}
}

// A 421 on MAIL closes the connection; Retry redials and the message goes through.
func TestStackOverSMTPServiceUnavailable(t *testing.T) {
	tel := newTelemetry(t)
	srv, stack := smtpStack(t, tel)
	if err := srv.Inject(smtptest.Fault{At: smtptest.AtMail, Code: 421, Enhanced: [3]int{4, 3, 2}, Text: "shutting down", Times: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := stack.Send(context.Background(), testMessage("ann@example.org")); err != nil {
		t.Fatal(err)
	}
	if n := len(srv.Messages()); n != 1 {
		t.Errorf("server got %d messages, want 1", n)
	}
	if got := counter(t, tel.metrics(t), middleware.MetricRetries, ""); got != 1 {
		t.Errorf("retries = %d, want 1", got)
	}
}

// A connection dropped after the body: the outcome is unknown, so it is not retried.
func TestStackOverSMTPMaybeDeliveredIsNotRetried(t *testing.T) {
	tel := newTelemetry(t)
	srv, stack := smtpStack(t, tel)
	if err := srv.Inject(smtptest.Fault{At: smtptest.AtData, Drop: true, Times: 1}); err != nil {
		t.Fatal(err)
	}
	_, err := stack.Send(context.Background(), testMessage("ann@example.org"))
	if !errors.Is(err, transport.ErrMaybeDelivered) {
		t.Fatalf("err = %v, want ErrMaybeDelivered", err)
	}
	if got := counter(t, tel.metrics(t), middleware.MetricRetries, ""); got != 0 {
		t.Errorf("retries = %d, want 0", got)
	}
	if n := srv.Connections(); n != 1 {
		t.Errorf("%d connections, want 1: no second attempt", n)
	}
}

// DKIM inside the stack: the bytes the server received verify.
func TestStackOverSMTPWithDKIM(t *testing.T) {
	tel := newTelemetry(t)
	srv, stack := smtpStack(t, tel, middleware.DKIM(dkimOpts(rsaKey())))
	if _, err := stack.Send(context.Background(), richMessage()); err != nil {
		t.Fatal(err)
	}
	msgs := srv.Messages()
	if len(msgs) != 1 {
		t.Fatalf("server got %d messages", len(msgs))
	}
	vs, err := verify(t, bytes.NewReader(msgs[0].Raw), rsaKey())
	if err != nil || len(vs) != 1 || vs[0].Err != nil {
		t.Fatalf("the received message does not verify: %v %+v", err, vs)
	}
}
