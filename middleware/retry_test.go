package middleware_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sethvargo/go-retry"

	"github.com/postiemail/postie/middleware"
	"github.com/postiemail/postie/transport"
	"github.com/postiemail/postie/transport/memmail"
)

// fast is a backoff that barely waits, so tests run quickly.
func fast() retry.Backoff { return retry.NewConstant(time.Microsecond) }

func retryOver(t transport.Transport, opts *middleware.RetryOptions) transport.Transport {
	if opts == nil {
		opts = &middleware.RetryOptions{}
	}
	if opts.NewBackoff == nil {
		opts.NewBackoff = fast
	}
	return middleware.Retry(opts)(t)
}

func TestRetryTemporaryErrorThenSuccess(t *testing.T) {
	mem := memmail.New(nil)
	mem.FailNext(errShutdown(), errGreylisted())
	r, err := retryOver(mem, nil).Send(context.Background(), testMessage("ann@example.com"))
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if got := mem.Attempts(); got != 3 {
		t.Errorf("attempts = %d, want 3", got)
	}
	if mem.Len() != 1 || !slices.Equal(r.Accepted, []string{"ann@example.com"}) {
		t.Errorf("delivered %d, accepted %q; want 1 message to ann", mem.Len(), r.Accepted)
	}
}

func TestRetryPermanentErrorIsNotRetried(t *testing.T) {
	for _, e := range []*transport.Error{errAuth(), transport.Errorf(transport.InvalidArgument, false, "bad header")} {
		mem := memmail.New(nil)
		mem.FailNext(e)
		_, err := retryOver(mem, nil).Send(context.Background(), testMessage("ann@example.com"))
		if !errors.Is(err, e) {
			t.Errorf("err = %v, want the transport's %v", err, e)
		}
		if mem.Attempts() != 1 || mem.Len() != 0 {
			t.Errorf("%v: attempts %d, delivered %d; want 1 attempt and nothing delivered", e.Code, mem.Attempts(), mem.Len())
		}
	}
}

func TestRetryStopsAfterMaxAttemptsWithTheLastError(t *testing.T) {
	mem := memmail.New(nil)
	var errs []error
	for i := range 5 {
		errs = append(errs, transport.Errorf(transport.Unavailable, true, "busy #%d", i+1))
	}
	mem.FailNext(errs...)
	_, err := retryOver(mem, &middleware.RetryOptions{MaxAttempts: 3}).Send(context.Background(), testMessage("ann@example.com"))
	if mem.Attempts() != 3 {
		t.Errorf("attempts = %d, want 3", mem.Attempts())
	}
	if !errors.Is(err, errs[2]) {
		t.Errorf("err = %v, want the third attempt's error", err)
	}
	if !transport.IsTemporary(err) || transport.CodeOf(err) != transport.Unavailable {
		t.Errorf("err %v lost its classification", err)
	}
}

func TestRetryBudgetOfOneAttemptMeansNoRetry(t *testing.T) {
	mem := memmail.New(nil)
	mem.FailNext(errShutdown())
	_, err := retryOver(mem, &middleware.RetryOptions{MaxAttempts: 1}).Send(context.Background(), testMessage("ann@example.com"))
	if err == nil || mem.Attempts() != 1 {
		t.Fatalf("err %v after %d attempts; want the error after 1", err, mem.Attempts())
	}
}

