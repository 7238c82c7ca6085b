package smtp

import (
	"context"
	"errors"
	"net"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/postiemail/postie/transport"
)

// Transport sends messages through a bounded pool of SMTP connections to one server. It
// implements transport.Transport and is safe for concurrent use.
//
// A connection is reused for up to MaxMessagesPerConn messages, closed after IdleTimeout
// without use, checked with NOOP when it sat idle longer than HealthCheckAfter, reset
// with RSET only after a failed transaction, and dropped after a 421 or an I/O error.
// Before a connection leaves the pool, a look at its socket (no round trip) finds one
// the server has closed meanwhile, which is then never written to.
//
// Transport does not retry messages; that is the job of middleware. The one exception
// is a Send whose pooled connection turns out to have been closed by the server before
// it read our commands: the connection died before any reply came and before anything
// that could complete the message was sent, or the first reply was a 421. Such a message
// cannot have been delivered, and goes out once more on another connection, as net/http
// resends a request that met a closed keep-alive connection.
type Transport struct {
	cfg  *config
	addr string
	port int
	tr   *lockedWriter

	mu      sync.Mutex
	idle    []*pconn // most recently used last
	numOpen int      // connections open or being dialed
	waiters []chan *pconn
	closed  bool
	nextID  int
	wg      sync.WaitGroup // idle connections being closed in the background
}

// pconn is a pooled connection.
type pconn struct {
	c         *Client
	reused    bool // it carried a Send before this one
	idleSince time.Time
	timer     *time.Timer // closes the connection after IdleTimeout idle
}

// New returns a Transport for the server at addr ("host:port"). It does not connect:
// the first Send does. A nil opts means defaults (STARTTLS required, no AUTH).
func New(addr string, opts *Options) (*Transport, error) {
	cfg, err := newConfig(addr, opts)
	if err != nil {
		return nil, err
	}
	_, ps, _ := net.SplitHostPort(addr)
	port, _ := strconv.Atoi(ps)
	t := &Transport{cfg: cfg, addr: addr, port: port}
	if cfg.Transcript != nil {
		t.tr = &lockedWriter{w: cfg.Transcript}
	}
	return t, nil
}

// String describes the transport without its password: "smtp://user@host:587 (tls=required)".
func (t *Transport) String() string {
	u := url.URL{Scheme: "smtp", Host: t.addr}
	if t.cfg.TLS == TLSImplicit {
		u.Scheme = "smtps"
	}
	if t.cfg.Username != "" {
		u.User = url.User(t.cfg.Username)
	}
	return u.String() + " (tls=" + t.cfg.TLS.String() + ")"
}

// As exposes the *Transport through wrappers: var st *smtp.Transport; transport.As(t, &st).
func (t *Transport) As(target any) bool {
	if p, ok := target.(**Transport); ok {
		*p = t
		return true
	}
	return false
}

// Send delivers m over a pooled connection; see Client.Send for what it reports.
func (t *Transport) Send(ctx context.Context, m *transport.Message) (*transport.Receipt, error) {
	if m == nil || len(m.Envelope.To) == 0 {
		return nil, invalidf("smtp: the message has no envelope recipient")
	}
	if err := transport.FromContext(ctx, nil); err != nil {
		return nil, err
	}
	transport.ObserveServer(ctx, t.cfg.host, t.port)
	rec, stale, err := t.sendOnce(ctx, m)
	if stale && ctx.Err() == nil {
		// The server had closed the pooled connection before it read our commands, and
		// the message cannot have been delivered (see Client.stale): send it once more,
		// as net/http does with a request that met a closed keep-alive connection. This
		// is no retry policy; a refusal or a failure mid-transaction is never repeated.
		rec, _, err = t.sendOnce(ctx, m)
	}
	return rec, err
}

// sendOnce sends m over a pooled connection; stale says it failed on a reused
// connection that the server had already closed.
func (t *Transport) sendOnce(ctx context.Context, m *transport.Message) (*transport.Receipt, bool, error) {
	pc, err := t.get(ctx)
	if err != nil {
		return nil, false, err
	}
	c := pc.c
	c.begin(ctx)
	rec, err := c.send(ctx, m)
	c.end()
	stale := err != nil && pc.reused && c.stale()
	pc.reused = true
	t.put(pc)
	return rec, stale, err
}

// Close closes the idle connections and makes later Sends fail; connections in use are
// closed when their Send returns.
func (t *Transport) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	idle := t.idle
	t.idle = nil
	for _, w := range t.waiters {
		close(w)
	}
	t.waiters = nil
	t.mu.Unlock()
	for _, pc := range idle {
		pc.timer.Stop()
		t.wg.Add(1)
		go func() {
			defer t.wg.Done()
			quit(pc.c)
		}()
	}
	t.wg.Wait()
	t.mu.Lock()
	t.numOpen -= len(idle)
	t.mu.Unlock()
	return nil
}

// quit ends a session politely but quickly.
func quit(c *Client) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = c.Quit(ctx)
}

var errClosedWhileWaiting = errors.New("closed while waiting for a connection")

