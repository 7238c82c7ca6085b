package smtptest

import (
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// listener hands every accepted connection to the Server, which wraps and tracks it.
type listener struct {
	net.Listener
	srv  *Server
	once sync.Once
	err  error
}

func (l *listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return l.srv.track(c), nil
}

// Close may be called by both the Server and go-smtp; only the first call closes.
func (l *listener) Close() error {
	l.once.Do(func() { l.err = l.Listener.Close() })
	return l.err
}

// conn is one accepted TCP connection, below any TLS layer. It can close itself once a
// reply has gone out (a 421), and with a reply delay it queues writes to a goroutine that
// delivers each one delay after it was made: pipelined replies travel together, as over a
// link whose round trip is the delay, instead of adding up.
type conn struct {
	net.Conn
	srv   *Server
	delay time.Duration

	closeAfterWrite atomic.Bool // close once the next write is delivered
	once            sync.Once
	done            chan struct{} // closed when the connection is closed for good

	queue   chan delayed // only with a delay
	closing atomic.Bool  // a close is queued behind the pending writes
}

type delayed struct {
	at    time.Time
	p     []byte
	close bool
}

func newConn(c net.Conn, srv *Server, delay time.Duration) *conn {
	w := &conn{Conn: c, srv: srv, delay: delay, done: make(chan struct{})}
	if delay > 0 {
		w.queue = make(chan delayed, 256)
		srv.wg.Add(1)
		go w.deliver()
	}
	return w
}

func (c *conn) Write(p []byte) (int, error) {
	if c.queue == nil {
		n, err := c.Conn.Write(p)
		if c.closeAfterWrite.Swap(false) {
			c.abort()
		}
		return n, err
	}
	if c.closing.Load() {
		return 0, net.ErrClosed
	}
	item := delayed{at: time.Now().Add(c.delay), p: append([]byte(nil), p...)}
	select {
	case c.queue <- item:
	case <-c.done:
		return 0, net.ErrClosed
	}
	if c.closeAfterWrite.Swap(false) {
		c.queueClose()
	}
	return len(p), nil
}

// Close is how go-smtp ends a connection (after QUIT, say): with a delay, the replies still
// queued are delivered first.
func (c *conn) Close() error {
	if c.queue == nil {
		c.abort()
		return nil
	}
	c.queueClose()
	return nil
}

func (c *conn) queueClose() {
	if c.closing.Swap(true) {
		return
	}
	select {
	case c.queue <- delayed{at: time.Now().Add(c.delay), close: true}:
	case <-c.done:
	}
}

// abort closes the connection now, dropping queued replies.
func (c *conn) abort() {
	c.once.Do(func() {
		close(c.done)
		_ = c.Conn.Close()
		c.srv.untrack(c)
	})
}

// deliver writes queued replies at their due time.
func (c *conn) deliver() {
	defer c.srv.wg.Done()
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		var it delayed
		select {
		case it = <-c.queue:
		case <-c.done:
			return
		}
		if d := time.Until(it.at); d > 0 {
			t.Reset(d)
			select {
			case <-t.C:
			case <-c.done:
				return
			}
		}
		if it.close {
			c.abort()
			return
		}
		if _, err := c.Conn.Write(it.p); err != nil {
			c.abort()
			return
		}
	}
}

// stall reads and discards whatever the client sends until it gives up and closes the
// connection, or the server closes it; then it closes the connection.
func (c *conn) stall() {
	buf := make([]byte, 4096)
	for {
		if _, err := c.Conn.Read(buf); err != nil {
			break
		}
	}
	c.abort()
}