// After a partial acceptance only the temporarily refused recipient is retried, the
// permanently refused one never, and the receipts are merged.
func TestRetryPartialRetriesOnlyTemporaryRefusals(t *testing.T) {
	mem := memmail.New(nil)
	mem.RejectRecipientOnce("bob@example.com", errGreylisted())
	mem.RejectRecipient("cat@example.com", errNoSuchUser())
	m := testMessage("ann@example.com", "bob@example.com", "cat@example.com")
	r, err := retryOver(mem, nil).Send(context.Background(), m)

	var pe *transport.PartialError
	if !errors.As(err, &pe) || len(pe.Rejected) != 1 || pe.Rejected[0].Recipient != "cat@example.com" {
		t.Fatalf("err = %v, want a PartialError refusing only cat", err)
	}
	if transport.IsTemporary(err) || transport.CodeOf(err) != transport.NotFound {
		t.Errorf("err %v: want permanent NotFound", err)
	}
	if r == nil || !slices.Equal(r.Accepted, []string{"ann@example.com", "bob@example.com"}) {
		t.Fatalf("receipt %+v: want ann and bob accepted", r)
	}
	if len(r.Rejected) != 1 || r.Rejected[0].Recipient != "cat@example.com" {
		t.Errorf("receipt rejected %v, want only cat", r.Rejected)
	}
	msgs := mem.Messages()
	if len(msgs) != 2 || !slices.Equal(msgs[0].Envelope.To, []string{"ann@example.com"}) || !slices.Equal(msgs[1].Envelope.To, []string{"bob@example.com"}) {
		t.Fatalf("deliveries: %d; want ann, then bob alone", len(msgs))
	}
	// The retry is the same message: same Message-ID and header recipients.
	if msgs[1].MessageID != m.MessageID || len(msgs[1].To) != 3 {
		t.Errorf("retried message differs: id %q, To %v", msgs[1].MessageID, msgs[1].To)
	}
	if !slices.Equal(m.Envelope.To, []string{"ann@example.com", "bob@example.com", "cat@example.com"}) {
		t.Errorf("the caller's message was modified: %v", m.Envelope.To)
	}
}

// A later attempt that fails as a whole refuses the recipients still due, while the
// receipt keeps those an earlier attempt reached.
func TestRetryWholeFailureAfterPartialKeepsEarlierAcceptance(t *testing.T) {
	mem := memmail.New(nil)
	mem.RejectRecipientOnce("bob@example.com", errGreylisted())
	shutdown := errShutdown()
	opts := &middleware.RetryOptions{MaxAttempts: 2, OnRetry: func(context.Context, int, error, time.Duration) {
		mem.FailNext(shutdown)
	}}
	r, err := retryOver(mem, opts).Send(context.Background(), testMessage("ann@example.com", "bob@example.com"))
	var pe *transport.PartialError
	if !errors.As(err, &pe) || len(pe.Rejected) != 1 || pe.Rejected[0].Recipient != "bob@example.com" || !errors.Is(err, shutdown) {
		t.Fatalf("err = %v, want a PartialError refusing bob with the 421", err)
	}
	if !transport.IsTemporary(err) {
		t.Errorf("err %v should stay temporary", err)
	}
	if r == nil || !slices.Equal(r.Accepted, []string{"ann@example.com"}) {
		t.Errorf("receipt %+v: want ann accepted", r)
	}
}

func TestRetryNeverRepeatsMaybeDelivered(t *testing.T) {
	maybe := func() error {
		return &transport.Error{Code: transport.Unavailable, Temporary: true,
			Err: fmt.Errorf("connection reset after the final dot: %w", transport.ErrMaybeDelivered)}
	}
	mem := memmail.New(nil)
	mem.FailNext(maybe())
	_, err := retryOver(mem, nil).Send(context.Background(), testMessage("ann@example.com"))
	if !errors.Is(err, transport.ErrMaybeDelivered) || mem.Attempts() != 1 {
		t.Fatalf("err %v after %d attempts; want ErrMaybeDelivered after 1", err, mem.Attempts())
	}

	mem = memmail.New(nil)
	mem.FailNext(maybe())
	_, err = retryOver(mem, &middleware.RetryOptions{RetryMaybeDelivered: true}).Send(context.Background(), testMessage("ann@example.com"))
	if err != nil || mem.Attempts() != 2 {
		t.Fatalf("RetryMaybeDelivered: err %v after %d attempts; want success after 2", err, mem.Attempts())
	}
}

