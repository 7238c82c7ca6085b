package middleware

import (
	"context"
	"errors"
	"time"

	"github.com/sethvargo/go-retry"

	"github.com/postiemail/postie/transport"
)

// RetryOptions configures Retry. The zero value (or nil) means the defaults below.
type RetryOptions struct {
	// NewBackoff returns the backoff for one Send. It is called once per Send that needs a
	// second attempt, because go-retry backoffs keep state. Default: exponential from
	// InitialDelay, ±20% jitter, each wait capped at MaxDelay.
	NewBackoff func() retry.Backoff
	// InitialDelay is the default backoff's first wait; default 250ms.
	InitialDelay time.Duration
	// MaxDelay caps each wait of the default backoff; default 30s.
	MaxDelay time.Duration

	// MaxAttempts bounds the attempts of one Send, the first one included, whatever the
	// backoff says; default 4. 1 disables retrying.
	MaxAttempts int
	// MaxElapsed bounds the time spent retrying, from the first failure to the start of the
	// last attempt: a wait that would end later is not started and Send returns the last
	// error; default 2m.
	MaxElapsed time.Duration
	// MaxRetryAfter caps the delay a server may ask for (transport.RetryAfterOf); default 1m.
	// The wait before a retry is the larger of the backoff's and the server's.
	MaxRetryAfter time.Duration

	// RetryMaybeDelivered lets Retry repeat a send that failed with an error wrapping
	// transport.ErrMaybeDelivered. Leave it off unless duplicates are harmless (the receiver
	// de-duplicates on Message-ID, or the provider honours an idempotency key).
	RetryMaybeDelivered bool

	// OnRetry, when set, is called before each wait with the number of the attempt that
	// failed (1 for the first), its error and the wait before the next attempt.
	OnRetry func(ctx context.Context, attempt int, err error, wait time.Duration)
}

const (
	defaultInitialDelay  = 250 * time.Millisecond
	defaultMaxDelay      = 30 * time.Second
	defaultMaxAttempts   = 4
	defaultMaxElapsed    = 2 * time.Minute
	defaultMaxRetryAfter = time.Minute
	defaultJitterPercent = 20
)

// Retry returns middleware that repeats a send that failed with a temporary error
// (transport.IsTemporary), waiting between attempts with a fresh backoff per Send.
//
//   - After a partial acceptance (a *transport.PartialError) it retries only the recipients
//     refused temporarily, on a Clone of the message with a narrower Envelope.To, and merges
//     the receipts (transport.Receipt.Merge): nobody gets the message twice.
//   - It never repeats an error wrapping transport.ErrMaybeDelivered unless
//     RetryOptions.RetryMaybeDelivered is set.
//   - It waits at least as long as the server's Retry-After hint (capped).
//   - When ctx ends, the error wraps both ctx's error and the last attempt's, so errors.Is
//     and errors.As reach either; the Receipt keeps what earlier attempts achieved.
//
// It adds an event to the span in ctx (see Tracing) before each retry, so place it inside
// Tracing and outside RateLimit: transport.Chain(Tracing(nil), Retry(nil), RateLimit(l, nil)).
func Retry(opts *RetryOptions) transport.Middleware {
	cfg := retryConfig{
		maxAttempts:   defaultMaxAttempts,
		maxElapsed:    defaultMaxElapsed,
		maxRetryAfter: defaultMaxRetryAfter,
	}
	initial, maxDelay := defaultInitialDelay, defaultMaxDelay
	if opts != nil {
		cfg.newBackoff = opts.NewBackoff
		cfg.retryMaybe = opts.RetryMaybeDelivered
		cfg.onRetry = opts.OnRetry
		if opts.MaxAttempts > 0 {
			cfg.maxAttempts = opts.MaxAttempts
		}
		if opts.MaxElapsed > 0 {
			cfg.maxElapsed = opts.MaxElapsed
		}
		if opts.MaxRetryAfter > 0 {
			cfg.maxRetryAfter = opts.MaxRetryAfter
		}
		if opts.InitialDelay > 0 {
			initial = opts.InitialDelay
		}
		if opts.MaxDelay > 0 {
			maxDelay = opts.MaxDelay
		}
	}
	if cfg.newBackoff == nil {
		cfg.newBackoff = func() retry.Backoff {
			return retry.WithCappedDuration(maxDelay,
				retry.WithJitterPercent(defaultJitterPercent, retry.NewExponential(initial)))
		}
	}
	return func(next transport.Transport) transport.Transport {
		r := &retrier{retryConfig: cfg, next: next}
		return transport.Wrap(next, r.send)
	}
}

