//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package smtp

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/postiemail/postie/smtp/smtptest"
	"github.com/postiemail/postie/transport"
)

// waitReadable blocks until conn (the TCP connection under any TLS) has something to
// read, an EOF included, without consuming it: the test's way to know that a close or
// a reply of the server has arrived, with no sleep.
func waitReadable(t *testing.T, conn net.Conn) {
	t.Helper()
	if tc, ok := conn.(*tls.Conn); ok {
		conn = tc.NetConn()
	}
	rc, err := conn.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(10 * time.Second)) // a bound on a broken test
	defer conn.SetReadDeadline(time.Time{})
	var buf [1]byte
	if err := rc.Read(func(fd uintptr) bool {
		_, _, err := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		return err != syscall.EAGAIN
	}); err != nil {
		t.Fatalf("waiting for the connection to become readable: %v", err)
	}
}

// idleConn returns the Client of the pool's only idle connection.
func idleConn(t *testing.T, tp *Transport) *Client {
	t.Helper()
	tp.mu.Lock()
	defer tp.mu.Unlock()
	if len(tp.idle) != 1 {
		t.Fatalf("%d idle connections, want 1", len(tp.idle))
	}
	return tp.idle[0].c
}

// TestPoolServerClosedIdle: the server drops a pooled connection while it sits idle
// (a restart, an idle limit shorter than ours). The next Send must notice before it
// writes and go out on a new connection: delivered once, and not reported maybe
// delivered, over DATA and over BDAT (whose flight carries LAST).
func TestPoolServerClosedIdle(t *testing.T) {
	for _, chunking := range []bool{false, true} {
		t.Run(fmt.Sprintf("chunking=%v", chunking), func(t *testing.T) {
			srv := smtptest.Start(t, &smtptest.ServerOptions{TLS: smtptest.NoTLS})
			o := cleartext()
			o.NoChunking = !chunking
			tp := newTransport(t, srv.Addr(), o)
			if _, err := tsend(t, tp, "b@x.test"); err != nil {
				t.Fatal(err)
			}
			c := idleConn(t, tp)
			srv.DropConnections()
			waitReadable(t, c.conn) // the server's FIN has arrived
			if _, err := tsend(t, tp, "c@x.test"); err != nil {
				t.Fatalf("send after the server closed the idle connection: %v (maybe delivered: %v)", err, errors.Is(err, transport.ErrMaybeDelivered))
			}
			if n := len(srv.Messages()); n != 2 {
				t.Errorf("server has %d messages, want 2", n)
			}
			if n := srv.Connections(); n != 2 {
				t.Errorf("%d connections, want 2: the dead one, then a new one", n)
			}
		})
	}
}

// TestPoolServerSaid421Idle: the server says 421 and closes while the connection sits in
// the pool. The bytes waiting on the socket make the pool check with NOOP, which reads
// the 421; the message goes out on a new connection.
func TestPoolServerSaid421Idle(t *testing.T) {
	s := smtptest.NewScripted(t,
		steps(greet(), txnSteps("b@x.test"), []step{{Reply: "421 4.4.2 idle timeout, closing", Drop: true}}),
		steps(greet(), txnSteps("c@x.test"), quitStep))
	tp := newTransport(t, s.Addr(), cleartext())
	if _, err := tsend(t, tp, "b@x.test"); err != nil {
		t.Fatal(err)
	}
	if c := idleConn(t, tp); c.br.Buffered() == 0 {
		waitReadable(t, c.conn)
	}
	if rec, err := tsend(t, tp, "c@x.test"); err != nil || rec.ID != "c@x.test" {
		t.Fatalf("%+v, %v", rec, err)
	}
	tp.Close()
	s.Wait()
}
