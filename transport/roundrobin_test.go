package transport_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/postiemail/postie/transport"
	"github.com/postiemail/postie/transport/memmail"
)

func TestRoundRobinRotates(t *testing.T) {
	ms := []*memmail.Transport{memmail.New(nil), memmail.New(nil), memmail.New(nil)}
	rr := transport.NewRoundRobin(nil, ms[0], ms[1], ms[2])
	for i := range 7 {
		if _, err := rr.Send(context.Background(), compositeMessage("ann@example.com")); err != nil {
			t.Fatal(err)
		}
		// Deterministic order: the first send goes to the first member.
		if got := ms[i%3].Len(); got != i/3+1 {
			t.Fatalf("send %d: member %d has %d messages, want %d", i, i%3, got, i/3+1)
		}
	}
}

func TestRoundRobinSkipsRestingMembersAndMovesOnFaults(t *testing.T) {
	clk := newClock()
	a, b := memmail.New(nil), memmail.New(nil)
	a.FailNext(netErr)
	rr := transport.NewRoundRobin(&transport.CompositeOptions{CoolDown: time.Minute, Now: clk.Now}, a, b)
	for range 4 {
		if _, err := rr.Send(context.Background(), compositeMessage("ann@example.com")); err != nil {
			t.Fatal(err)
		}
	}
	if a.Attempts() != 1 || b.Len() != 4 {
		t.Fatalf("a attempts %d, b delivered %d; want 1 and 4 while a rests", a.Attempts(), b.Len())
	}
	clk.Advance(time.Minute)
	for range 4 {
		if _, err := rr.Send(context.Background(), compositeMessage("ann@example.com")); err != nil {
			t.Fatal(err)
		}
	}
	if a.Len() != 2 || b.Len() != 6 {
		t.Fatalf("after the cool-down: a %d, b %d; want the rotation back (2, 6)", a.Len(), b.Len())
	}
}

func TestRoundRobinStaysOnMessageFaults(t *testing.T) {
	a, b := memmail.New(nil), memmail.New(nil)
	a.FailNext(smtpErr(554, transport.Enhanced{5, 7, 1}, "policy"))
	rr := transport.NewRoundRobin(nil, a, b)
	if _, err := rr.Send(context.Background(), compositeMessage("ann@example.com")); transport.CodeOf(err) != transport.PermissionDenied || b.Attempts() != 0 {
		t.Fatalf("err %v, b attempts %d; want the policy refusal and no move", err, b.Attempts())
	}
	a.LoseReplyNext()
	_, _ = rr.Send(context.Background(), compositeMessage("ann@example.com")) // b's turn
	if _, err := rr.Send(context.Background(), compositeMessage("ann@example.com")); !errors.Is(err, transport.ErrMaybeDelivered) || b.Attempts() != 1 {
		t.Fatalf("err %v, b attempts %d; want ErrMaybeDelivered and no move", err, b.Attempts())
	}
}

func TestRoundRobinConcurrentAndClose(t *testing.T) {
	a, b := memmail.New(nil), memmail.New(nil)
	rr := transport.NewRoundRobin(nil, a, b)
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := rr.Send(context.Background(), compositeMessage("ann@example.com")); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if a.Len() != 25 || b.Len() != 25 {
		t.Errorf("split %d/%d, want 25/25", a.Len(), b.Len())
	}
	if err := rr.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Send(context.Background(), compositeMessage("ann@example.com")); !errors.Is(err, transport.ErrClosed) {
		t.Errorf("member not closed: %v", err)
	}
	if _, err := rr.Send(context.Background(), compositeMessage("ann@example.com")); !errors.Is(err, transport.ErrClosed) {
		t.Errorf("Send after Close: %v", err)
	}
}
