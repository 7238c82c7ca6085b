//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package smtp

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"syscall"
)

// peek looks at conn's socket (the TCP connection under any TLS) without blocking and
// without consuming anything: one recv with MSG_PEEK|MSG_DONTWAIT.
func peek(conn net.Conn) peekResult {
	if tc, ok := conn.(*tls.Conn); ok {
		conn = tc.NetConn()
	}
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return peekUnknown
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return peekUnknown
	}
	res := peekUnknown
	var buf [1]byte
	err = rc.Read(func(fd uintptr) bool {
		n, _, err := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case n > 0:
			res = peekData
		case err == nil: // n == 0: the peer closed its side
			res = peekClosed
		case err == syscall.EAGAIN || err == syscall.EWOULDBLOCK:
			res = peekQuiet
		case err == syscall.EINTR:
		default: // ECONNRESET and the like
			res = peekClosed
		}
		return true // never wait for readability
	})
	if err != nil {
		return peekUnknown
	}
	return res
}

// connGone reports an error that says the peer closed or reset the connection.
func connGone(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}
