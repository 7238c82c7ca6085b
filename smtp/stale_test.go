package smtp

import (
	"errors"
	"fmt"
	"testing"

	"github.com/postiemail/postie/smtp/smtptest"
	"github.com/postiemail/postie/transport"
)

// TestPoolStaleRetry: a pooled connection that dies as its first command arrives (the
// server's idle close crossing our flight) is retried once on a new connection, but only
// when the message cannot have been delivered.
func TestPoolStaleRetry(t *testing.T) {
	second := steps(greet(), txnSteps("c@x.test"), quitStep)
	t.Run("closed without a reply, nothing committed", func(t *testing.T) {
		s := smtptest.NewScripted(t,
			steps(greet(), txnSteps("b@x.test"), []step{{Expect: "MAIL FROM:<a@example.com>", Drop: true}}),
			second)
		tp := newTransport(t, s.Addr(), cleartext())
		for _, r := range []string{"b@x.test", "c@x.test"} {
			if rec, err := tsend(t, tp, r); err != nil || rec.ID != r {
				t.Fatalf("send to %s: %+v, %v", r, rec, err)
			}
		}
		tp.Close()
		s.Wait()
	})
	t.Run("421 as the first reply", func(t *testing.T) {
		s := smtptest.NewScripted(t,
			steps(greet(), txnSteps("b@x.test"), []step{{Expect: "MAIL FROM:<a@example.com>", Reply: "421 4.4.2 idle timeout", Drop: true}}),
			second)
		tp := newTransport(t, s.Addr(), cleartext())
		for _, r := range []string{"b@x.test", "c@x.test"} {
			if _, err := tsend(t, tp, r); err != nil {
				t.Fatalf("send to %s: %v", r, err)
			}
		}
		tp.Close()
		s.Wait()
	})
	t.Run("LAST in the lost flight: maybe delivered, not retried", func(t *testing.T) {
		m := testMessage("c@x.test")
		n := len(rendered(t, m, nil))
		exts := []string{"PIPELINING", "CHUNKING", "SIZE"}
		first := testMessage("b@x.test")
		s := smtptest.NewScripted(t, steps(greet(exts...), []step{
			{Expect: fmt.Sprintf("MAIL FROM:<a@example.com> SIZE=%d", n), Reply: "250 ok", Defer: true},
			{Expect: "RCPT TO:<b@x.test>", Reply: "250 ok", Defer: true},
			{Expect: fmt.Sprintf("BDAT %d", n), Body: true, Reply: "250 ok", Defer: true},
			{Expect: "BDAT 0 LAST", Body: true, Reply: "250 queued"},
			// The whole next flight is read (the server may have queued the message),
			// then the connection dies without a reply.
			{Expect: fmt.Sprintf("MAIL FROM:<a@example.com> SIZE=%d", n)},
			{Expect: "RCPT TO:<c@x.test>"},
			{Expect: fmt.Sprintf("BDAT %d", n), Body: true},
			{Expect: "BDAT 0 LAST", Body: true, Drop: true},
		}))
		tp := newTransport(t, s.Addr(), cleartext())
		if _, err := tp.Send(testCtx(t), first); err != nil {
			t.Fatal(err)
		}
		_, err := tp.Send(testCtx(t), m)
		if !errors.Is(err, transport.ErrMaybeDelivered) {
			t.Fatalf("err = %v, want ErrMaybeDelivered (and no second connection)", err)
		}
		tp.Close()
		s.Wait()
	})
	t.Run("a new connection is never retried", func(t *testing.T) {
		s := smtptest.NewScripted(t, steps(greet(), []step{{Expect: "MAIL FROM:<a@example.com>", Drop: true}}))
		tp := newTransport(t, s.Addr(), cleartext())
		_, err := tsend(t, tp, "b@x.test")
		wantCode(t, err, transport.Unavailable, true)
		tp.Close()
		s.Wait()
	})
}
