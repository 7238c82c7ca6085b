// Package mime renders a transport.Message as RFC 5322 / RFC 2045-2049 bytes.
//
// Output is deterministic (boundaries come from the Message-ID and the part's position,
// never from a random source or the clock), streams attachments in constant memory and
// validates the whole message before it writes a byte.
package mime

import (
	"errors"
	"io"

	"github.com/postiemail/postie/transport"
)

// Options tunes Write, Size and Needs8BitMIME. The zero value (or nil) is the default.
type Options struct {
	// Allow8Bit lets text parts go out as 8bit instead of quoted-printable. Set it only
	// when the caller allows it and the server offers 8BITMIME.
	Allow8Bit bool
}

// Write renders m to w. It returns an error without writing anything when m cannot be
// rendered (a CR or LF in a header value, a bad header name, a zero Date, ...).
func Write(w io.Writer, m *transport.Message, opts *Options) error {
	return errors.New("mime: not implemented yet")
}

// Size returns the exact number of bytes Write would produce for m.
func Size(m *transport.Message, opts *Options) (int64, error) {
	return 0, errors.New("mime: not implemented yet")
}

// NeedsSMTPUTF8 reports whether an address of m (envelope or header) is not ASCII.
func NeedsSMTPUTF8(m *transport.Message) bool { return false }

// Needs8BitMIME reports whether Write would emit an 8bit part.
func Needs8BitMIME(m *transport.Message, opts *Options) bool { return false }
