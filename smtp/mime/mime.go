// Package mime renders a transport.Message as an RFC 5322 message with RFC 2045-2049 MIME
// parts: the bytes the SMTP engine sends, filemail stores and SES takes as raw mail.
//
// The structure follows the message: a text or HTML body alone; text and HTML (and any
// Alternatives, such as a text/calendar invitation) in multipart/alternative; inline images
// in multipart/related around the HTML; attachments in multipart/mixed around the rest.
//
// Write checks the whole message before it writes a byte: header names, CR or LF in any
// header value, addresses, Date and Message-ID. Output is deterministic: boundaries come
// from the Message-ID and the part's position, never from randomness or the clock, so two
// renders of one message are byte-identical (DKIM's two passes and golden tests rely on
// it). Every line ends in CRLF and none is longer than 998 characters. Attachments stream
// from their Open func through a bulk base64 encoder, so memory stays constant whatever
// their size. Dot-stuffing is left to the SMTP layer, or done while writing with
// Options.DotStuff.
//
// Headers come in a fixed order: DKIM-Signature fields first (a signer adds them), then
// From, Sender, To, Cc, Reply-To, Subject, Date, Message-ID, MIME-Version, the extra
// Headers in their order, and the body's Content-* fields. Bcc is never written. Values
// are folded at single spaces to lines of at most 78 characters (a longer unbreakable
// run gets a longer line, never over 998), so unfolding gives back the value exactly; a DKIM signer should use relaxed header canonicalization, which does
// not depend on where a field was folded. The subject, display names and extra values that
// are not printable ASCII become RFC 2047 encoded words (Q for mostly-Latin text, B
// otherwise, each at most 75 characters); display names are quoted when they need it; file
// names that are not short printable ASCII get an ASCII fallback filename= and the exact
// name as RFC 2231 filename*=, split into continuations when long.
//
// Each part's transfer encoding follows its content: 7bit for ASCII text with lines of at
// most 998 characters; 8bit for other UTF-8 text when Options.Allow8Bit is set;
// quoted-printable for other text; base64 for attachments, except in-memory text attachments that
// are already canonical 7bit (their bytes go out unchanged either way).
package mime

import (
	"io"
	"net/mail"
	"strconv"
	"sync"

	"github.com/postiemail/postie/transport"
)

// Options tunes Write, Size and Needs8BitMIME. A nil *Options means the zero value.
type Options struct {
	// Allow8Bit lets non-ASCII text go out as 8bit instead of quoted-printable. Set it only
	// when the caller allows it and the server offers 8BITMIME.
	Allow8Bit bool

	// DotStuff makes Write apply SMTP's transparency rule (RFC 5321 4.5.2) as it writes,
	// for output that goes straight after DATA: a line that starts with "." gets one more.
	// Only header lines, text and parts sent as they are can start with "." (base64 never
	// does, and quoted-printable always encodes a leading "." as "=2E"), so stuffing here
	// spares the SMTP client a scan of every byte. The end-of-data line is the caller's
	// to write; the output always ends in CRLF. Size ignores DotStuff: SMTP's SIZE counts
	// the message before stuffing (RFC 1870).
	DotStuff bool
}

// state is what one render needs; it is pooled, so a steady stream of messages allocates
// almost nothing.
type state struct {
	plan
	buf []byte // output buffer
	in  []byte // read buffer for attachments that are opened
}

var pool = sync.Pool{New: func() any { return new(state) }}

func getState() *state { return pool.Get().(*state) }

func putState(s *state) {
	s.reset()
	pool.Put(s)
}

// inSize is the read buffer for opened attachments: a whole number of base64 lines.
const inSize = 57 * 1024

// Write renders m to w. When m cannot be rendered (a CR or LF in a header value, an
// invalid header name or address, a zero Date, an empty MessageID, ...) it returns an
// InvalidArgument *transport.Error and writes nothing. Errors from w and from opening or
// reading an attachment are returned as they are, wrapped.
//
// Text and HTML are written with CRLF line breaks; a single-part body that does not end
// in a line break gets one, as every line of a message must end in CRLF.
func Write(w io.Writer, m *transport.Message, opts *Options) error {
	s := getState()
	defer putState(s)
	if err := s.build(m, opts); err != nil {
		return err
	}
	if cap(s.buf) < bufSize {
		s.buf = make([]byte, 0, bufSize)
	}
	o := &out{w: w, buf: s.buf[:0], stuff: opts != nil && opts.DotStuff, grow: maxBufSize}
	err := s.render(o)
	if err == nil {
		o.flush()
		err = o.err
	}
	s.buf = o.buf[:0] // grown or not, it serves the next message
	return err
}

// Validate runs the checks Write makes before it writes a byte, and returns the error
// Write would return for them (an InvalidArgument *transport.Error), without rendering
// anything: a sender can refuse a message before it starts a transaction it cannot
// finish. Size makes the same checks. Opening or reading an attachment can still fail
// later, in Write.
func Validate(m *transport.Message, opts *Options) error {
	s := getState()
	defer putState(s)
	return s.build(m, opts)
}

