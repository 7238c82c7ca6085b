package smtp

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/postiemail/postie/smtp/smtptest"
	"github.com/postiemail/postie/transport"
)

// txnSteps is one successful DATA transaction to rcpt, without PIPELINING.
func txnSteps(rcpt string) []step {
	return []step{
		{Expect: "MAIL FROM:<a@example.com>", Reply: "250 ok"},
		{Expect: "RCPT TO:<" + rcpt + ">", Reply: "250 ok"},
		{Expect: "DATA", Reply: "354 go"},
		{Body: true, Reply: "250 ok: queued as " + rcpt},
	}
}

var quitStep = []step{{Expect: "QUIT", Reply: "221 bye"}}

func newTransport(t *testing.T, addr string, o *Options) *Transport {
	t.Helper()
	tp, err := New(addr, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tp.Close() })
	return tp
}

func tsend(t *testing.T, tp *Transport, rcpt string) (*transport.Receipt, error) {
	t.Helper()
	return tp.Send(testCtx(t), testMessage(rcpt))
}

func TestPoolReusesConnection(t *testing.T) {
	// One script: a second connection would be a deviation. No RSET between successes.
	s := smtptest.NewScripted(t, steps(greet(), txnSteps("b@x.test"), txnSteps("c@x.test"), quitStep))
	tp := newTransport(t, s.Addr(), cleartext())
	for _, r := range []string{"b@x.test", "c@x.test"} {
		if rec, err := tsend(t, tp, r); err != nil || rec.ID != r {
			t.Fatalf("send to %s: %+v, %v", r, rec, err)
		}
	}
	if st := tp.Stats(); st.Open != 1 || st.Idle != 1 {
		t.Errorf("stats %+v", st)
	}
	if err := tp.Close(); err != nil {
		t.Fatal(err)
	}
	s.Wait()
	if st := tp.Stats(); st.Open != 0 || st.Idle != 0 {
		t.Errorf("stats after Close %+v", st)
	}
}

func TestPoolResetsOnlyAfterFailure(t *testing.T) {
	s := smtptest.NewScripted(t, steps(greet(), []step{
		{Expect: "MAIL FROM:<a@example.com>", Reply: "250 ok"},
		{Expect: "RCPT TO:<bad@x.test>", Reply: "550 5.1.1 no such user"},
		{Expect: "RSET", Reply: "250 ok"},
	}, txnSteps("c@x.test"), txnSteps("d@x.test"), quitStep))
	tp := newTransport(t, s.Addr(), cleartext())
	_, err := tsend(t, tp, "bad@x.test")
	wantCode(t, err, transport.NotFound, false)
	for _, r := range []string{"c@x.test", "d@x.test"} {
		if _, err := tsend(t, tp, r); err != nil {
			t.Fatal(err)
		}
	}
	tp.Close()
	s.Wait()
}

func TestPoolHealthCheck(t *testing.T) {
	s := smtptest.NewScripted(t,
		steps(greet(), txnSteps("b@x.test"), []step{{Expect: "NOOP", Reply: "250 ok"}}, txnSteps("c@x.test"),
			[]step{{Expect: "NOOP", Reply: "421 4.4.2 idle too long", Drop: true}}),
		steps(greet(), txnSteps("d@x.test"), quitStep))
	o := cleartext()
	o.HealthCheckAfter = 1 // every reuse counts as a long idle
	tp := newTransport(t, s.Addr(), o)
	for _, r := range []string{"b@x.test", "c@x.test", "d@x.test"} {
		if _, err := tsend(t, tp, r); err != nil {
			t.Fatalf("send to %s: %v", r, err)
		}
	}
	tp.Close()
	s.Wait()
}

func TestPoolDropsAfter421AndIOError(t *testing.T) {
	s := smtptest.NewScripted(t,
		steps(greet(), []step{{Expect: "MAIL FROM:<a@example.com>", Reply: "421 4.3.2 shutting down"}}),
		steps(greet(), []step{{Expect: "MAIL FROM:<a@example.com>", Drop: true}}),
		steps(greet(), txnSteps("b@x.test"), quitStep))
	tp := newTransport(t, s.Addr(), cleartext())
	_, err := tsend(t, tp, "b@x.test")
	wantCode(t, err, transport.Unavailable, true)
	_, err = tsend(t, tp, "b@x.test")
	wantCode(t, err, transport.Unavailable, true)
	if st := tp.Stats(); st.Open != 0 {
		t.Errorf("broken connections kept: %+v", st)
	}
	if _, err := tsend(t, tp, "b@x.test"); err != nil {
		t.Fatal(err)
	}
	tp.Close()
	s.Wait()
}