type retryConfig struct {
	newBackoff    func() retry.Backoff
	maxAttempts   int
	maxElapsed    time.Duration
	maxRetryAfter time.Duration
	retryMaybe    bool
	onRetry       func(ctx context.Context, attempt int, err error, wait time.Duration)
}

type retrier struct {
	retryConfig
	next transport.Transport
}

// errStop is what an attempt returns to go-retry: retry.Do reports only whether to go on,
// while the outcome so far (receipt and error) lives in retrySend. go-retry returns
// context.Cause(ctx) instead when ctx ends, which is how send tells the two apart.
var errStop = errors.New("middleware: stop retrying")

func (r *retrier) send(ctx context.Context, m *transport.Message) (*transport.Receipt, error) {
	if ctx.Err() != nil {
		return nil, transport.FromContext(ctx, nil)
	}
	// The first attempt runs on a stack copy of the state: most sends need nothing more.
	first := retrySend{r: r, ctx: ctx, orig: m, cur: m, info: sendInfoFrom(ctx)}
	if out := first.attempt(ctx); out == nil || out == errStop {
		return first.finish()
	}
	// go-retry drives the retries. Its first call replays the attempt above, so it starts
	// with a wait.
	s := new(retrySend)
	*s = first
	s.replay = true
	if err := retry.Do(ctx, s, s.attempt); err != nil && !errors.Is(err, errStop) {
		// ctx ended during a wait: keep both its error and the last attempt's.
		return s.receipt(), transport.FromContext(ctx, s.err)
	}
	return s.finish()
}

// finish returns the outcome, wrapping ctx's error too when ctx ended during the last attempt.
func (s *retrySend) finish() (*transport.Receipt, error) {
	if s.err != nil && s.ctx.Err() != nil && !errors.Is(s.err, s.ctx.Err()) {
		return s.receipt(), transport.FromContext(s.ctx, s.err)
	}
	return s.receipt(), s.err
}

// retrySend is the state of one logical send. It is the retry.Backoff of its own retry.Do
// call, so it can enforce the attempt and time budgets and the Retry-After hint whatever
// backoff the caller chose.
type retrySend struct {
	r        *retrier
	ctx      context.Context
	orig     *transport.Message
	cur      *transport.Message // orig, or a Clone narrowed to the recipients still due
	info     *sendInfo
	start    time.Time     // of the first retry decision; the clock is read only on failure
	backoff  retry.Backoff // built on the first retry
	attempts int
	hint     time.Duration // Retry-After of the last attempt
	last     error         // the last attempt's own error
	replay   bool          // the next call to attempt reports the one already made

	merged *transport.Receipt // what all attempts achieved; nil until one reports recipients
	got    bool               // some attempt returned a Receipt
	err    error              // the outcome so far; what Send returns if it stops now
}

func (s *retrySend) receipt() *transport.Receipt {
	if !s.got {
		return nil
	}
	return s.merged
}

// attempt sends once and records the outcome in s.
func (s *retrySend) attempt(ctx context.Context) error {
	if s.replay {
		s.replay = false
		return retry.RetryableError(errStop)
	}
	s.attempts++
	s.info.addAttempt()
	s.hint = 0
	rcpt, err := s.r.next.Send(ctx, s.cur)
	s.last = err
	first := s.merged == nil
	if rcpt != nil {
		s.got = true
	}

	if err == nil {
		return s.succeeded(rcpt, first)
	}
	return s.failed(rcpt, err, first)
}

// succeeded records an attempt that reached every recipient it was given.
func (s *retrySend) succeeded(rcpt *transport.Receipt, first bool) error {
	if first {
		s.merged, s.err = rcpt, nil
		return nil
	}
	if rcpt == nil {
		rcpt = &transport.Receipt{MessageID: s.cur.MessageID, Accepted: s.cur.Envelope.To}
		s.got = true
	}
	s.merge(rcpt)
	s.err = s.overall()
	return nil
}