// Size returns the exact number of bytes Write would write for m with the same options,
// for SMTP's SIZE extension and BDAT. It encodes no body: base64 lengths are computed,
// text is only scanned. An attachment whose length is unknown (an Open func with Size 0)
// is read once to count it.
func Size(m *transport.Message, opts *Options) (int64, error) {
	s := getState()
	defer putState(s)
	if err := s.build(m, opts); err != nil {
		return 0, err
	}
	o := &out{counting: true}
	if err := s.render(o); err != nil {
		return 0, err
	}
	return o.n, nil
}

// NeedsSMTPUTF8 reports whether an address of m, in the envelope or in a header, is not
// ASCII, so the message can only be relayed with SMTPUTF8 (RFC 6531). Display names never
// need it: they are written as RFC 2047 encoded words.
func NeedsSMTPUTF8(m *transport.Message) bool {
	if !isASCII(m.Envelope.From) || !isASCII(m.From.Address) {
		return true
	}
	for _, a := range m.Envelope.To {
		if !isASCII(a) {
			return true
		}
	}
	for _, l := range [...][]mail.Address{m.To, m.Cc, m.Bcc, m.ReplyTo} {
		for _, a := range l {
			if !isASCII(a.Address) {
				return true
			}
		}
	}
	return false
}

// Needs8BitMIME reports whether Write with opts would send a part as 8bit, so the
// transaction must declare BODY=8BITMIME. It is always false unless opts.Allow8Bit is set,
// and false for a message Write would refuse.
func Needs8BitMIME(m *transport.Message, opts *Options) bool {
	if opts == nil || !opts.Allow8Bit {
		return false
	}
	s := getState()
	defer putState(s)
	if s.build(m, opts) != nil {
		return false
	}
	for i := range s.nodes {
		if s.nodes[i].enc == cte8bit {
			return true
		}
	}
	return false
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// render writes the planned message to o.
func (s *state) render(o *out) error {
	h := s.h.b
	o.verbatim(h[s.main.start:s.main.end]) // an extra field's name may start with "."
	root := &s.nodes[0]
	o.bytes(h[root.hdr.start:root.hdr.end])
	o.str("\r\n")
	start := o.total()
	endsNL, err := s.body(o, 0)
	if err != nil {
		return err
	}
	switch {
	case root.multipart:
		o.str("\r\n")
	case o.total() == start || endsNL:
	case root.enc == cteQP:
		o.str("=\r\n") // a soft break keeps the decoded text exact
	default:
		o.str("\r\n")
	}
	return o.err
}

// body writes node i's content (for a multipart: its parts and closing delimiter), with
// no line break after the last line. It reports whether the content ends in a line break.
func (s *state) body(o *out, i int) (bool, error) {
	n := &s.nodes[i]
	h := s.h.b
	if n.multipart {
		b := h[n.bnd.start:n.bnd.end]
		for c := n.first; c >= 0; c = s.nodes[c].next {
			if c != n.first {
				o.str("\r\n")
			}
			o.str("--")
			o.bytes(b)
			o.str("\r\n")
			ch := &s.nodes[c]
			o.bytes(h[ch.hdr.start:ch.hdr.end])
			o.str("\r\n")
			if _, err := s.body(o, c); err != nil {
				return false, err
			}
			if o.err != nil {
				return false, o.err
			}
		}
		o.str("\r\n--")
		o.bytes(b)
		o.str("--")
		return false, nil
	}
	switch n.kind {
	case srcText:
		if n.enc == cteQP {
			return o.qp(n.text), nil
		}
		if o.counting {
			o.n += n.normLen
		} else {
			o.text(n.text)
		}
		return n.endsNL, nil
	case srcBytes:
		if n.enc == cte7bit {
			o.verbatim(n.data)
			return n.endsNL, nil
		}
		o.base64(n.data, true)
		return false, nil
	}
	a := n.att
	if n.enc == cte7bit {
		o.verbatim(a.Data)
		return n.endsNL, nil
	}
	if a.Open == nil || a.Data != nil {
		o.base64(a.Data, true)
		return false, nil
	}
	if o.counting && a.Size > 0 {
		o.n += b64Len(a.Size)
		return false, nil
	}
	return false, s.stream(o, a)
}

// stream base64-encodes an opened attachment in chunks of whole lines.
func (s *state) stream(o *out, a *transport.Attachment) (err error) {
	rc, err := a.Open()
	if err != nil {
		return &attError{name: a.Filename, op: "open", err: err}
	}
	defer func() {
		if cerr := rc.Close(); cerr != nil && err == nil {
			err = &attError{name: a.Filename, op: "close", err: cerr}
		}
	}()
	if cap(s.in) < inSize {
		s.in = make([]byte, inSize)
	}
	in := s.in[:inSize]
	first := true
	var total int64
	for o.err == nil {
		k, rerr := io.ReadFull(rc, in)
		total += int64(k)
		first = o.base64(in[:k], first)
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			return &attError{name: a.Filename, op: "read", err: rerr}
		}
	}
	if o.err != nil {
		return o.err
	}
	if a.Size > 0 && total != a.Size {
		return invalid("attachment %q: Open gave %d bytes but Size says %d: set Size to the content's length, or 0 if unknown", a.Filename, total, a.Size)
	}
	return nil
}

// attError is a failure to open, read or close an attachment's content.
type attError struct {
	name, op string
	err      error
}

func (e *attError) Error() string {
	return "mime: attachment " + quote(e.name) + ": " + e.op + ": " + e.err.Error()
}

func (e *attError) Unwrap() error { return e.err }

func quote(s string) string { return strconv.Quote(s) }
