package transport

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// CompositeOptions configures Failover and RoundRobin. The zero value (or nil) means the
// defaults below.
type CompositeOptions struct {
	// CoolDown is how long a member that failed with a transport fault rests before it gets
	// one trial send (a half-open circuit); default 30s.
	CoolDown time.Duration
	// Now is the clock; default time.Now. Tests set it to step through cool-downs.
	Now func() time.Time
}

const defaultCoolDown = 30 * time.Second

// Failover sends through the first healthy member of an ordered list and moves to the next
// only on a transport fault (see IsTransportFault): never on a message fault such as a
// refused recipient or rejected content, which the next member would refuse too, and never
// after ErrMaybeDelivered, which could deliver the message twice.
//
// A member that failed with a transport fault rests for CompositeOptions.CoolDown; after
// that, one send at a time tries it (half-open) until one succeeds or is refused for the
// message's sake, which makes it healthy again. When every member rests, Send fails at once
// with a temporary Unavailable error whose RetryAfter says when the first is due, so the
// Retry middleware above waits for it.
//
// It is safe for concurrent use. Close closes every member.
type Failover struct {
	g group
}

// NewFailover returns a Failover over members, in order of preference. It owns them.
func NewFailover(opts *CompositeOptions, members ...Transport) *Failover {
	f := &Failover{}
	f.g.init("transport.Failover", opts, members)
	return f
}

// Send sends m through the first member that is not resting and does not fail with a
// transport fault.
func (f *Failover) Send(ctx context.Context, m *Message) (*Receipt, error) {
	return f.g.send(ctx, m, 0)
}

// Close closes every member and returns their errors joined.
func (f *Failover) Close() error { return f.g.close() }

// Reset makes every member healthy again, ending their cool-downs; for workers that know
// the backends recovered.
func (f *Failover) Reset() { f.g.reset() }

// As returns true for the first member whose As accepts target.
func (f *Failover) As(target any) bool { return f.g.as(target) }

// IsTransportFault reports whether err blames the transport that returned it (its server,
// the network, its credentials or its account's quota) rather than the message, so that
// another transport may succeed:
//
//   - Unavailable, DeadlineExceeded (a phase timeout; not the caller's ctx) and network
//     errors, except SMTP replies about one mailbox (4.1.x, 4.2.x, 450);
//   - temporary ResourceExhausted (HTTP 429, SMTP 452 insufficient storage), but not "too
//     many recipients";
//   - authentication failures (SMTP 530/534/535/538, HTTP 401/403), a wrong endpoint (HTTP
//     404) and FailedPrecondition (the transport is closed or not set up).
//
// A *PartialError (recipients refused), InvalidArgument, NotFound for a mailbox, content or
// policy refusals and Internal are message faults.
func IsTransportFault(err error) bool { return classifyFault(err) == faultTransport }

type fault int

const (
	faultNone       fault = iota // success, or the message's fault: stop here
	faultTransport               // the member is unwell: rest it and try the next
	faultCapability              // the member lacks a feature this message needs: try the next, no rest
)

func classifyFault(err error) fault {
	if err == nil {
		return faultNone
	}
	var pe *PartialError
	if errors.As(err, &pe) {
		return faultNone
	}
	var e *Error
	if !errors.As(err, &e) {
		if isNetError(err) {
			return faultTransport
		}
		return faultNone
	}
	status := httpStatusOf(e)
	switch e.Code {
	case Unavailable:
		if e.Reply != nil && aboutMailbox(e.Reply) {
			return faultNone
		}
		return faultTransport
	case DeadlineExceeded, FailedPrecondition:
		return faultTransport
	case ResourceExhausted:
		if e.Temporary && (e.Reply == nil || !aboutMailbox(e.Reply) && !tooManyRecipients(e.Reply)) {
			return faultTransport
		}
	case PermissionDenied:
		if status == 401 || status == 403 || e.Reply != nil && isAuthReply(e.Reply) {
			return faultTransport
		}
	case NotFound:
		if status == 404 {
			return faultTransport
		}
	case Unimplemented:
		return faultCapability
	case Unknown:
		if isNetError(err) {
			return faultTransport
		}
	}
	return faultNone
}

// aboutMailbox reports an SMTP reply about one recipient's address or mailbox.
func aboutMailbox(r *Reply) bool {
	if !r.Enhanced.IsZero() {
		return r.Enhanced[1] == 1 || r.Enhanced[1] == 2
	}
	switch r.Code {
	case 450, 550, 551, 552, 553:
		return true
	}
	return false
}

func isAuthReply(r *Reply) bool {
	switch r.Code {
	case 530, 534, 535, 538:
		return true
	}
	return r.Enhanced[1] == 7 && (r.Enhanced[2] == 8 || r.Enhanced[2] == 9)
}

func httpStatusOf(e *Error) int {
	var s httpStatusError
	if errors.As(e.Err, &s) {
		return int(s)
	}
	return 0
}