// failed records a failed attempt and says whether to try again.
func (s *retrySend) failed(rcpt *transport.Receipt, err error, first bool) error {
	var pe *transport.PartialError
	if errors.As(err, &pe) {
		// Some recipients were refused. Keep the result and retry only the temporary refusals.
		var r transport.Receipt
		if rcpt != nil {
			r = *rcpt
		}
		if len(r.Rejected) == 0 {
			r.Rejected = pe.Rejected
		}
		s.merge(&r)
		if first {
			s.err = err // the transport's own error says it best
		} else {
			s.err = s.overall()
		}
		due := s.retryable(pe.Rejected)
		if len(due) == 0 {
			return errStop
		}
		s.cur = narrow(s.orig, due)
		s.hint = transport.RetryAfterOf(err)
		return retry.RetryableError(errStop)
	}

	// The whole attempt failed, for every recipient still due.
	if first {
		s.err = err
	} else {
		// Earlier attempts reached some recipients: this failure refuses the rest.
		rej := make([]transport.RecipientError, len(s.cur.Envelope.To))
		for i, to := range s.cur.Envelope.To {
			rej[i] = transport.RecipientError{Recipient: to, Err: err}
		}
		s.merge(&transport.Receipt{Rejected: rej})
		s.err = s.overall()
	}
	if !s.mayRepeat(err) {
		return errStop
	}
	s.hint = transport.RetryAfterOf(err)
	return retry.RetryableError(errStop)
}

// merge folds an attempt's receipt into s.merged, copying the first so the transport's
// value is never modified.
func (s *retrySend) merge(r *transport.Receipt) {
	if r == nil {
		return
	}
	if s.merged == nil {
		c := *r
		c.Accepted = append([]string(nil), r.Accepted...)
		c.Rejected = append([]transport.RecipientError(nil), r.Rejected...)
		s.merged = &c
		return
	}
	s.merged.Merge(r)
}

func (s *retrySend) overall() error {
	if s.merged == nil || len(s.merged.Rejected) == 0 {
		return nil
	}
	return transport.NewPartialError(s.merged.Rejected)
}

func (s *retrySend) mayRepeat(err error) bool {
	return transport.IsTemporary(err) && (s.r.retryMaybe || !errors.Is(err, transport.ErrMaybeDelivered))
}

// retryable returns the refused recipients worth another attempt.
func (s *retrySend) retryable(rejected []transport.RecipientError) map[string]bool {
	var due map[string]bool
	for _, re := range rejected {
		if s.mayRepeat(re.Err) {
			if due == nil {
				due = make(map[string]bool, len(rejected))
			}
			due[transport.AddrKey(re.Recipient)] = true
		}
	}
	return due
}

// narrow returns a Clone of m whose envelope holds only the recipients in due, in
// envelope order. The header fields stay as they are: the recipients see the same message.
func narrow(m *transport.Message, due map[string]bool) *transport.Message {
	c := m.Clone()
	c.Envelope.To = c.Envelope.To[:0]
	for _, to := range m.Envelope.To {
		if due[transport.AddrKey(to)] {
			c.Envelope.To = append(c.Envelope.To, to)
		}
	}
	return c
}

// Next implements retry.Backoff for this send: the caller's backoff, at least the server's
// Retry-After, within the attempt and time budgets and ctx's deadline.
func (s *retrySend) Next() (time.Duration, bool) {
	if s.ctx.Err() != nil {
		return 0, false // let retry.Do see ctx end, so the ctx error is reported
	}
	if s.attempts >= s.r.maxAttempts {
		return 0, true
	}
	if s.backoff == nil {
		s.start = time.Now()
		s.backoff = s.r.newBackoff()
		if s.backoff == nil {
			return 0, true
		}
	}
	wait, stop := s.backoff.Next()
	if stop {
		return 0, true
	}
	if s.hint > 0 {
		wait = max(wait, min(s.hint, s.r.maxRetryAfter))
	}
	if time.Since(s.start)+wait > s.r.maxElapsed {
		return 0, true
	}
	if dl, ok := s.ctx.Deadline(); ok && time.Until(dl) < wait {
		return 0, true // the next attempt could not start before ctx ends
	}
	if s.r.onRetry != nil {
		s.r.onRetry(s.ctx, s.attempts, s.last, wait)
	}
	addRetryEvent(s.ctx, s.attempts, s.last, wait)
	return wait, false
}