func TestPoolMaxMessagesPerConn(t *testing.T) {
	s := smtptest.NewScripted(t,
		steps(greet(), txnSteps("b@x.test"), txnSteps("c@x.test"), quitStep),
		steps(greet(), txnSteps("d@x.test"), quitStep))
	o := cleartext()
	o.MaxMessagesPerConn = 2
	tp := newTransport(t, s.Addr(), o)
	for _, r := range []string{"b@x.test", "c@x.test", "d@x.test"} {
		if _, err := tsend(t, tp, r); err != nil {
			t.Fatal(err)
		}
	}
	tp.Close()
	s.Wait()
}

func TestPoolIdleTimeout(t *testing.T) {
	quit := make(chan struct{})
	s := smtptest.NewScripted(t,
		steps(greet(), txnSteps("b@x.test"), []step{{Expect: "QUIT", Reply: "221 bye", Reached: quit}}),
		steps(greet(), txnSteps("c@x.test"), quitStep))
	o := cleartext()
	o.IdleTimeout = 1 // close as soon as idle
	tp := newTransport(t, s.Addr(), o)
	if _, err := tsend(t, tp, "b@x.test"); err != nil {
		t.Fatal(err)
	}
	<-quit // the idle connection was closed by the pool
	if _, err := tsend(t, tp, "c@x.test"); err != nil {
		t.Fatal(err)
	}
	tp.Close()
	s.Wait()
}

func TestPoolMaxConnsWaits(t *testing.T) {
	reached, release := make(chan struct{}), make(chan struct{})
	s := smtptest.NewScripted(t, steps(greet(), []step{
		{Expect: "MAIL FROM:<a@example.com>", Reply: "250 ok"},
		{Expect: "RCPT TO:<b@x.test>", Reply: "250 ok"},
		{Expect: "DATA", Reply: "354 go", Reached: reached, Release: release},
		{Body: true, Reply: "250 ok"},
	}, txnSteps("c@x.test"), quitStep))
	o := cleartext()
	o.MaxConns = 1
	tp := newTransport(t, s.Addr(), o)
	var wg sync.WaitGroup
	errs := make([]error, 3)
	wg.Add(1)
	go func() { defer wg.Done(); _, errs[0] = tsend(t, tp, "b@x.test") }()
	<-reached // the only connection is busy
	wg.Add(1)
	go func() { defer wg.Done(); _, errs[1] = tsend(t, tp, "c@x.test") }()
	// A third sender gives up waiting when its ctx ends.
	ctx, cancel := context.WithCancel(testCtx(t))
	wg.Add(1)
	go func() { defer wg.Done(); _, errs[2] = tp.Send(ctx, testMessage("d@x.test")) }()
	for tp.Stats().Waiting < 2 {
		runtime.Gosched()
	}
	cancel()
	for tp.Stats().Waiting > 1 {
		runtime.Gosched()
	}
	close(release)
	wg.Wait()
	if errs[0] != nil || errs[1] != nil {
		t.Fatalf("errors %v", errs)
	}
	wantCode(t, errs[2], transport.Canceled, false)
	if st := tp.Stats(); st.Open != 1 {
		t.Errorf("stats %+v", st)
	}
	tp.Close()
	s.Wait()
}

func TestPoolClose(t *testing.T) {
	s := smtptest.NewScripted(t, steps(greet(), txnSteps("b@x.test"), quitStep))
	tp := newTransport(t, s.Addr(), cleartext())
	if _, err := tsend(t, tp, "b@x.test"); err != nil {
		t.Fatal(err)
	}
	if err := tp.Close(); err != nil {
		t.Fatal(err)
	}
	_, err := tsend(t, tp, "b@x.test")
	wantCode(t, err, transport.FailedPrecondition, false)
	if !errors.Is(err, transport.ErrClosed) {
		t.Errorf("err = %v", err)
	}
	if err := tp.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	s.Wait()
}