func TestRetryHonoursRetryAfterWithinItsCap(t *testing.T) {
	for _, tc := range []struct {
		hint, cap, want time.Duration
	}{
		{hint: 3 * time.Millisecond, cap: time.Minute, want: 3 * time.Millisecond},
		{hint: time.Hour, cap: 2 * time.Millisecond, want: 2 * time.Millisecond},
	} {
		mem := memmail.New(nil)
		mem.FailNext(transport.ClassifyHTTP(429, ""))
		mem.FailNext(&transport.Error{Code: transport.ResourceExhausted, Temporary: true, RetryAfter: tc.hint, Err: errors.New("slow down")})
		var waits []time.Duration
		opts := &middleware.RetryOptions{MaxRetryAfter: tc.cap, OnRetry: func(_ context.Context, _ int, _ error, w time.Duration) {
			waits = append(waits, w)
		}}
		if _, err := retryOver(mem, opts).Send(context.Background(), testMessage("ann@example.com")); err != nil {
			t.Fatalf("Send: %v", err)
		}
		// The first 429 has no hint: the backoff's microsecond. The second asks for tc.hint.
		if len(waits) != 2 || waits[0] != time.Microsecond || waits[1] != tc.want {
			t.Errorf("hint %v cap %v: waits %v, want [1µs %v]", tc.hint, tc.cap, waits, tc.want)
		}
	}
}

// The wait comes from a fresh backoff per send, created only when a retry is needed.
func TestRetryBuildsAFreshBackoffPerSend(t *testing.T) {
	var made atomic.Int32
	opts := &middleware.RetryOptions{NewBackoff: func() retry.Backoff {
		made.Add(1)
		// Stateful: allows one retry only. Shared between sends, the second send would fail.
		return retry.WithMaxRetries(1, fast())
	}}
	mem := memmail.New(nil)
	tr := middleware.Retry(opts)(mem)
	if _, err := tr.Send(context.Background(), testMessage("ann@example.com")); err != nil {
		t.Fatal(err)
	}
	if made.Load() != 0 {
		t.Fatalf("a send that needed no retry built %d backoffs", made.Load())
	}
	for i := range 2 {
		mem.FailNext(errShutdown())
		if _, err := tr.Send(context.Background(), testMessage("ann@example.com")); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	if made.Load() != 2 {
		t.Errorf("built %d backoffs for 2 sends that retried, want 2", made.Load())
	}
}

// When ctx ends during a wait, the error says so and still carries the last attempt's.
func TestRetryCtxEndKeepsBothErrors(t *testing.T) {
	mem := memmail.New(nil)
	cause := errShutdown()
	mem.FailNext(cause)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	opts := &middleware.RetryOptions{
		NewBackoff: func() retry.Backoff { return retry.NewConstant(time.Minute) },
		OnRetry:    func(context.Context, int, error, time.Duration) { cancel() },
	}
	_, err := middleware.Retry(opts)(mem).Send(ctx, testMessage("ann@example.com"))
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want it to wrap context.Canceled", err)
	}
	if !errors.Is(err, cause) {
		t.Errorf("err = %v, want it to wrap the last attempt's error", err)
	}
	var te *transport.Error
	if !errors.As(err, &te) || transport.CodeOf(err) != transport.Canceled {
		t.Errorf("err = %v, want Code Canceled", err)
	}
	if mem.Attempts() != 1 {
		t.Errorf("attempts = %d, want 1", mem.Attempts())
	}
}

// A partial send whose ctx ends keeps its receipt and its PartialError reachable.
func TestRetryCtxEndAfterPartialKeepsReceipt(t *testing.T) {
	mem := memmail.New(nil)
	mem.RejectRecipient("bob@example.com", errGreylisted())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	opts := &middleware.RetryOptions{
		NewBackoff: func() retry.Backoff { return retry.NewConstant(time.Minute) },
		OnRetry:    func(context.Context, int, error, time.Duration) { cancel() },
	}
	r, err := middleware.Retry(opts)(mem).Send(ctx, testMessage("ann@example.com", "bob@example.com"))
	var pe *transport.PartialError
	if !errors.Is(err, context.Canceled) || !errors.As(err, &pe) {
		t.Fatalf("err = %v, want Canceled and the PartialError", err)
	}
	if r == nil || !slices.Equal(r.Accepted, []string{"ann@example.com"}) {
		t.Errorf("receipt %+v, want ann accepted", r)
	}
}

