package transport_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/postiemail/postie/transport"
	"github.com/postiemail/postie/transport/memmail"
)

// clock is a manual clock for cool-downs.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func compositeMessage(rcpts ...string) *transport.Message {
	m := &transport.Message{
		Envelope:  transport.Envelope{From: "app@example.com", To: rcpts},
		From:      mail.Address{Address: "app@example.com"},
		Subject:   "hello",
		Date:      time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		MessageID: "id1@example.com",
		Text:      "hi\n",
	}
	for _, r := range rcpts {
		m.To = append(m.To, mail.Address{Address: r})
	}
	return m
}

func smtpErr(code int, en transport.Enhanced, text string) *transport.Error {
	return transport.ClassifyReply(&transport.Reply{Code: code, Enhanced: en, Lines: []string{text}})
}

var (
	netErr = &transport.Error{Code: transport.Unavailable, Temporary: true,
		Err: &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}}
	maybeDelivered = &transport.Error{Code: transport.Unknown,
		Err: fmt.Errorf("connection reset after the final dot: %w", transport.ErrMaybeDelivered)}
)

func TestFailoverIsTransportFault(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"421", smtpErr(421, transport.Enhanced{4, 3, 2}, "shutting down"), true},
		{"451 local error", smtpErr(451, transport.Enhanced{4, 3, 0}, "local error"), true},
		{"452 storage", smtpErr(452, transport.Enhanced{4, 3, 1}, "insufficient storage"), true},
		{"452 too many recipients", smtpErr(452, transport.Enhanced{4, 5, 3}, "too many recipients"), false},
		{"450 mailbox busy", smtpErr(450, transport.Enhanced{4, 2, 1}, "mailbox busy"), false},
		{"450 bare", smtpErr(450, transport.Enhanced{}, "mailbox unavailable"), false},
		{"535 auth", smtpErr(535, transport.Enhanced{5, 7, 8}, "bad credentials"), true},
		{"550 5.1.1 no such user", smtpErr(550, transport.Enhanced{5, 1, 1}, "no such user"), false},
		{"554 5.7.1 policy", smtpErr(554, transport.Enhanced{5, 7, 1}, "spam"), false},
		{"552 5.3.4 too big", smtpErr(552, transport.Enhanced{5, 3, 4}, "too big"), false},
		{"550 5.6.0 content", smtpErr(550, transport.Enhanced{5, 6, 0}, "content refused"), false},
		{"500 syntax", smtpErr(500, transport.Enhanced{5, 5, 2}, "syntax"), false},
		{"HTTP 429", transport.ClassifyHTTP(429, "2"), true},
		{"HTTP 503", transport.ClassifyHTTP(503, ""), true},
		{"HTTP 408", transport.ClassifyHTTP(408, ""), true},
		{"HTTP 401", transport.ClassifyHTTP(401, ""), true},
		{"HTTP 404 endpoint", transport.ClassifyHTTP(404, ""), true},
		{"HTTP 400", transport.ClassifyHTTP(400, ""), false},
		{"HTTP 413", transport.ClassifyHTTP(413, ""), false},
		{"HTTP 422", transport.ClassifyHTTP(422, ""), false},
		{"network error", netErr, true},
		{"bare network error", &net.OpError{Op: "read", Err: errors.New("reset")}, true},
		{"phase timeout", transport.Errorf(transport.DeadlineExceeded, true, "greeting timeout"), true},
		{"closed", transport.Closed("smtp"), true},
		{"invalid argument", transport.Errorf(transport.InvalidArgument, false, "bad header"), false},
		{"partial", transport.NewPartialError([]transport.RecipientError{{Recipient: "a@x", Err: smtpErr(421, transport.Enhanced{}, "x")}}), false},
		{"wrapped 421", fmt.Errorf("mailer: send: %w", smtpErr(421, transport.Enhanced{}, "bye")), true},
		{"plain error", errors.New("boom"), false},
	} {
		if got := transport.IsTransportFault(tc.err); got != tc.want {
			t.Errorf("%s: IsTransportFault = %v, want %v (%v)", tc.name, got, tc.want, tc.err)
		}
	}
}

