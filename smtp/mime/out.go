package mime

import (
	"bytes"
	"encoding/base64"
	"io"
)

// Write's output buffer starts at bufSize, enough for most messages, and a message that
// fills it continues with one of maxBufSize: a large body then reaches the destination (a
// socket, mostly) in writes of 1 MiB, which on a TCP connection cost a good deal less per
// byte than writes of 64 KiB (a quarter less CPU per 1 MiB message over loopback).
const (
	bufSize    = 64 << 10
	maxBufSize = 1 << 20
)

// b64Line is one base64 line: 57 input bytes become 76 characters, plus CRLF.
const (
	b64In   = 57
	b64Out  = 76
	b64Line = b64Out + 2
)

// out is the sink of a render. In counting mode (Size) it only adds up lengths, so Size
// and Write share one code path and cannot disagree.
type out struct {
	w        io.Writer
	buf      []byte // pending bytes; cap(buf) is the buffer size
	n        int64  // bytes handed to w, or counted
	counting bool
	stuff    bool // dot-stuff lines that start with "." (Options.DotStuff); never in counting mode
	grow     int  // the size the buffer grows to once it fills (0: it does not grow)
	err      error
}

func (o *out) flush() {
	if o.counting || len(o.buf) == 0 || o.err != nil {
		o.buf = o.buf[:0]
		return
	}
	k, err := o.w.Write(o.buf)
	o.n += int64(k)
	if err == nil && k < len(o.buf) {
		err = io.ErrShortWrite
	}
	o.err = err
	o.buf = o.buf[:0]
}

// full makes room when the buffer has too little left: it flushes, and the first time
// it grows the buffer to o.grow.
func (o *out) full() {
	o.flush()
	if cap(o.buf) < o.grow {
		o.buf = make([]byte, 0, o.grow)
	}
}

// total returns the bytes written or counted so far, including what is still buffered.
func (o *out) total() int64 { return o.n + int64(len(o.buf)) }

func (o *out) str(s string) {
	if o.counting {
		o.n += int64(len(s))
		return
	}
	for len(s) > 0 {
		if len(o.buf) == cap(o.buf) {
			o.full()
		}
		k := copy(o.buf[len(o.buf):cap(o.buf)], s)
		o.buf = o.buf[:len(o.buf)+k]
		s = s[k:]
	}
}

func (o *out) bytes(b []byte) {
	if o.counting {
		o.n += int64(len(b))
		return
	}
	for len(b) > 0 {
		if len(o.buf) == cap(o.buf) {
			o.full()
		}
		k := copy(o.buf[len(o.buf):cap(o.buf)], b)
		o.buf = o.buf[:len(o.buf)+k]
		b = b[k:]
	}
}

var nlDot = []byte("\n.")

// verbatim writes b, which starts at the beginning of a line and breaks lines with CRLF
// only, as it is; with o.stuff, every line of it that starts with "." gets one more.
func (o *out) verbatim(b []byte) {
	if !o.stuff || len(b) == 0 {
		o.bytes(b)
		return
	}
	if b[0] == '.' {
		o.str(".")
	}
	for {
		i := bytes.Index(b, nlDot)
		if i < 0 {
			break
		}
		o.bytes(b[:i+1])
		o.str(".")
		b = b[i+1:]
	}
	o.bytes(b)
}

// base64 writes src as base64 lines of 76 characters separated by CRLF, with no CRLF after
// the last line. It encodes whole lines straight into the output buffer. Every call but
// the last of a part must pass a multiple of 57 bytes; first says whether no line of the
// part has been written yet, and the updated value is returned.
func (o *out) base64(src []byte, first bool) bool {
	if o.counting {
		o.n += b64Len(int64(len(src)))
		if !first && len(src) > 0 {
			o.n += 2
		}
		return first && len(src) == 0
	}
	for len(src) > 0 && o.err == nil {
		free := cap(o.buf) - len(o.buf)
		lines := free / b64Line
		if lines == 0 {
			o.full()
			continue
		}
		n := lines * b64In
		if n > len(src) {
			n = len(src)
		}
		dst := o.buf[len(o.buf):cap(o.buf)]
		j := 0
		for i := 0; i < n; i += b64In {
			if !first {
				dst[j] = '\r'
				dst[j+1] = '\n'
				j += 2
			}
			first = false
			if n-i >= b64In {
				encodeLine((*[b64Out]byte)(dst[j:j+b64Out]), (*[b64In]byte)(src[i:i+b64In]))
				j += b64Out
				continue
			}
			// The part's last, short line, with its padding.
			base64.StdEncoding.Encode(dst[j:], src[i:n])
			j += base64.StdEncoding.EncodedLen(n - i)
		}
		o.buf = o.buf[:len(o.buf)+j]
		src = src[n:]
	}
	return first
}

// b64Len is the length of n bytes written by out.base64 in one part.
func b64Len(n int64) int64 {
	if n == 0 {
		return 0
	}
	lines := (n + b64In - 1) / b64In
	return (n+2)/3*4 + 2*(lines-1)
}
