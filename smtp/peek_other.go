//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package smtp

import (
	"errors"
	"io"
	"net"
)

// peek cannot look at a socket without reading it on this platform.
func peek(net.Conn) peekResult { return peekUnknown }

// connGone reports an error that says the peer closed the connection.
func connGone(err error) bool { return errors.Is(err, io.EOF) }