// get returns a connection ready for a transaction: an idle one (checked with NOOP after
// a long idle), a new one, or one another Send hands over when MaxConns are open.
func (t *Transport) get(ctx context.Context) (*pconn, error) {
	for {
		t.mu.Lock()
		if t.closed {
			t.mu.Unlock()
			return nil, transport.Closed("smtp.Transport")
		}
		if n := len(t.idle); n > 0 {
			pc := t.idle[n-1]
			t.idle = t.idle[:n-1]
			t.mu.Unlock()
			// If the idle timer fired just now, its expire finds pc gone from the list
			// and leaves it alone; the NOOP check below covers the long idle.
			pc.timer.Stop()
			if pc, err := t.check(ctx, pc); err != nil {
				return nil, err
			} else if pc != nil {
				return pc, nil
			}
			continue
		}
		if t.numOpen < t.cfg.MaxConns {
			t.numOpen++
			t.mu.Unlock()
			return t.dial(ctx)
		}
		ch := make(chan *pconn, 1)
		t.waiters = append(t.waiters, ch)
		t.mu.Unlock()
		select {
		case pc, ok := <-ch:
			switch {
			case !ok:
				return nil, transport.Closed("smtp.Transport")
			case pc == nil: // a slot was freed for us
				return t.dial(ctx)
			}
			return pc, nil // handed over straight from a Send: warm, no check needed
		case <-ctx.Done():
			t.mu.Lock()
			for i, w := range t.waiters {
				if w == ch {
					t.waiters = append(t.waiters[:i], t.waiters[i+1:]...)
					ch = nil
					break
				}
			}
			t.mu.Unlock()
			if ch != nil {
				// Someone handed us a connection or a slot just now: pass it on.
				switch pc, ok := <-ch; {
				case ok && pc == nil:
					t.release()
				case ok:
					t.handOver(pc)
				}
			}
			return nil, transport.FromContext(ctx, errors.New("smtp: waiting for a pooled connection"))
		}
	}
}

// peekResult is what a look at an idle connection's socket found.
type peekResult int

const (
	peekUnknown peekResult = iota // the platform cannot tell
	peekQuiet                     // nothing to read: as alive as a socket can say
	peekData                      // bytes no command asked for, such as a 421 before a close
	peekClosed                    // the server closed or reset the connection
)

// check health-checks a connection taken from the pool. It returns nil (and releases the
// slot) when the connection is dead, so the caller tries again.
//
// A look at the socket, which costs one system call and no round trip, finds a
// connection the server has closed (a restart, an idle limit shorter than ours) before
// a command is written to it. Bytes waiting there, or an idle time over
// HealthCheckAfter, call for a NOOP, which reads whatever the server said.
func (t *Transport) check(ctx context.Context, pc *pconn) (*pconn, error) {
	state := peekData
	if pc.c.br.Buffered() == 0 {
		state = pc.c.sock.peek(pc.c.conn)
	}
	switch {
	case state == peekClosed:
		pc.c.Close()
		t.release()
		return nil, nil
	case state != peekData && time.Since(pc.idleSince) <= t.cfg.HealthCheckAfter:
		return pc, nil
	}
	err := pc.c.Noop(ctx)
	if err == nil {
		return pc, nil
	}
	pc.c.Close()
	t.release()
	if cerr := transport.FromContext(ctx, err); cerr != nil {
		return nil, cerr
	}
	return nil, nil
}

func (t *Transport) dial(ctx context.Context) (*pconn, error) {
	t.mu.Lock()
	t.nextID++
	id := t.nextID
	t.mu.Unlock()
	var tr *transcript
	if t.tr != nil {
		tr = &transcript{w: t.tr, prefix: "[" + strconv.Itoa(id) + "] "}
	}
	c, err := dial(ctx, t.cfg, t.addr, tr, nil)
	if err != nil {
		t.release()
		return nil, err
	}
	return &pconn{c: c}, nil
}

// put returns a connection after a Send.
func (t *Transport) put(pc *pconn) {
	c := pc.c
	if c.broken != nil || c.msgs >= t.cfg.MaxMessagesPerConn {
		t.retire(pc)
		return
	}
	t.handOver(pc)
}

// handOver gives pc to a waiter, or parks it idle.
func (t *Transport) handOver(pc *pconn) {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		t.retire(pc)
		return
	}
	if len(t.waiters) > 0 {
		w := t.waiters[0]
		t.waiters = t.waiters[1:]
		t.mu.Unlock()
		w <- pc
		return
	}
	pc.idleSince = time.Now()
	if pc.timer == nil {
		pc.timer = time.AfterFunc(t.cfg.IdleTimeout, func() { t.expire(pc) })
	} else {
		pc.timer.Reset(t.cfg.IdleTimeout)
	}
	t.idle = append(t.idle, pc)
	t.mu.Unlock()
}

// expire closes a connection that sat idle for IdleTimeout.
func (t *Transport) expire(pc *pconn) {
	t.mu.Lock()
	found := false
	for i, p := range t.idle {
		if p == pc {
			t.idle = append(t.idle[:i], t.idle[i+1:]...)
			found = true
			break
		}
	}
	if !found || t.closed {
		t.mu.Unlock()
		return
	}
	t.wg.Add(1)
	t.mu.Unlock()
	defer t.wg.Done()
	quit(pc.c)
	t.release()
}

// retire closes a connection that must not be reused and frees its slot.
func (t *Transport) retire(pc *pconn) {
	if pc.c.broken != nil {
		pc.c.Close()
	} else {
		quit(pc.c)
	}
	t.release()
}

// release frees one connection slot, handing it to a waiter when there is one.
func (t *Transport) release() {
	t.mu.Lock()
	if len(t.waiters) > 0 && !t.closed {
		w := t.waiters[0]
		t.waiters = t.waiters[1:]
		t.mu.Unlock()
		w <- nil // the waiter dials in our slot
		return
	}
	t.numOpen--
	t.mu.Unlock()
}

// Stats reports the pool's state.
type Stats struct {
	Open, Idle, Waiting int
}

// Stats returns how many connections are open and idle, and how many Sends wait.
func (t *Transport) Stats() Stats {
	t.mu.Lock()
	defer t.mu.Unlock()
	return Stats{Open: t.numOpen, Idle: len(t.idle), Waiting: len(t.waiters)}
}