func TestPoolCloseWakesWaiters(t *testing.T) {
	reached, release := make(chan struct{}), make(chan struct{})
	s := smtptest.NewScripted(t, steps(greet(), []step{
		{Expect: "MAIL FROM:<a@example.com>", Reply: "250 ok", Reached: reached, Release: release},
	}, []step{
		{Expect: "RCPT TO:<b@x.test>", Reply: "250 ok"},
		{Expect: "DATA", Reply: "354 go"},
		{Body: true, Reply: "250 ok"},
	}, quitStep))
	o := cleartext()
	o.MaxConns = 1
	tp := newTransport(t, s.Addr(), o)
	done := make(chan error, 2)
	go func() { _, err := tsend(t, tp, "b@x.test"); done <- err }()
	<-reached
	go func() { _, err := tsend(t, tp, "c@x.test"); done <- err }()
	for tp.Stats().Waiting < 1 {
		runtime.Gosched()
	}
	tp.Close()
	err := <-done // the waiter, woken by Close
	wantCode(t, err, transport.FailedPrecondition, false)
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("the send in progress: %v", err)
	}
	s.Wait() // its connection was closed (QUIT) when it came back
}

func TestPoolConcurrentSends(t *testing.T) {
	srv := smtptest.Start(t, &smtptest.ServerOptions{TLS: smtptest.NoTLS})
	o := cleartext()
	o.MaxConns = 3
	o.MaxMessagesPerConn = 7
	tp := newTransport(t, srv.Addr(), o)
	const senders, each = 8, 10
	var wg sync.WaitGroup
	errc := make(chan error, senders*each)
	for i := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range each {
				rcpt := fmt.Sprintf("r%d-%d@x.test", i, j)
				if _, err := tp.Send(testCtx(t), testMessage(rcpt)); err != nil {
					errc <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	if st := tp.Stats(); st.Open > 3 {
		t.Errorf("%d connections open, MaxConns is 3", st.Open)
	}
	tp.Close()
	msgs := srv.Messages()
	if len(msgs) != senders*each {
		t.Fatalf("server got %d messages, want %d", len(msgs), senders*each)
	}
	seen := map[string]bool{}
	for _, m := range msgs {
		if len(m.To) != 1 || seen[m.To[0]] || !strings.Contains(string(m.Raw), "To: "+m.To[0]) {
			t.Fatalf("message to %v delivered wrongly or twice", m.To)
		}
		seen[m.To[0]] = true
	}
}

func TestTransportString(t *testing.T) {
	tp, err := New("mail.example.com:587", &Options{Username: "me@example.com", Password: "s3cret!"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := tp.String(), "smtp://me%40example.com@mail.example.com:587 (tls=required)"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if strings.Contains(fmt.Sprintf("%v %+v %s", tp, tp, tp), "s3cret") {
		t.Error("the password shows in formatting")
	}
	var st *Transport
	if !transport.As(tp, &st) || st != tp {
		t.Error("As does not reach the *Transport")
	}
	tp.Close()
}

func TestTransportReportsPhases(t *testing.T) {
	s := smtptest.NewScripted(t, steps(greet("AUTH PLAIN", "PIPELINING"), []step{{Expect: "AUTH PLAIN *", Reply: "235 ok"}},
		[]step{
			{Expect: "MAIL FROM:<a@example.com>", Reply: "250 ok", Defer: true},
			{Expect: "RCPT TO:<b@x.test>", Reply: "250 ok", Defer: true},
			{Expect: "DATA", Reply: "354 go"},
			{Body: true, Reply: "250 ok"},
		}, txnSteps("c@x.test"), quitStep))
	var mu sync.Mutex
	var log []string
	obs := &transport.Observer{
		Phase: func(p string) func(error) {
			mu.Lock()
			log = append(log, p)
			mu.Unlock()
			return func(err error) {
				mu.Lock()
				defer mu.Unlock()
				log = append(log, fmt.Sprintf("/%s:%v", p, err != nil))
			}
		},
		Server: func(host string, port int) { log = append(log, "server "+host) },
	}
	o := cleartext()
	o.Username, o.Password = "u", "p"
	tp := newTransport(t, s.Addr(), o)
	ctx := transport.WithObserver(testCtx(t), obs)
	if _, err := tp.Send(ctx, testMessage("b@x.test")); err != nil {
		t.Fatal(err)
	}
	if _, err := tp.Send(ctx, testMessage("c@x.test")); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(log, " ")
	want := "server 127.0.0.1 dial /dial:false auth /auth:false envelope /envelope:false body /body:false " +
		"server 127.0.0.1 envelope /envelope:false body /body:false" // the warm connection: no dial
	if got != want {
		t.Errorf("phases\n got %s\nwant %s", got, want)
	}
	tp.Close()
}