func TestFailoverMovesOnTransportFaults(t *testing.T) {
	for _, fault := range []error{smtpErr(421, transport.Enhanced{4, 3, 2}, "bye"), netErr, smtpErr(535, transport.Enhanced{5, 7, 8}, "bad credentials"), transport.ClassifyHTTP(429, "")} {
		a, b := memmail.New(nil), memmail.New(nil)
		a.FailNext(fault)
		f := transport.NewFailover(nil, a, b)
		r, err := f.Send(context.Background(), compositeMessage("ann@example.com"))
		if err != nil || r.ID != "mem-1" {
			t.Errorf("%v: Send = %+v, %v; want delivery by the second member", fault, r, err)
		}
		if a.Len() != 0 || b.Len() != 1 {
			t.Errorf("%v: delivered a=%d b=%d", fault, a.Len(), b.Len())
		}
	}
}

func TestFailoverStaysOnMessageFaults(t *testing.T) {
	for _, fault := range []error{
		smtpErr(554, transport.Enhanced{5, 7, 1}, "looks like spam"),
		smtpErr(450, transport.Enhanced{4, 2, 1}, "greylisted"),
		transport.ClassifyHTTP(400, ""),
		transport.Errorf(transport.InvalidArgument, false, "bad header"),
		maybeDelivered,
	} {
		a, b := memmail.New(nil), memmail.New(nil)
		a.FailNext(fault)
		f := transport.NewFailover(nil, a, b)
		if _, err := f.Send(context.Background(), compositeMessage("ann@example.com")); !errors.Is(err, fault) {
			t.Errorf("%v: err = %v, want the first member's error", fault, err)
		}
		if b.Attempts() != 0 {
			t.Errorf("%v: the second member was tried", fault)
		}
		// The first member is still healthy: the next send goes there.
		if _, err := f.Send(context.Background(), compositeMessage("ann@example.com")); err != nil || a.Len() != 1 {
			t.Errorf("%v: the next send did not go to the first member (err %v)", fault, err)
		}
	}
}

// A refused recipient is the message's fault: no move, and the member stays healthy.
func TestFailoverRefusedRecipientKeepsTheMemberHealthy(t *testing.T) {
	a, b := memmail.New(nil), memmail.New(nil)
	a.RejectRecipient("bad@example.com", nil)
	f := transport.NewFailover(nil, a, b)
	_, err := f.Send(context.Background(), compositeMessage("bad@example.com"))
	var pe *transport.PartialError
	if !errors.As(err, &pe) || b.Attempts() != 0 {
		t.Fatalf("err = %v, second member attempts %d; want the PartialError and no move", err, b.Attempts())
	}
	if _, err := f.Send(context.Background(), compositeMessage("ok@example.com")); err != nil || a.Len() != 1 {
		t.Fatalf("next send: err %v, first member delivered %d; want the first member", err, a.Len())
	}
}

// After ErrMaybeDelivered on a broken connection, the send stops there (no duplicate) but
// the member rests.
func TestFailoverMaybeDeliveredStopsButRests(t *testing.T) {
	clk := newClock()
	a, b := memmail.New(nil), memmail.New(nil)
	cut := &transport.Error{Code: transport.Unknown, Err: fmt.Errorf("%w: %w", transport.ErrMaybeDelivered, &net.OpError{Op: "read", Err: errors.New("reset")})}
	a.FailNext(cut)
	f := transport.NewFailover(&transport.CompositeOptions{Now: clk.Now}, a, b)
	if _, err := f.Send(context.Background(), compositeMessage("ann@example.com")); !errors.Is(err, transport.ErrMaybeDelivered) || b.Attempts() != 0 {
		t.Fatalf("err = %v, second member attempts %d", err, b.Attempts())
	}
	if _, err := f.Send(context.Background(), compositeMessage("ann@example.com")); err != nil || b.Len() != 1 || a.Attempts() != 1 {
		t.Fatalf("next send: err %v; want it on the second member while the first rests", err)
	}
}

