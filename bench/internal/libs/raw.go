package libs

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/postiemail/postie/bench/internal/fixture"
	"github.com/postiemail/postie/bench/internal/stdmime"
)

func init() {
	register(&Driver{Name: "raw-tcp", Label: "ceiling: raw TCP", Ceiling: true, Open: openRawTCP})
	register(&Driver{Name: "raw-data", Label: "ceiling: pipelined DATA", Ceiling: true, Open: openRawSMTP(false)})
	register(&Driver{Name: "raw-bdat", Label: "ceiling: pipelined BDAT", Ceiling: true, Open: openRawSMTP(true)})
}

// RawBytes renders the message the ceilings send, once per session. It is Postie's
// rendering when Postie's MIME writer works, else the standard-library rendering.
var RawBytes = func(f *fixture.Fixture) ([]byte, error) {
	var b bytes.Buffer
	err := stdmime.Write(&b, f, time.Unix(1_750_000_000, 0), "ceiling@shop.example")
	return b.Bytes(), err
}

// dotStuff returns body stuffed and terminated for DATA.
func dotStuff(body []byte) []byte {
	var b bytes.Buffer
	b.Grow(len(body) + len(body)/64 + 5)
	atStart := true
	for _, c := range body {
		if atStart && c == '.' {
			b.WriteByte('.')
		}
		b.WriteByte(c)
		atStart = c == '\n'
	}
	if !atStart {
		b.WriteString("\r\n")
	}
	b.WriteString(".\r\n")
	return b.Bytes()
}

// openRawTCP writes the message bytes over one connection per worker to the discard
// listener, with no protocol at all: the wire's ceiling.
func openRawTCP(t *Target, f *fixture.Fixture, _ int) (Session, error) {
	body, err := RawBytes(f)
	if err != nil {
		return nil, err
	}
	return simple(func(ctx context.Context) (Worker, error) {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", t.Discard)
		if err != nil {
			return nil, err
		}
		w := &rawTCP{raw: c.(*net.TCPConn), conn: c, body: body}
		if t.TLS != nil {
			tc := tls.Client(c, t.TLS.Clone())
			if err := tc.HandshakeContext(ctx); err != nil {
				c.Close()
				return nil, err
			}
			w.conn, w.tls = tc, tc
		}
		return w, nil
	}), nil
}

type rawTCP struct {
	raw  *net.TCPConn
	tls  *tls.Conn
	conn net.Conn
	body []byte
	sent int64
}

func (w *rawTCP) Send(context.Context) error {
	n, err := w.conn.Write(w.body)
	w.sent += int64(n)
	return err
}

func (w *rawTCP) Finish() (int64, error) {
	var err error
	if w.tls != nil {
		err = w.tls.CloseWrite()
	} else {
		err = w.raw.CloseWrite()
	}
	if err != nil {
		return 0, err
	}
	b, err := io.ReadAll(w.conn)
	if err != nil {
		return 0, err
	}
	got, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("raw-tcp: peer answered %q", b)
	}
	if got != w.sent {
		return got, fmt.Errorf("raw-tcp: peer counted %d bytes, %d sent", got, w.sent)
	}
	return got, nil
}

func (w *rawTCP) Close() error { return w.conn.Close() }

// rawSMTP is a hand-written client that pipelines a whole transaction: MAIL, every RCPT
// and DATA in one write, then the body after the 354 (two round trips), or MAIL, RCPT and
// BDAT LAST with the body in one write (one round trip).
type rawSMTP struct {
	conn  net.Conn
	br    *bufio.Reader
	bw    *bufio.Writer
	head  []byte // MAIL + RCPTs (+ DATA or BDAT)
	body  []byte // stuffed body for DATA, raw for BDAT
	rcpts int
	bdat  bool
}

func openRawSMTP(bdat bool) func(t *Target, f *fixture.Fixture, _ int) (Session, error) {
	return func(t *Target, f *fixture.Fixture, _ int) (Session, error) {
		body, err := RawBytes(f)
		if err != nil {
			return nil, err
		}
		var head bytes.Buffer
		fmt.Fprintf(&head, "MAIL FROM:<%s>\r\n", f.From.Address)
		for _, r := range f.Rcpts() {
			fmt.Fprintf(&head, "RCPT TO:<%s>\r\n", r)
		}
		if bdat {
			fmt.Fprintf(&head, "BDAT %d LAST\r\n", len(body))
		} else {
			head.WriteString("DATA\r\n")
			body = dotStuff(body)
		}
		return simple(func(ctx context.Context) (Worker, error) {
			var d net.Dialer
			c, err := d.DialContext(ctx, "tcp", t.SMTP)
			if err != nil {
				return nil, err
			}
			w := &rawSMTP{conn: c, br: bufio.NewReaderSize(c, 4096), bw: bufio.NewWriterSize(c, 64<<10),
				head: head.Bytes(), body: body, rcpts: len(f.To), bdat: bdat}
			if err := w.hello(t); err != nil {
				c.Close()
				return nil, err
			}
			return w, nil
		}), nil
	}
}

func (w *rawSMTP) hello(t *Target) error {
	if err := w.expect(220); err != nil {
		return err
	}
	if err := w.cmd(250, "EHLO client.bench"); err != nil {
		return err
	}
	if t.TLS == nil {
		return nil
	}
	if err := w.cmd(220, "STARTTLS"); err != nil {
		return err
	}
	tc := tls.Client(w.conn, t.TLS.Clone())
	if err := tc.Handshake(); err != nil {
		return err
	}
	w.conn = tc
	w.br.Reset(tc)
	w.bw.Reset(tc)
	if err := w.cmd(250, "EHLO client.bench"); err != nil {
		return err
	}
	cred := base64.StdEncoding.EncodeToString([]byte("\x00" + fixture.User + "\x00" + fixture.Password))
	return w.cmd(235, "AUTH PLAIN "+cred)
}

func (w *rawSMTP) cmd(code int, line string) error {
	w.bw.WriteString(line)
	w.bw.WriteString("\r\n")
	if err := w.bw.Flush(); err != nil {
		return err
	}
	return w.expect(code)
}

// expect reads one (possibly multi-line) reply and checks its code.
func (w *rawSMTP) expect(code int) error {
	for {
		l, err := w.br.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(l) < 4 {
			return fmt.Errorf("raw: short reply %q", l)
		}
		got := int(l[0]-'0')*100 + int(l[1]-'0')*10 + int(l[2]-'0')
		if got != code {
			return fmt.Errorf("raw: got %q, want %d", bytes.TrimSpace(l), code)
		}
		if l[3] != '-' {
			return nil
		}
	}
}

func (w *rawSMTP) Send(context.Context) error {
	w.bw.Write(w.head)
	if w.bdat {
		w.bw.Write(w.body)
	}
	if err := w.bw.Flush(); err != nil {
		return err
	}
	for range 1 + w.rcpts {
		if err := w.expect(250); err != nil {
			return err
		}
	}
	if w.bdat {
		return w.expect(250)
	}
	if err := w.expect(354); err != nil {
		return err
	}
	w.bw.Write(w.body)
	if err := w.bw.Flush(); err != nil {
		return err
	}
	return w.expect(250)
}

func (w *rawSMTP) Finish() (int64, error) { return 0, nil }

func (w *rawSMTP) Close() error {
	w.cmd(221, "QUIT")
	return w.conn.Close()
}
