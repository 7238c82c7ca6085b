package middleware_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/postiemail/postie/middleware"
	"github.com/postiemail/postie/transport"
	"github.com/postiemail/postie/transport/memmail"
)

func TestRateLimitWaitHonoursCtx(t *testing.T) {
	mem := memmail.New(nil)
	tr := middleware.RateLimit(rate.NewLimiter(rate.Every(time.Hour), 1), nil)(mem)
	if _, err := tr.Send(context.Background(), testMessage("ann@example.com")); err != nil {
		t.Fatalf("first send (burst): %v", err)
	}

	// A deadline before the next token: fails at once, without waiting for it.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := tr.Send(ctx, testMessage("ann@example.com"))
	if transport.CodeOf(err) != transport.DeadlineExceeded || transport.IsTemporary(err) {
		t.Errorf("err = %v, want permanent DeadlineExceeded", err)
	}

	// Cancelled while (or before) waiting: Canceled, both errors reachable.
	ctx, cancel = context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		_, err := tr.Send(ctx, testMessage("ann@example.com"))
		done <- err
	}()
	cancel()
	err = <-done
	if transport.CodeOf(err) != transport.Canceled || !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want Canceled", err)
	}
	if mem.Len() != 1 || mem.Attempts() != 1 {
		t.Errorf("delivered %d in %d attempts; only the first send should reach the transport", mem.Len(), mem.Attempts())
	}
}

func TestRateLimitFailFast(t *testing.T) {
	mem := memmail.New(nil)
	lim := rate.NewLimiter(rate.Every(time.Hour), 1)
	tr := middleware.RateLimit(lim, &middleware.RateLimitOptions{FailFast: true})(mem)
	if _, err := tr.Send(context.Background(), testMessage("ann@example.com")); err != nil {
		t.Fatal(err)
	}
	_, err := tr.Send(context.Background(), testMessage("ann@example.com"))
	if transport.CodeOf(err) != transport.ResourceExhausted || !transport.IsTemporary(err) {
		t.Fatalf("err = %v, want temporary ResourceExhausted", err)
	}
	if d := transport.RetryAfterOf(err); d < 59*time.Minute || d > time.Hour {
		t.Errorf("RetryAfter = %v, want the time to the next token (~1h)", d)
	}
	if mem.Attempts() != 1 {
		t.Errorf("attempts = %d, want 1", mem.Attempts())
	}
}

// Each recipient domain has its own bucket; in fail-fast mode a refusal by one bucket
// gives back the tokens the others granted.
func TestRateLimitPerDomain(t *testing.T) {
	mem := memmail.New(nil)
	global := rate.NewLimiter(rate.Every(time.Hour), 10)
	tr := middleware.RateLimit(global, &middleware.RateLimitOptions{
		DomainLimit: rate.Every(time.Hour), FailFast: true,
	})(mem)
	send := func(rcpts ...string) error {
		_, err := tr.Send(context.Background(), testMessage(rcpts...))
		return err
	}
	if err := send("a@x.example", "b@X.example", "c@y.example"); err != nil {
		t.Fatalf("first send to x and y: %v", err)
	}
	if err := send("d@z.example"); err != nil {
		t.Fatalf("send to a fresh domain: %v", err)
	}
	before := global.Tokens()
	if err := send("e@z.example", "f@w.example"); transport.CodeOf(err) != transport.ResourceExhausted {
		t.Fatalf("second send to z: err = %v, want ResourceExhausted", err)
	}
	if after := global.Tokens(); after < before-0.01 {
		t.Errorf("the refused send kept a transport token: %v -> %v", before, after)
	}
	if err := send("g@w.example"); err != nil {
		t.Errorf("w's token should have been given back: %v", err)
	}
	if mem.Len() != 3 {
		t.Errorf("delivered %d, want 3", mem.Len())
	}
}

// waiterFunc counts the tokens taken.
type countingWaiter struct{ n atomic.Int32 }

func (w *countingWaiter) Wait(ctx context.Context) error { w.n.Add(1); return ctx.Err() }

// Inside Retry, every attempt spends a token.
func TestRateLimitInsideRetrySpendsATokenPerAttempt(t *testing.T) {
	mem := memmail.New(nil)
	mem.FailNext(errShutdown(), errShutdown())
	w := new(countingWaiter)
	tr := transport.Chain(middleware.Retry(&middleware.RetryOptions{NewBackoff: fast}), middleware.RateLimit(w, nil))(mem)
	if _, err := tr.Send(context.Background(), testMessage("ann@example.com")); err != nil {
		t.Fatal(err)
	}
	if w.n.Load() != 3 || mem.Attempts() != 3 {
		t.Errorf("%d tokens for %d attempts, want 3 and 3", w.n.Load(), mem.Attempts())
	}
}

// Fail-fast's RetryAfter lets Retry wait exactly until the next token.
func TestRateLimitFailFastWithRetry(t *testing.T) {
	mem := memmail.New(nil)
	lim := rate.NewLimiter(rate.Every(20*time.Millisecond), 1)
	tr := transport.Chain(
		middleware.Retry(&middleware.RetryOptions{NewBackoff: fast}),
		middleware.RateLimit(lim, &middleware.RateLimitOptions{FailFast: true}),
	)(mem)
	for i := range 2 {
		if _, err := tr.Send(context.Background(), testMessage("ann@example.com")); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	if mem.Len() != 2 {
		t.Errorf("delivered %d, want 2", mem.Len())
	}
}

func TestRateLimitMisconfigured(t *testing.T) {
	mem := memmail.New(nil)
	// FailFast with a Waiter that cannot reserve.
	_, err := middleware.RateLimit(new(countingWaiter), &middleware.RateLimitOptions{FailFast: true})(mem).
		Send(context.Background(), testMessage("ann@example.com"))
	if transport.CodeOf(err) != transport.FailedPrecondition {
		t.Errorf("FailFast without Reserve: err = %v, want FailedPrecondition", err)
	}
	// A bucket of size 0 never grants a token, in either mode.
	for _, ff := range []bool{false, true} {
		_, err = middleware.RateLimit(rate.NewLimiter(1, 0), &middleware.RateLimitOptions{FailFast: ff})(mem).
			Send(context.Background(), testMessage("ann@example.com"))
		if transport.CodeOf(err) != transport.ResourceExhausted || transport.IsTemporary(err) {
			t.Errorf("burst 0 (FailFast %v): err = %v, want permanent ResourceExhausted", ff, err)
		}
	}
	if mem.Attempts() != 0 {
		t.Errorf("attempts = %d, want 0", mem.Attempts())
	}
}

func TestRateLimitNothingConfiguredPassesThrough(t *testing.T) {
	mem := memmail.New(nil)
	for range 3 {
		if _, err := middleware.RateLimit(nil, nil)(mem).Send(context.Background(), testMessage("ann@example.com")); err != nil {
			t.Fatal(err)
		}
	}
}
