package smtp

import (
	"io"
	"strconv"
	"sync"
)

// Redacted replaces secrets in a transcript: AUTH responses, 334 challenges.
const Redacted = "[redacted]"

// lockedWriter serializes transcript lines from the connections of one Transport.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// transcript writes one session's lines. A nil *transcript writes nothing.
type transcript struct {
	w      io.Writer
	prefix string // "" or "[n] " to tell a pool's connections apart
	buf    []byte
}

func (t *transcript) line(dir string, parts ...string) {
	if t == nil {
		return
	}
	t.buf = append(t.buf[:0], t.prefix...)
	t.buf = append(t.buf, dir...)
	for _, p := range parts {
		t.buf = append(t.buf, p...)
	}
	t.buf = append(t.buf, '\n')
	_, _ = t.w.Write(t.buf) // a failing transcript must not fail the send
}

func (t *transcript) bytesLine(dir string, b []byte) {
	if t == nil {
		return
	}
	t.buf = append(t.buf[:0], t.prefix...)
	t.buf = append(t.buf, dir...)
	t.buf = append(t.buf, b...)
	t.buf = append(t.buf, '\n')
	_, _ = t.w.Write(t.buf)
}

func (t *transcript) body(n int64) {
	if t == nil {
		return
	}
	t.line("C: ", "[message body, ", strconv.FormatInt(n, 10), " bytes]")
}
