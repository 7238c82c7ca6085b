//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package smtp

import (
	"errors"
	"io"
	"net"
)

// socketPeek cannot look at a socket without reading it on this platform.
type socketPeek struct{}

func (*socketPeek) peek(net.Conn) peekResult { return peekUnknown }

// connGone reports an error that says the peer closed the connection.
func connGone(err error) bool { return errors.Is(err, io.EOF) }