func isNetError(err error) bool {
	var ne net.Error
	return errors.As(err, &ne)
}

// group is the member list and health shared by Failover and RoundRobin.
type group struct {
	name     string
	members  []member
	coolDown time.Duration
	now      func() time.Time
	closed   atomic.Bool
}

// member is one transport and its circuit: healthy (restUntil zero), resting (now before
// restUntil), or half-open (rest over; one trial send at a time).
type member struct {
	t         Transport
	mu        sync.Mutex
	restUntil time.Time
	trial     bool
}

type outcome int

const (
	inconclusive outcome = iota // the caller's ctx ended: says nothing about the member
	healthy
	unwell
)

func (g *group) init(name string, opts *CompositeOptions, members []Transport) {
	g.name, g.coolDown, g.now = name, defaultCoolDown, time.Now
	if opts != nil {
		if opts.CoolDown > 0 {
			g.coolDown = opts.CoolDown
		}
		if opts.Now != nil {
			g.now = opts.Now
		}
	}
	g.members = make([]member, len(members))
	for i, t := range members {
		g.members[i].t = t
	}
}

// acquire says whether a send may use the member now, and whether it is the trial send of
// a half-open member. When it may not, wait is the time left of its rest (0 while a trial
// is in flight).
func (m *member) acquire(now time.Time) (trial bool, wait time.Duration, ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case m.restUntil.IsZero():
		return false, 0, true
	case now.Before(m.restUntil):
		return false, m.restUntil.Sub(now), false
	case m.trial:
		return false, 0, false
	}
	m.trial = true
	return true, 0, true
}

func (m *member) release(trial bool, o outcome, now time.Time, coolDown time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case o == unwell:
		m.restUntil = now.Add(coolDown)
	case o == healthy && trial:
		m.restUntil = time.Time{}
	}
	if trial {
		m.trial = false
	}
}

func (g *group) send(ctx context.Context, m *Message, first int) (*Receipt, error) {
	if g.closed.Load() {
		return nil, Closed(g.name)
	}
	n := len(g.members)
	if n == 0 {
		return nil, Errorf(FailedPrecondition, false, "%s: no member transports; pass at least one", g.name)
	}
	var errs []error
	soonest := time.Duration(-1)
	for k := range n {
		i := (first + k) % n
		mb := &g.members[i]
		trial, wait, ok := mb.acquire(g.now())
		if !ok {
			if soonest < 0 || wait < soonest {
				soonest = wait
			}
			continue
		}
		r, err := mb.t.Send(ctx, m)
		f := classifyFault(err)
		o := healthy
		switch {
		case err != nil && ctx.Err() != nil:
			o = inconclusive
		case f == faultTransport:
			o = unwell
		}
		mb.release(trial, o, g.now(), g.coolDown)
		if f == faultNone || o == inconclusive || errors.Is(err, ErrMaybeDelivered) || r != nil && len(r.Accepted) > 0 {
			return r, err
		}
		errs = append(errs, fmt.Errorf("member %d: %w", i, err))
		if f == faultTransport && (soonest < 0 || g.coolDown < soonest) {
			soonest = g.coolDown
		}
	}
	if len(errs) == 0 {
		return nil, &Error{Code: Unavailable, Temporary: true, RetryAfter: max(soonest, 0),
			Err: fmt.Errorf("%s: all %d members are resting after transport faults; the next is due in %s", g.name, n, max(soonest, 0))}
	}
	return nil, g.allFailed(errs, soonest)
}

// allFailed summarizes the members' errors: their common Code (else Unavailable),
// temporary when any was, each still reachable with errors.Is and errors.As.
func (g *group) allFailed(errs []error, soonest time.Duration) error {
	code, temp := CodeOf(errs[0]), false
	for _, err := range errs {
		if CodeOf(err) != code {
			code = Unavailable
		}
		temp = temp || IsTemporary(err)
	}
	e := &Error{Code: code, Temporary: temp, Err: fmt.Errorf("%s: %s: %w", g.name, triedMembers(len(errs)), errors.Join(errs...))}
	if temp && soonest > 0 {
		e.RetryAfter = soonest
	}
	return e
}

func triedMembers(n int) string {
	if n == 1 {
		return "the only member available failed"
	}
	return "all " + strconv.Itoa(n) + " members tried failed"
}

func (g *group) close() error {
	if g.closed.Swap(true) {
		return nil
	}
	var errs []error
	for i := range g.members {
		if err := g.members[i].t.Close(); err != nil {
			errs = append(errs, fmt.Errorf("%s: close member %d: %w", g.name, i, err))
		}
	}
	return errors.Join(errs...)
}

func (g *group) reset() {
	for i := range g.members {
		mb := &g.members[i]
		mb.mu.Lock()
		mb.restUntil = time.Time{}
		mb.mu.Unlock()
	}
}

func (g *group) as(target any) bool {
	for i := range g.members {
		if As(g.members[i].t, target) {
			return true
		}
	}
	return false
}