func TestFailoverCoolDownAndHalfOpenTrial(t *testing.T) {
	clk := newClock()
	a, b := memmail.New(nil), memmail.New(nil)
	f := transport.NewFailover(&transport.CompositeOptions{CoolDown: time.Minute, Now: clk.Now}, a, b)
	send := func() {
		t.Helper()
		if _, err := f.Send(context.Background(), compositeMessage("ann@example.com")); err != nil {
			t.Fatal(err)
		}
	}
	a.FailNext(smtpErr(421, transport.Enhanced{}, "bye"))
	send() // a fails, b delivers
	clk.Advance(59 * time.Second)
	send() // a still rests
	if a.Attempts() != 1 || b.Len() != 2 {
		t.Fatalf("during the cool-down: a attempts %d, b delivered %d; want 1 and 2", a.Attempts(), b.Len())
	}
	clk.Advance(time.Second)
	a.FailNext(smtpErr(421, transport.Enhanced{}, "still down"))
	send() // the trial fails: a rests again, b delivers
	clk.Advance(30 * time.Second)
	send()
	if a.Attempts() != 2 || b.Len() != 4 {
		t.Fatalf("after a failed trial: a attempts %d, b delivered %d; want 2 and 4", a.Attempts(), b.Len())
	}
	clk.Advance(30 * time.Second)
	send() // the trial succeeds
	send() // a is healthy again
	if a.Len() != 2 || b.Len() != 4 {
		t.Fatalf("after a good trial: a delivered %d, b %d; want 2 and 4", a.Len(), b.Len())
	}
}

// While a half-open member's trial is in flight, other sends skip it.
func TestFailoverOneTrialAtATime(t *testing.T) {
	clk := newClock()
	inTrial, release := make(chan struct{}), make(chan struct{})
	var calls atomic.Int32
	a := transport.SendFunc(func(ctx context.Context, m *transport.Message) (*transport.Receipt, error) {
		switch calls.Add(1) {
		case 1:
			return nil, netErr
		case 2:
			close(inTrial)
			<-release
		}
		return &transport.Receipt{Accepted: m.Envelope.To, ID: "a"}, nil
	})
	b := memmail.New(nil)
	f := transport.NewFailover(&transport.CompositeOptions{CoolDown: time.Second, Now: clk.Now}, a, b)
	if _, err := f.Send(context.Background(), compositeMessage("x@example.com")); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Second)
	trial := make(chan *transport.Receipt)
	go func() {
		r, _ := f.Send(context.Background(), compositeMessage("x@example.com"))
		trial <- r
	}()
	<-inTrial
	if r, err := f.Send(context.Background(), compositeMessage("x@example.com")); err != nil || r.ID == "a" {
		t.Fatalf("a send during the trial went to %+v (%v); want the second member", r, err)
	}
	close(release)
	if r := <-trial; r == nil || r.ID != "a" {
		t.Fatalf("trial receipt %+v", r)
	}
	if r, err := f.Send(context.Background(), compositeMessage("x@example.com")); err != nil || r.ID != "a" {
		t.Fatalf("after the trial: %+v, %v; want the first member", r, err)
	}
}

func TestFailoverAllResting(t *testing.T) {
	clk := newClock()
	a, b := memmail.New(nil), memmail.New(nil)
	a.FailNext(netErr)
	b.FailNext(netErr)
	f := transport.NewFailover(&transport.CompositeOptions{CoolDown: time.Minute, Now: clk.Now}, a, b)
	_, err := f.Send(context.Background(), compositeMessage("ann@example.com"))
	if !errors.Is(err, netErr) || transport.CodeOf(err) != transport.Unavailable || !transport.IsTemporary(err) || transport.RetryAfterOf(err) != time.Minute {
		t.Fatalf("all failed: err = %v (code %v, retry after %v)", err, transport.CodeOf(err), transport.RetryAfterOf(err))
	}
	clk.Advance(20 * time.Second)
	_, err = f.Send(context.Background(), compositeMessage("ann@example.com"))
	if transport.CodeOf(err) != transport.Unavailable || !transport.IsTemporary(err) || transport.RetryAfterOf(err) != 40*time.Second {
		t.Fatalf("all resting: err = %v, retry after %v; want Unavailable due in 40s", err, transport.RetryAfterOf(err))
	}
	if a.Attempts() != 1 || b.Attempts() != 1 {
		t.Errorf("resting members were tried: %d, %d", a.Attempts(), b.Attempts())
	}
	f.Reset()
	if _, err := f.Send(context.Background(), compositeMessage("ann@example.com")); err != nil || a.Len() != 1 {
		t.Errorf("after Reset: %v; want the first member", err)
	}
}

// Every member failing permanently (bad credentials everywhere) is not temporary.
func TestFailoverAllFailedPermanently(t *testing.T) {
	auth := smtpErr(535, transport.Enhanced{5, 7, 8}, "bad credentials")
	a, b := memmail.New(nil), memmail.New(nil)
	a.FailNext(auth)
	b.FailNext(auth)
	_, err := transport.NewFailover(nil, a, b).Send(context.Background(), compositeMessage("ann@example.com"))
	if transport.CodeOf(err) != transport.PermissionDenied || transport.IsTemporary(err) || transport.RetryAfterOf(err) != 0 {
		t.Fatalf("err = %v, want permanent PermissionDenied without RetryAfter", err)
	}
}

