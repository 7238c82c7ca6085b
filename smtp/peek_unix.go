//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package smtp

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"syscall"
)

// socketPeek looks at a connection's socket (the TCP connection under any TLS) without
// blocking and without consuming anything: one recv with MSG_PEEK|MSG_DONTWAIT. It keeps
// the raw connection and its callback between calls, so a look allocates nothing.
type socketPeek struct {
	conn net.Conn // the connection rc belongs to
	rc   syscall.RawConn
	fn   func(fd uintptr) bool // try, bound once
	res  peekResult
	buf  [1]byte
}

func (p *socketPeek) peek(conn net.Conn) peekResult {
	if tc, ok := conn.(*tls.Conn); ok {
		conn = tc.NetConn()
	}
	if p.conn != conn {
		p.conn, p.rc = conn, nil
		if sc, ok := conn.(syscall.Conn); ok {
			p.rc, _ = sc.SyscallConn()
		}
		if p.fn == nil {
			p.fn = p.try
		}
	}
	if p.rc == nil {
		return peekUnknown
	}
	p.res = peekUnknown
	if err := p.rc.Read(p.fn); err != nil {
		return peekUnknown
	}
	return p.res
}

func (p *socketPeek) try(fd uintptr) bool {
	n, _, err := syscall.Recvfrom(int(fd), p.buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	switch {
	case n > 0:
		p.res = peekData
	case err == nil: // n == 0: the peer closed its side
		p.res = peekClosed
	case err == syscall.EAGAIN || err == syscall.EWOULDBLOCK:
		p.res = peekQuiet
	case err == syscall.EINTR:
	default: // ECONNRESET and the like
		p.res = peekClosed
	}
	return true // never wait for readability
}

// connGone reports an error that says the peer closed or reset the connection.
func connGone(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}
