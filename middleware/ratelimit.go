package middleware

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/postiemail/postie/transport"
)

// Waiter blocks until one more send may go ahead, or until ctx ends. *rate.Limiter
// implements it; so can a limiter shared between processes.
type Waiter interface {
	Wait(ctx context.Context) error
}

// RateLimitOptions configures RateLimit. The zero value (or nil) means: only the
// transport-wide bucket, waiting for tokens.
type RateLimitOptions struct {
	// DomainLimit, when positive, adds a token bucket per recipient domain with this rate
	// (sends per second), for receivers that throttle senders (one token per domain per
	// attempt, whatever the number of recipients there).
	DomainLimit rate.Limit
	// DomainBurst is the size of each domain bucket; default 1.
	DomainBurst int
	// MaxDomains bounds the domain buckets kept; default 10000. Beyond it, full (idle)
	// buckets are dropped, which changes nothing since a new bucket starts full.
	MaxDomains int

	// FailFast makes a send that would have to wait fail at once with a temporary
	// ResourceExhausted error whose RetryAfter says when a token is due, instead of waiting.
	// It needs a limiter with a Reserve method, such as *rate.Limiter.
	FailFast bool
}

// RateLimit returns middleware that takes a token from w (the transport-wide bucket, such
// as rate.NewLimiter(10, 5); nil for none) and, when configured, from each recipient
// domain's bucket before every send. Waiting honours ctx: a send whose ctx ends while it
// waits fails with Canceled or DeadlineExceeded and is not sent.
//
// Place it inside Retry so that every attempt spends a token against the provider's quota.
func RateLimit(w Waiter, opts *RateLimitOptions) transport.Middleware {
	l := &limiter{w: w, burst: 1, maxDomains: 10000}
	if opts != nil {
		l.domainLimit = opts.DomainLimit
		l.failFast = opts.FailFast
		if opts.DomainBurst > 0 {
			l.burst = opts.DomainBurst
		}
		if opts.MaxDomains > 0 {
			l.maxDomains = opts.MaxDomains
		}
	}
	l.sweepAt = l.maxDomains
	return func(next transport.Transport) transport.Transport {
		return transport.Wrap(next, func(ctx context.Context, m *transport.Message) (*transport.Receipt, error) {
			if err := l.take(ctx, m); err != nil {
				return nil, err
			}
			return next.Send(ctx, m)
		})
	}
}

type limiter struct {
	w           Waiter
	domainLimit rate.Limit
	burst       int
	maxDomains  int
	failFast    bool

	mu      sync.Mutex
	domains map[string]*rate.Limiter
	sweepAt int
}

// reserver is the part of *rate.Limiter that fail-fast mode needs.
type reserver interface {
	Reserve() *rate.Reservation
}

func (l *limiter) take(ctx context.Context, m *transport.Message) error {
	var doms []*rate.Limiter
	if l.domainLimit > 0 {
		doms = l.domainLimiters(m.Envelope.To)
	}
	if l.w == nil && len(doms) == 0 {
		return nil
	}
	if l.failFast {
		return l.reserve(doms)
	}
	si := sendInfoFrom(ctx)
	now := time.Now()
	var waited time.Duration
	defer func() { si.addWait(waited) }()
	if l.w != nil {
		if lim, ok := l.w.(*rate.Limiter); ok {
			d, err := waitToken(ctx, lim, now)
			waited += d
			if err != nil {
				return err
			}
		} else {
			err := l.w.Wait(ctx)
			if si != nil {
				waited = time.Since(now)
			}
			if err != nil {
				return waitError(ctx, err)
			}
		}
	}
	for _, lim := range doms {
		d, err := waitToken(ctx, lim, now.Add(waited))
		waited += d
		if err != nil {
			return err
		}
	}
	return nil
}