// The caller's ctx ending mid-send is nobody's fault: no move, no rest.
func TestFailoverCtxEndIsInconclusive(t *testing.T) {
	a, b := memmail.New(nil), memmail.New(nil)
	a.Stall()
	f := transport.NewFailover(nil, a, b)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	_, err := f.Send(ctx, compositeMessage("ann@example.com"))
	if !errors.Is(err, context.DeadlineExceeded) || b.Attempts() != 0 {
		t.Fatalf("err = %v, second member attempts %d; want DeadlineExceeded and no move", err, b.Attempts())
	}
	a.ClearFaults()
	if _, err := f.Send(context.Background(), compositeMessage("ann@example.com")); err != nil || a.Len() != 1 {
		t.Fatalf("next send: %v; the first member should not rest", err)
	}
}

// A member that lacks a feature (Unimplemented) passes the message on without resting.
func TestFailoverCapabilityFaultMovesWithoutRest(t *testing.T) {
	a, b := memmail.New(nil), memmail.New(nil)
	a.FailNext(transport.Errorf(transport.Unimplemented, false, "no SMTPUTF8"))
	f := transport.NewFailover(nil, a, b)
	if _, err := f.Send(context.Background(), compositeMessage("ann@example.com")); err != nil || b.Len() != 1 {
		t.Fatalf("err %v, b delivered %d", err, b.Len())
	}
	if _, err := f.Send(context.Background(), compositeMessage("ann@example.com")); err != nil || a.Len() != 1 {
		t.Fatalf("the first member rests after a capability fault (err %v)", err)
	}
}

func TestFailoverCloseClosesAllMembers(t *testing.T) {
	a, b := memmail.New(nil), memmail.New(nil)
	f := transport.NewFailover(nil, a, b)
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	for i, m := range []*memmail.Transport{a, b} {
		if _, err := m.Send(context.Background(), compositeMessage("ann@example.com")); !errors.Is(err, transport.ErrClosed) {
			t.Errorf("member %d not closed: %v", i, err)
		}
	}
	if _, err := f.Send(context.Background(), compositeMessage("ann@example.com")); !errors.Is(err, transport.ErrClosed) || transport.CodeOf(err) != transport.FailedPrecondition {
		t.Errorf("Send after Close: %v", err)
	}
}

func TestFailoverWithoutMembers(t *testing.T) {
	if _, err := transport.NewFailover(nil).Send(context.Background(), compositeMessage("a@example.com")); transport.CodeOf(err) != transport.FailedPrecondition {
		t.Fatalf("err = %v, want FailedPrecondition", err)
	}
	if _, err := transport.NewRoundRobin(nil).Send(context.Background(), compositeMessage("a@example.com")); transport.CodeOf(err) != transport.FailedPrecondition {
		t.Fatalf("round robin: err = %v, want FailedPrecondition", err)
	}
}

// tagged is a member with an escape hatch.
type tagged struct {
	transport.SendFunc
	tag string
}

func (t tagged) As(target any) bool {
	if p, ok := target.(*string); ok {
		*p = t.tag
		return true
	}
	return false
}

func TestFailoverAsReachesMembers(t *testing.T) {
	f := transport.NewFailover(nil, transport.SendFunc(nil), tagged{tag: "second"})
	var s string
	if !f.As(&s) || s != "second" {
		t.Errorf("As = %q, want the second member's", s)
	}
	var n *int
	if f.As(&n) {
		t.Error("As accepted a target no member has")
	}
}

// Many goroutines through a flaky member: -race finds data races, and every message is
// delivered exactly once.
func TestFailoverConcurrent(t *testing.T) {
	a, b := memmail.New(nil), memmail.New(nil)
	for range 20 {
		a.FailNext(netErr)
	}
	clk := newClock()
	f := transport.NewFailover(&transport.CompositeOptions{CoolDown: time.Millisecond, Now: clk.Now}, a, b)
	var wg sync.WaitGroup
	for i := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i%8 == 0 {
				clk.Advance(time.Millisecond)
			}
			if _, err := f.Send(context.Background(), compositeMessage("ann@example.com")); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if a.Len()+b.Len() != 64 {
		t.Errorf("delivered %d + %d, want 64", a.Len(), b.Len())
	}
}
