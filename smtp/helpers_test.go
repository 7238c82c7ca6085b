package smtp

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net/mail"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/postiemail/postie/smtp/mime"
	"github.com/postiemail/postie/smtp/smtptest"
	"github.com/postiemail/postie/transport"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type (
	step   = smtptest.Step
	script = smtptest.Script
)

// greet is the start of most scripts: a greeting and an EHLO reply offering exts.
func greet(exts ...string) []step {
	return []step{{Reply: "220 scripted.test ESMTP"}, {Expect: "EHLO client.test", Reply: ehloReply(exts...)}}
}

func ehloReply(exts ...string) string {
	lines := append([]string{"scripted.test"}, exts...)
	var b strings.Builder
	for i, l := range lines {
		if i == len(lines)-1 {
			b.WriteString("250 " + l)
		} else {
			b.WriteString("250-" + l + "\n")
		}
	}
	return b.String()
}

// accepted is one transaction over DATA, without PIPELINING, that the server accepts: the
// MAIL line, each RCPT line (all answered 250), DATA and the body. Spread it into a []step
// with ... or pass it to steps.
func accepted(mail string, rcpts ...string) []step {
	s := []step{{Expect: mail, Reply: "250 ok"}}
	for _, r := range rcpts {
		s = append(s, step{Expect: r, Reply: "250 ok"})
	}
	return append(s, step{Expect: "DATA", Reply: "354 go"}, step{Body: true, Reply: "250 ok"})
}

// steps concatenates script parts.
func steps(parts ...[]step) script {
	var s script
	for _, p := range parts {
		s = append(s, p...)
	}
	return s
}

// cleartext are Options for a scripted server on loopback without TLS.
func cleartext() *Options {
	return &Options{TLS: TLSNone, LocalName: "client.test"}
}

func testCtx(t *testing.T) context.Context {
	// A bound on a broken test, never a timing assertion.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

var dialed sync.Map // *testing.T -> *[]*Client

func dialT(t *testing.T, addr string, opts *Options) *Client {
	t.Helper()
	c, err := Dial(testCtx(t), addr, opts)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	list, _ := dialed.LoadOrStore(t, new([]*Client))
	*list.(*[]*Client) = append(*list.(*[]*Client), c)
	t.Cleanup(func() { c.Close(); dialed.Delete(t) })
	return c
}

// finish closes the clients t dialed and waits until the server has played its scripts,
// so that what it received can be checked.
func finish(t *testing.T, s *smtptest.Scripted) {
	t.Helper()
	if list, ok := dialed.Load(t); ok {
		for _, c := range *list.(*[]*Client) {
			c.Close()
		}
	}
	s.Wait()
}

var testDate = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

// testMessage is a small message from a@example.com to the given recipients.
func testMessage(to ...string) *transport.Message {
	m := &transport.Message{
		Envelope:  transport.Envelope{From: "a@example.com", To: to},
		From:      mail.Address{Name: "A", Address: "a@example.com"},
		Subject:   "Hello",
		Date:      testDate,
		MessageID: "m1@example.com",
		Text:      "Hello there.\r\n.A line with a leading dot\r\n",
	}
	for _, r := range to {
		m.To = append(m.To, mail.Address{Address: r})
	}
	return m
}

// rendered is what the MIME writer makes of m, as the server should receive it.
func rendered(t *testing.T, m *transport.Message, opts *mime.Options) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := mime.Write(&b, m, opts); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func size(t *testing.T, m *transport.Message) int64 {
	t.Helper()
	n, err := mime.Size(m, nil)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// wantCode checks err's classification.
func wantCode(t *testing.T, err error, code transport.Code, temporary bool) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %v", code)
	}
	if got := transport.CodeOf(err); got != code {
		t.Fatalf("CodeOf(%v) = %v, want %v", err, got, code)
	}
	if got := transport.IsTemporary(err); got != temporary {
		t.Fatalf("IsTemporary(%v) = %v, want %v", err, got, temporary)
	}
}

func replyOf(err error) *transport.Reply {
	var te *transport.Error
	if errors.As(err, &te) {
		return te.Reply
	}
	return nil
}

func bufioWriter(w io.Writer) *bufio.Writer { return bufio.NewWriterSize(w, 4096) }

func itoa(n int) string { return strconv.Itoa(n) }

func writeMIME(w io.Writer, m *transport.Message) error { return mime.Write(w, m, nil) }