// waitToken takes one token from lim, waiting for it like (*rate.Limiter).Wait but reading
// the clock only once (the caller's now) and allocating nothing when a token is there.
// It returns the time it waited.
func waitToken(ctx context.Context, lim *rate.Limiter, now time.Time) (time.Duration, error) {
	if lim.AllowN(now, 1) {
		return 0, nil
	}
	if err := ctx.Err(); err != nil {
		return 0, transport.FromContext(ctx, nil)
	}
	r := lim.ReserveN(now, 1)
	if !r.OK() {
		return 0, errNeverGrants()
	}
	d := r.DelayFrom(now)
	if dl, ok := ctx.Deadline(); ok && dl.Sub(now) < d {
		r.CancelAt(now)
		return 0, &transport.Error{Code: transport.DeadlineExceeded,
			Err: fmt.Errorf("middleware.RateLimit: the next token comes in %s, after ctx's deadline", d.Round(time.Millisecond))}
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return d, nil
	case <-ctx.Done():
		r.Cancel() // gives back the token not yet due
		return time.Since(now), transport.FromContext(ctx, nil)
	}
}

// reserve takes every token the send needs without waiting, or none. A reservation made
// for now cannot be cancelled (rate restores only tokens not yet due), so the domain
// buckets, which only this middleware uses, are checked under l.mu before anything is taken.
func (l *limiter) reserve(doms []*rate.Limiter) error {
	var tr reserver
	if l.w != nil {
		var ok bool
		if tr, ok = l.w.(reserver); !ok {
			return transport.Errorf(transport.FailedPrecondition, false,
				"middleware.RateLimit: FailFast needs a limiter with a Reserve method such as *rate.Limiter, got %T", l.w)
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	var due time.Duration
	for _, d := range doms {
		if tok := d.TokensAt(now); tok < 1 {
			due = max(due, time.Duration((1-tok)/float64(d.Limit())*float64(time.Second)))
		}
	}
	if due > 0 {
		return limited(due)
	}
	if tr != nil {
		r := tr.Reserve()
		if !r.OK() {
			return errNeverGrants()
		}
		if d := r.Delay(); d > 0 {
			r.Cancel() // not due yet, so Cancel gives the token back
			return limited(d)
		}
	}
	for _, d := range doms {
		d.AllowN(now, 1)
	}
	return nil
}

func limited(due time.Duration) error {
	return &transport.Error{Code: transport.ResourceExhausted, Temporary: true, RetryAfter: due,
		Err: fmt.Errorf("middleware.RateLimit: rate limit reached, next token in %s", due.Round(time.Millisecond))}
}

func errNeverGrants() error {
	return transport.Errorf(transport.ResourceExhausted, false,
		"middleware.RateLimit: the limiter can never grant a token (burst 0?); give it a burst of at least 1")
}

func waitError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return transport.FromContext(ctx, err)
	}
	if _, ok := ctx.Deadline(); ok {
		return &transport.Error{Code: transport.DeadlineExceeded,
			Err: fmt.Errorf("middleware.RateLimit: the next token comes after ctx's deadline: %w", err)}
	}
	return &transport.Error{Code: transport.ResourceExhausted, Err: fmt.Errorf("middleware.RateLimit: %w (a limiter with a burst of 0 never grants a token)", err)}
}

// domainLimiters returns the bucket of each distinct recipient domain, in envelope order.
func (l *limiter) domainLimiters(rcpts []string) []*rate.Limiter {
	names := make([]string, 0, len(rcpts))
	for _, to := range rcpts {
		d := strings.ToLower(to[strings.LastIndexByte(to, '@')+1:])
		if !slices.Contains(names, d) {
			names = append(names, d)
		}
	}
	out := make([]*rate.Limiter, len(names))
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.domains == nil {
		l.domains = make(map[string]*rate.Limiter)
	}
	for i, d := range names {
		lim := l.domains[d]
		if lim == nil {
			if len(l.domains) >= l.sweepAt {
				l.sweep()
			}
			lim = rate.NewLimiter(l.domainLimit, l.burst)
			l.domains[d] = lim
		}
		out[i] = lim
	}
	return out
}

// sweep drops full buckets: a full bucket behaves exactly like a new one.
func (l *limiter) sweep() {
	now := time.Now()
	for d, lim := range l.domains {
		if lim.TokensAt(now) >= float64(l.burst) {
			delete(l.domains, d)
		}
	}
	// When most buckets are busy, sweep again only after the map has grown further.
	l.sweepAt = max(l.maxDomains, 2*len(l.domains))
}