// A wait that would outlast ctx's deadline is not started: the last error comes back now.
func TestRetryDoesNotWaitPastTheDeadline(t *testing.T) {
	mem := memmail.New(nil)
	cause := errShutdown()
	mem.FailNext(cause)
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	opts := &middleware.RetryOptions{NewBackoff: func() retry.Backoff { return retry.NewConstant(2 * time.Hour) }}
	_, err := middleware.Retry(opts)(mem).Send(ctx, testMessage("ann@example.com"))
	if !errors.Is(err, cause) || mem.Attempts() != 1 {
		t.Fatalf("err %v after %d attempts; want the 421 after 1", err, mem.Attempts())
	}
}

func TestRetryMaxElapsedStopsLongWaits(t *testing.T) {
	mem := memmail.New(nil)
	mem.FailNext(errShutdown())
	opts := &middleware.RetryOptions{MaxElapsed: time.Minute,
		NewBackoff: func() retry.Backoff { return retry.NewConstant(time.Hour) }}
	if _, err := middleware.Retry(opts)(mem).Send(context.Background(), testMessage("ann@example.com")); err == nil || mem.Attempts() != 1 {
		t.Fatalf("err %v after %d attempts; want the error after 1", err, mem.Attempts())
	}
}

func TestRetryCtxAlreadyDone(t *testing.T) {
	mem := memmail.New(nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := retryOver(mem, nil).Send(ctx, testMessage("ann@example.com"))
	if transport.CodeOf(err) != transport.Canceled || !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want Canceled", err)
	}
	if mem.Attempts() != 0 {
		t.Errorf("attempts = %d, want 0", mem.Attempts())
	}
}

// Retry copies the first receipt before merging later ones into it.
func TestRetryDoesNotModifyTheTransportsReceipt(t *testing.T) {
	first := &transport.Receipt{MessageID: "id@x", Accepted: []string{"ann@example.com"},
		Rejected: []transport.RecipientError{{Recipient: "bob@example.com", Err: errGreylisted()}}}
	calls := 0
	fake := transport.SendFunc(func(ctx context.Context, m *transport.Message) (*transport.Receipt, error) {
		calls++
		if calls == 1 {
			return first, transport.NewPartialError(first.Rejected)
		}
		return &transport.Receipt{MessageID: "id@x", Accepted: m.Envelope.To}, nil
	})
	r, err := retryOver(fake, nil).Send(context.Background(), testMessage("ann@example.com", "bob@example.com"))
	if err != nil || !slices.Equal(r.Accepted, []string{"ann@example.com", "bob@example.com"}) {
		t.Fatalf("Send = %+v, %v; want both accepted", r, err)
	}
	if len(first.Accepted) != 1 || len(first.Rejected) != 1 {
		t.Errorf("the transport's receipt was modified: %+v", first)
	}
}

// A transport that returns no Receipt still has its recipients merged.
func TestRetryMergesNilReceipts(t *testing.T) {
	for name, first := range map[string]*transport.Receipt{
		"accepted first":      {Accepted: []string{"ann@example.com"}},
		"no receipt at first": nil,
	} {
		calls := 0
		fake := transport.SendFunc(func(ctx context.Context, m *transport.Message) (*transport.Receipt, error) {
			calls++
			if calls == 1 {
				rej := []transport.RecipientError{{Recipient: "bob@example.com", Err: errGreylisted()}}
				if first == nil {
					rej = append(rej, transport.RecipientError{Recipient: "ann@example.com", Err: errGreylisted()})
				}
				return first, transport.NewPartialError(rej)
			}
			return nil, nil
		})
		r, err := retryOver(fake, nil).Send(context.Background(), testMessage("ann@example.com", "bob@example.com"))
		if err != nil || r == nil || len(r.Accepted) != 2 || len(r.Rejected) != 0 {
			t.Errorf("%s: Send = %+v, %v; want both accepted, none rejected", name, r, err)
		}
	}
}

func TestRetryConcurrentSends(t *testing.T) {
	mem := memmail.New(nil)
	tr := retryOver(mem, nil)
	mem.FailNext(errShutdown(), errShutdown(), errShutdown())
	done := make(chan error)
	for range 8 {
		go func() {
			_, err := tr.Send(context.Background(), testMessage("ann@example.com"))
			done <- err
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
	if mem.Len() != 8 || mem.Attempts() != 11 {
		t.Errorf("delivered %d in %d attempts, want 8 in 11", mem.Len(), mem.Attempts())
	}
}
