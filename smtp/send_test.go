package smtp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/mail"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/postiemail/postie/smtp/mime"
	"github.com/postiemail/postie/smtp/smtptest"
	"github.com/postiemail/postie/transport"
)

func send(t *testing.T, c *Client, m *transport.Message) (*transport.Receipt, error) {
	t.Helper()
	return c.Send(testCtx(t), m)
}

func TestSendPipelinedOneFlight(t *testing.T) {
	m := testMessage("b@x.test", "c@x.test")
	n := size(t, m)
	s := smtptest.NewScripted(t, steps(greet("PIPELINING", "SIZE 10000", "ENHANCEDSTATUSCODES"), []step{
		// Deferred replies: a client that waited for the MAIL reply would stall here.
		{Expect: "MAIL FROM:<a@example.com> SIZE=" + strconv.FormatInt(n, 10), Reply: "250 2.1.0 Ok", Defer: true},
		{Expect: "RCPT TO:<b@x.test>", Reply: "250 2.1.5 Ok", Defer: true},
		{Expect: "RCPT TO:<c@x.test>", Reply: "250 2.1.5 Ok", Defer: true},
		{Expect: "DATA", Reply: "354 End data with <CR><LF>.<CR><LF>"},
		{Body: true, Reply: "250 2.0.0 Ok: queued as 4XyZ12"},
		// The second message: no RSET after a success.
		{Expect: "MAIL FROM:<a@example.com> SIZE=*", Reply: "250 2.1.0 Ok", Defer: true},
		{Expect: "RCPT TO:<d@x.test>", Reply: "250 2.1.5 Ok", Defer: true},
		{Expect: "DATA", Reply: "354 go"},
		{Body: true, Reply: "250 2.0.0 queued as 2nd"},
	}))
	c := dialT(t, s.Addr(), cleartext())
	rec, err := send(t, c, m)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rec.Accepted, []string{"b@x.test", "c@x.test"}) || len(rec.Rejected) != 0 || rec.ID != "4XyZ12" ||
		rec.MessageID != "m1@example.com" || rec.Reply.Code != 250 || rec.Reply.Enhanced != (transport.Enhanced{2, 0, 0}) {
		t.Errorf("receipt %+v", rec)
	}
	rec, err = send(t, c, testMessage("d@x.test"))
	if err != nil || rec.ID != "2nd" {
		t.Fatalf("second send: %+v, %v", rec, err)
	}
	finish(t, s)
	if bodies := s.Bodies(); len(bodies) != 2 || !bytes.Equal(bodies[0], rendered(t, m, nil)) {
		t.Errorf("body differs from the MIME rendering:\n%q", bodies)
	}
}

func TestSendWithoutPipelining(t *testing.T) {
	s := smtptest.NewScripted(t, steps(greet("8BITMIME"), []step{
		{Expect: "MAIL FROM:<a@example.com>", Reply: "250 ok"},
		{Expect: "RCPT TO:<b@x.test>", Reply: "250 ok"},
		{Expect: "RCPT TO:<c@x.test>", Reply: "550 5.1.1 <c@x.test>: Recipient address rejected"},
		{Expect: "DATA", Reply: "354 go"},
		{Body: true, Reply: "250 ok"},
	}))
	o := cleartext()
	o.NoPipelining = true // ignored here: the server does not offer it anyway
	c := dialT(t, s.Addr(), o)
	rec, err := send(t, c, testMessage("b@x.test", "c@x.test"))
	var pe *transport.PartialError
	if !errors.As(err, &pe) || len(pe.Rejected) != 1 || pe.Rejected[0].Recipient != "c@x.test" {
		t.Fatalf("err = %v, want a PartialError for c", err)
	}
	wantCode(t, pe.Rejected[0].Err, transport.NotFound, false)
	if rec == nil || !slices.Equal(rec.Accepted, []string{"b@x.test"}) || len(rec.Rejected) != 1 {
		t.Fatalf("receipt %+v", rec)
	}
}

func TestSendPartialAndRefused(t *testing.T) {
	t.Run("some refused", func(t *testing.T) {
		s := smtptest.NewScripted(t, steps(greet("PIPELINING"), []step{
			{Expect: "MAIL FROM:<a@example.com>", Reply: "250 ok", Defer: true},
			{Expect: "RCPT TO:<b@x.test>", Reply: "450 4.2.1 mailbox busy", Defer: true},
			{Expect: "RCPT TO:<c@x.test>", Reply: "250 ok", Defer: true},
			{Expect: "RCPT TO:<d@x.test>", Reply: "553 5.1.3 bad address syntax", Defer: true},
			{Expect: "DATA", Reply: "354 go"},
			{Body: true, Reply: "250 ok"},
		}))
		c := dialT(t, s.Addr(), cleartext())
		rec, err := send(t, c, testMessage("b@x.test", "c@x.test", "d@x.test"))
		var pe *transport.PartialError
		if !errors.As(err, &pe) || len(pe.Rejected) != 2 {
			t.Fatalf("err = %v", err)
		}
		wantCode(t, pe.Rejected[0].Err, transport.Unavailable, true)
		wantCode(t, pe.Rejected[1].Err, transport.InvalidArgument, false)
		if !slices.Equal(rec.Accepted, []string{"c@x.test"}) {
			t.Errorf("accepted %v", rec.Accepted)
		}
		if !transport.IsTemporary(err) {
			t.Error("a partial error with a temporary refusal is not temporary")
		}
	})
	t.Run("all refused, then RSET leads the next flight", func(t *testing.T) {
		s := smtptest.NewScripted(t, steps(greet("PIPELINING"), []step{
			{Expect: "MAIL FROM:<a@example.com>", Reply: "250 ok", Defer: true},
			{Expect: "RCPT TO:<b@x.test>", Reply: "550 5.1.1 no such user", Defer: true},
			{Expect: "DATA", Reply: "554 5.5.1 Error: no valid recipients"},
			{Expect: "RSET", Reply: "250 flushed", Defer: true},
			{Expect: "MAIL FROM:<a@example.com>", Reply: "250 ok", Defer: true},
			{Expect: "RCPT TO:<c@x.test>", Reply: "250 ok", Defer: true},
			{Expect: "DATA", Reply: "354 go"},
			{Body: true, Reply: "250 ok"},
		}))
		c := dialT(t, s.Addr(), cleartext())
		rec, err := send(t, c, testMessage("b@x.test"))
		if rec != nil {
			t.Errorf("receipt %+v for a message nobody got", rec)
		}
		var pe *transport.PartialError
		if !errors.As(err, &pe) || len(pe.Rejected) != 1 {
			t.Fatalf("err = %v", err)
		}
		wantCode(t, err, transport.NotFound, false)
		if _, err := send(t, c, testMessage("c@x.test")); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("MAIL refused", func(t *testing.T) {
		s := smtptest.NewScripted(t, steps(greet("PIPELINING"), []step{
			{Expect: "MAIL FROM:<a@example.com>", Reply: "550 5.7.1 sender rejected", Defer: true},
			{Expect: "RCPT TO:<b@x.test>", Reply: "503 5.5.1 need MAIL", Defer: true},
			{Expect: "DATA", Reply: "503 5.5.1 need RCPT"},
			// No RSET: nothing is open after a refused MAIL.
			{Expect: "MAIL FROM:<a@example.com>", Reply: "451 4.3.0 try later", Defer: true},
			{Expect: "RCPT TO:<b@x.test>", Reply: "503 need MAIL", Defer: true},
			{Expect: "DATA", Reply: "503 need RCPT"},
		}))
		c := dialT(t, s.Addr(), cleartext())
		_, err := send(t, c, testMessage("b@x.test"))
		wantCode(t, err, transport.PermissionDenied, false)
		var pe *transport.PartialError
		if errors.As(err, &pe) {
			t.Errorf("a MAIL refusal reported per recipient: %v", err)
		}
		_, err = send(t, c, testMessage("b@x.test"))
		wantCode(t, err, transport.Unavailable, true)
	})
	t.Run("DATA refused", func(t *testing.T) {
		s := smtptest.NewScripted(t, steps(greet("PIPELINING"), []step{
			{Expect: "MAIL FROM:<a@example.com>", Reply: "250 ok", Defer: true},
			{Expect: "RCPT TO:<b@x.test>", Reply: "250 ok", Defer: true},
			{Expect: "DATA", Reply: "451 4.3.0 local problem"},
		}))
		c := dialT(t, s.Addr(), cleartext())
		_, err := send(t, c, testMessage("b@x.test"))
		wantCode(t, err, transport.Unavailable, true)
	})
	t.Run("end of data refused", func(t *testing.T) {
		s := smtptest.NewScripted(t, steps(greet(), []step{
			{Expect: "MAIL FROM:<a@example.com>", Reply: "250 ok"},
			{Expect: "RCPT TO:<b@x.test>", Reply: "250 ok"},
			{Expect: "DATA", Reply: "354 go"},
			{Body: true, Reply: "554 5.7.1 message looks like spam"},
		}))
		c := dialT(t, s.Addr(), cleartext())
		_, err := send(t, c, testMessage("b@x.test"))
		wantCode(t, err, transport.PermissionDenied, false)
		if errors.Is(err, transport.ErrMaybeDelivered) {
			t.Error("a refused message is marked maybe delivered")
		}
	})
}

func TestSendAllOrNothing(t *testing.T) {
	s := smtptest.NewScripted(t, steps(greet("PIPELINING"), []step{
		// No DATA in the flight: the body waits until every recipient is accepted.
		{Expect: "MAIL FROM:<a@example.com>", Reply: "250 ok", Defer: true},
		{Expect: "RCPT TO:<b@x.test>", Reply: "250 ok", Defer: true},
		{Expect: "RCPT TO:<c@x.test>", Reply: "452 4.2.2 mailbox full"},
		{Expect: "RSET", Reply: "250 ok", Defer: true},
		{Expect: "MAIL FROM:<a@example.com>", Reply: "250 ok", Defer: true},
		{Expect: "RCPT TO:<b@x.test>", Reply: "250 ok"},
		{Expect: "DATA", Reply: "354 go"},
		{Body: true, Reply: "250 ok"},
	}))
	o := cleartext()
	o.AllOrNothing = true
	c := dialT(t, s.Addr(), o)
	rec, err := send(t, c, testMessage("b@x.test", "c@x.test"))
	if rec != nil {
		t.Errorf("receipt %+v", rec)
	}
	var pe *transport.PartialError
	if !errors.As(err, &pe) || len(pe.Rejected) != 2 {
		t.Fatalf("err = %v, want both recipients reported", err)
	}
	// Both must be retried together; the held-back one says why it was not sent.
	wantCode(t, pe.Rejected[0].Err, transport.FailedPrecondition, true)
	wantCode(t, pe.Rejected[1].Err, transport.ResourceExhausted, true)
	if rec, err := send(t, c, testMessage("b@x.test")); err != nil || len(rec.Accepted) != 1 {
		t.Fatalf("second send: %+v, %v", rec, err)
	}
}

func TestSendSplitsOnTooManyRecipients(t *testing.T) {
	for _, refusal := range []string{"452 4.5.3 Too many recipients", "552 5.5.3 Too many recipients"} {
		t.Run(refusal[:3], func(t *testing.T) {
			s := smtptest.NewScripted(t, steps(greet("PIPELINING"), []step{
				{Expect: "MAIL FROM:<a@example.com>", Reply: "250 ok", Defer: true},
				{Expect: "RCPT TO:<r1@x.test>", Reply: "250 ok", Defer: true},
				{Expect: "RCPT TO:<r2@x.test>", Reply: "250 ok", Defer: true},
				{Expect: "RCPT TO:<r3@x.test>", Reply: refusal, Defer: true},
				{Expect: "RCPT TO:<r4@x.test>", Reply: refusal, Defer: true},
				{Expect: "RCPT TO:<r5@x.test>", Reply: refusal, Defer: true},
				{Expect: "DATA", Reply: "354 go"},
				{Body: true, Reply: "250 ok: queued as one"},
				{Expect: "MAIL FROM:<a@example.com>", Reply: "250 ok", Defer: true},
				{Expect: "RCPT TO:<r3@x.test>", Reply: "250 ok", Defer: true},
				{Expect: "RCPT TO:<r4@x.test>", Reply: "250 ok", Defer: true},
				{Expect: "RCPT TO:<r5@x.test>", Reply: refusal, Defer: true},
				{Expect: "DATA", Reply: "354 go"},
				{Body: true, Reply: "250 ok: queued as two"},
				{Expect: "MAIL FROM:<a@example.com>", Reply: "250 ok", Defer: true},
				{Expect: "RCPT TO:<r5@x.test>", Reply: "250 ok", Defer: true},
				{Expect: "DATA", Reply: "354 go"},
				{Body: true, Reply: "250 ok: queued as three"},
			}))
			c := dialT(t, s.Addr(), cleartext())
			rec, err := send(t, c, testMessage("r1@x.test", "r2@x.test", "r3@x.test", "r4@x.test", "r5@x.test"))
			if err != nil {
				t.Fatal(err)
			}
			if len(rec.Accepted) != 5 || rec.ID != "three" {
				t.Errorf("receipt %+v", rec)
			}
			finish(t, s)
			if n := len(s.Bodies()); n != 3 {
				t.Errorf("%d bodies, want 3 transactions", n)
			}
		})
	}
	t.Run("BDAT", func(t *testing.T) {
		m := testMessage("r1@x.test", "r2@x.test")
		n := size(t, m)
		mail := "MAIL FROM:<a@example.com> SIZE=" + strconv.FormatInt(n, 10)
		// With SIZE the body goes in a chunk of known size, then BDAT 0 LAST.
		bdat := fmt.Sprintf("BDAT %d", n)
		s := smtptest.NewScripted(t, steps(greet("PIPELINING", "CHUNKING", "SIZE 100000"), []step{
			{Expect: mail, Reply: "250 ok", Defer: true},
			{Expect: "RCPT TO:<r1@x.test>", Reply: "250 ok", Defer: true},
			{Expect: "RCPT TO:<r2@x.test>", Reply: "452 4.5.3 Too many recipients", Defer: true},
			{Expect: bdat, Body: true, Reply: "250 ok", Defer: true},
			{Expect: "BDAT 0 LAST", Body: true, Reply: "250 ok"},
			// The same MAIL line again: the BDAT header did not overwrite it.
			{Expect: mail, Reply: "250 ok", Defer: true},
			{Expect: "RCPT TO:<r2@x.test>", Reply: "250 ok", Defer: true},
			{Expect: bdat, Body: true, Reply: "250 ok", Defer: true},
			{Expect: "BDAT 0 LAST", Body: true, Reply: "250 ok"},
		}))
		if rec, err := dialT(t, s.Addr(), cleartext()).Send(testCtx(t), m); err != nil || len(rec.Accepted) != 2 {
			t.Fatalf("%+v, %v", rec, err)
		}
	})
	t.Run("452 on the first recipient is a refusal", func(t *testing.T) {
		s := smtptest.NewScripted(t, steps(greet("PIPELINING"), []step{
			{Expect: "MAIL FROM:<a@example.com>", Reply: "250 ok", Defer: true},
			{Expect: "RCPT TO:<r1@x.test>", Reply: "452 4.3.1 insufficient system storage", Defer: true},
			{Expect: "DATA", Reply: "554 no valid recipients"},
		}))
		c := dialT(t, s.Addr(), cleartext())
		_, err := send(t, c, testMessage("r1@x.test"))
		wantCode(t, err, transport.ResourceExhausted, true)
	})
}

func TestSendBDAT(t *testing.T) {
	m := testMessage("b@x.test")
	body := rendered(t, m, nil)
	bdat := fmt.Sprintf("BDAT %d LAST", len(body))
	t.Run("pipelined: the whole message in one flight", func(t *testing.T) {
		s := smtptest.NewScripted(t, steps(greet("PIPELINING", "CHUNKING"), []step{
			{Expect: "MAIL FROM:<a@example.com>", Reply: "250 ok", Defer: true},
			{Expect: "RCPT TO:<b@x.test>", Reply: "250 ok", Defer: true},
			{Expect: bdat, Body: true, Reply: "250 2.0.0 Ok: queued as BD1"},
		}))
		c := dialT(t, s.Addr(), cleartext())
		rec, err := send(t, c, m)
		if err != nil || rec.ID != "BD1" {
			t.Fatalf("%+v, %v", rec, err)
		}
		finish(t, s)
		if b := s.Bodies(); len(b) != 1 || !bytes.Equal(b[0], body) {
			t.Errorf("body %q", b)
		}
	})
	t.Run("without pipelining", func(t *testing.T) {
		s := smtptest.NewScripted(t, steps(greet("CHUNKING"), []step{
			{Expect: "MAIL FROM:<a@example.com>", Reply: "250 ok"},
			{Expect: "RCPT TO:<b@x.test>", Reply: "250 ok"},
			{Expect: bdat, Body: true, Reply: "250 ok"},
		}))
		dialT(t, s.Addr(), cleartext()).Send(testCtx(t), m)
		finish(t, s)
	})
	t.Run("NoChunking uses DATA", func(t *testing.T) {
		s := smtptest.NewScripted(t, steps(greet("CHUNKING"),
			accepted("MAIL FROM:<a@example.com>", "RCPT TO:<b@x.test>"),
		))
		o := cleartext()
		o.NoChunking = true
		if _, err := dialT(t, s.Addr(), o).Send(testCtx(t), m); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("all refused: the chunk is answered and nothing follows", func(t *testing.T) {
		s := smtptest.NewScripted(t, steps(greet("PIPELINING", "CHUNKING"), []step{
			{Expect: "MAIL FROM:<a@example.com>", Reply: "250 ok", Defer: true},
			{Expect: "RCPT TO:<b@x.test>", Reply: "550 5.1.1 unknown", Defer: true},
			{Expect: bdat, Body: true, Reply: "554 5.5.1 no valid recipients"},
		}))
		_, err := dialT(t, s.Addr(), cleartext()).Send(testCtx(t), m)
		wantCode(t, err, transport.NotFound, false)
		finish(t, s)
	})
}

// bigMessage has an attachment that makes its body n bytes or more.
func bigMessage(n int) *transport.Message {
	m := testMessage("b@x.test")
	data := bytes.Repeat([]byte("0123456789abcdef"), n/16*3/4+1)
	m.Attachments = []transport.Attachment{{Filename: "big.bin", ContentType: "application/octet-stream", Data: data}}
	return m
}

func TestSendBDATChunks(t *testing.T) {
	m := bigMessage(5 << 19) // about 2.5 MiB once base64-encoded
	body := rendered(t, m, nil)
	if len(body) <= 2*ChunkSize {
		t.Fatalf("body %d bytes, want more than two chunks", len(body))
	}
	last := fmt.Sprintf("BDAT %d LAST", len(body)-2*ChunkSize)
	full := fmt.Sprintf("BDAT %d", ChunkSize)
	s := smtptest.NewScripted(t, steps(greet("PIPELINING", "CHUNKING"), []step{
		{Expect: "MAIL FROM:<a@example.com>", Reply: "250 ok", Defer: true},
		{Expect: "RCPT TO:<b@x.test>", Reply: "250 ok", Defer: true},
		// The first chunk completes the flight; its replies are read before going on.
		{Expect: full, Body: true, Reply: "250 2.0.0 chunk 1 ok"},
		// Later chunks are pipelined: no reply until the last.
		{Expect: full, Body: true, Reply: "250 2.0.0 chunk 2 ok", Defer: true},
		{Expect: last, Body: true, Reply: "250 2.0.0 queued as BIG"},
	}))
	c := dialT(t, s.Addr(), cleartext())
	rec, err := send(t, c, m)
	if err != nil || rec.ID != "BIG" {
		t.Fatalf("%+v, %v", rec, err)
	}
	finish(t, s)
	if b := s.Bodies(); len(b) != 1 || !bytes.Equal(b[0], body) {
		t.Errorf("reassembled body differs (%d bodies)", len(b))
	}
}

// stuff is a slow reference for dot-stuffing a CRLF body, terminator included.
func stuff(body []byte) []byte {
	var out bytes.Buffer
	for _, line := range bytes.SplitAfter(body, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		if line[0] == '.' {
			out.WriteByte('.')
		}
		out.Write(line)
	}
	if len(body) > 0 && !bytes.HasSuffix(body, []byte("\r\n")) {
		out.WriteString("\r\n")
	}
	out.WriteString(".\r\n")
	return out.Bytes()
}

func TestDotWriter(t *testing.T) {
	bodies := []string{
		"",
		".",
		"..\r\n",
		".\r\n.\r\n",
		"a\r\n.\r\nb\r\n",
		"line\r\n.leading\r\n..two\r\nmid.dle\r\n.",
		"no final crlf",
		"ends in cr\r",
		strings.Repeat("x", 70000) + "\r\n." + strings.Repeat("y", 70000) + "\r\n",
	}
	for _, body := range bodies {
		want := stuff([]byte(body))
		// Every way of cutting the body in two, and byte by byte.
		cuts := [][]int{nil}
		for i := 1; i < len(body) && i < 40; i++ {
			cuts = append(cuts, []int{i})
		}
		if len(body) < 100 {
			var each []int
			for i := 1; i < len(body); i++ {
				each = append(each, i)
			}
			cuts = append(cuts, each)
		}
		for _, cut := range cuts {
			var out bytes.Buffer
			bw := bufioWriter(&out)
			var d dotWriter
			d.reset(bw, false)
			prev := 0
			for _, c := range append(cut, len(body)) {
				if n, err := d.Write([]byte(body[prev:c])); err != nil || n != c-prev {
					t.Fatalf("Write = %d, %v", n, err)
				}
				prev = c
			}
			if err := d.close(); err != nil {
				t.Fatal(err)
			}
			bw.Flush()
			if !bytes.Equal(out.Bytes(), want) {
				t.Fatalf("body %.40q cut at %v:\n got %.80q\nwant %.80q", body, cut, out.Bytes(), want)
			}
			if d.n != int64(len(body)) {
				t.Fatalf("n = %d, want %d", d.n, len(body))
			}
		}
	}
}

func TestSendDotStuffing(t *testing.T) {
	m := testMessage("b@x.test")
	m.Text = ".\r\n..\r\n.hidden\r\nend.\r\n"
	s := smtptest.NewScripted(t, steps(greet(),
		accepted("MAIL FROM:<a@example.com>", "RCPT TO:<b@x.test>"),
	))
	if _, err := dialT(t, s.Addr(), cleartext()).Send(testCtx(t), m); err != nil {
		t.Fatal(err)
	}
	finish(t, s)
	body := rendered(t, m, nil)
	if b := s.Bodies(); len(b) != 1 || !bytes.Equal(b[0], body) {
		t.Errorf("body after unstuffing: %q", b)
	}
	if raw := s.RawBodies()[0]; !bytes.Contains(raw, []byte("\r\n..\r\n...\r\n..hidden\r\nend.\r\n")) {
		t.Errorf("wire body not stuffed: %q", raw)
	}
}

func TestSendChecksExtensionsFirst(t *testing.T) {
	utf8 := testMessage("b@x.test")
	utf8.Envelope.To = []string{"jörg@x.test"}
	utf8.To = []mail.Address{{Address: "jörg@x.test"}}
	cases := []struct {
		name string
		exts []string
		m    *transport.Message
		opts func(*Options)
		code transport.Code
	}{
		{"larger than SIZE", []string{"SIZE 100"}, testMessage("b@x.test"), nil, transport.ResourceExhausted},
		{"SMTPUTF8 missing", []string{"8BITMIME"}, utf8, nil, transport.Unimplemented},
		{"REQUIRETLS missing", nil, func() *transport.Message {
			m := testMessage("b@x.test")
			m.Envelope.RequireTLS = true
			return m
		}(), nil, transport.Unimplemented},
		{"REQUIRETLS without TLS", []string{"REQUIRETLS"}, func() *transport.Message {
			m := testMessage("b@x.test")
			m.Envelope.RequireTLS = true
			return m
		}(), nil, transport.FailedPrecondition},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := smtptest.NewScripted(t, steps(greet(tc.exts...)))
			c := dialT(t, s.Addr(), cleartext())
			_, err := c.Send(testCtx(t), tc.m)
			wantCode(t, err, tc.code, false)
			if !strings.Contains(err.Error(), "nothing was sent") {
				t.Errorf("err %q", err)
			}
			c.Close()
			finish(t, s)
			if got := s.Commands(0); len(got) != 1 {
				t.Errorf("sent %q", got)
			}
		})
	}
}

func TestSendMailParameters(t *testing.T) {
	t.Run("SMTPUTF8 only when needed", func(t *testing.T) {
		m := testMessage("jörg@x.test")
		s := smtptest.NewScripted(t, steps(greet("SMTPUTF8", "8BITMIME"),
			accepted("MAIL FROM:<a@example.com> BODY=8BITMIME SMTPUTF8", "RCPT TO:<jörg@x.test>"),
			accepted("MAIL FROM:<a@example.com>", "RCPT TO:<b@x.test>"),
		))
		c := dialT(t, s.Addr(), cleartext())
		if _, err := c.Send(testCtx(t), m); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Send(testCtx(t), testMessage("b@x.test")); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("BODY=8BITMIME only for 8-bit bodies", func(t *testing.T) {
		m := testMessage("b@x.test")
		m.Text = "Grüße aus Köln\r\n"
		opts := &mime.Options{Allow8Bit: true}
		if !mime.Needs8BitMIME(m, opts) {
			t.Skip("the MIME writer does not emit 8bit parts")
		}
		s := smtptest.NewScripted(t, steps(greet("8BITMIME"),
			accepted("MAIL FROM:<a@example.com> BODY=8BITMIME", "RCPT TO:<b@x.test>"),
			accepted("MAIL FROM:<a@example.com>", "RCPT TO:<b@x.test>"), // 7-bit: no BODY
		))
		o := cleartext()
		o.Allow8Bit = true
		c := dialT(t, s.Addr(), o)
		if _, err := c.Send(testCtx(t), m); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Send(testCtx(t), testMessage("b@x.test")); err != nil {
			t.Fatal(err)
		}
		finish(t, s)
		if b := s.Bodies()[0]; !bytes.Equal(b, rendered(t, m, opts)) {
			t.Errorf("8-bit body differs")
		}
	})
	t.Run("DSN", func(t *testing.T) {
		m := testMessage("b+tag@x.test")
		m.Envelope.DSN = &transport.DSN{Return: "hdrs", EnvID: "id+1=x y", Notify: []string{"success", "FAILURE"}}
		s := smtptest.NewScripted(t, steps(greet("DSN"),
			accepted("MAIL FROM:<a@example.com> RET=HDRS ENVID=id+2B1+3Dx+20y", "RCPT TO:<b+tag@x.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;b+2Btag@x.test"),
		))
		if _, err := dialT(t, s.Addr(), cleartext()).Send(testCtx(t), m); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("DSN dropped when not offered", func(t *testing.T) {
		m := testMessage("b@x.test")
		m.Envelope.DSN = &transport.DSN{Return: "FULL", Notify: []string{"NEVER"}}
		s := smtptest.NewScripted(t, steps(greet(),
			accepted("MAIL FROM:<a@example.com>", "RCPT TO:<b@x.test>"),
		))
		if _, err := dialT(t, s.Addr(), cleartext()).Send(testCtx(t), m); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("REQUIRETLS over STARTTLS", func(t *testing.T) {
		m := testMessage("b@x.test")
		m.Envelope.RequireTLS = true
		s := smtptest.NewScripted(t, steps(greet("STARTTLS"), []step{
			{Expect: "STARTTLS", Reply: "220 go", StartTLS: true},
			{Expect: "EHLO client.test", Reply: ehloReply("REQUIRETLS")},
		}, accepted("MAIL FROM:<a@example.com> REQUIRETLS", "RCPT TO:<b@x.test>")))
		c := dialT(t, s.Addr(), &Options{LocalName: "client.test", TLSConfig: s.ClientTLSConfig()})
		if _, err := c.Send(testCtx(t), m); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("null sender", func(t *testing.T) {
		m := testMessage("b@x.test")
		m.Envelope.From = ""
		s := smtptest.NewScripted(t, steps(greet(),
			accepted("MAIL FROM:<>", "RCPT TO:<b@x.test>"),
		))
		if _, err := dialT(t, s.Addr(), cleartext()).Send(testCtx(t), m); err != nil {
			t.Fatal(err)
		}
	})
}

func TestMalformedReplies(t *testing.T) {
	cases := map[string][]byte{
		"too short":       []byte("25\r\n"),
		"not digits":      []byte("2x0 ok\r\n"),
		"bad separator":   []byte("250_ok\r\n"),
		"code 1xx":        []byte("150 ok\r\n"),
		"codes disagree":  []byte("250-first\r\n251 second\r\n"),
		"line too long":   append(append([]byte("250 "), bytes.Repeat([]byte("x"), MaxReplyLineLen+10)...), "\r\n"...),
		"too many lines":  bytes.Repeat([]byte("250-x\r\n"), MaxReplyLines+1),
		"binary garbage":  {0, 1, 2, 0xff, '\n'},
		"empty line":      []byte("\r\n"),
		"cut mid-reply":   []byte("250-more to come\r\n"),
		"no line end":     []byte("250 ok"),
		"enhanced only":   []byte("250 2.0.0\r\n"), // valid: kept as a check on the parser
		"space then code": []byte(" 250 ok\r\n"),
	}
	for name, raw := range cases {
		t.Run(name, func(t *testing.T) {
			s := smtptest.NewScripted(t, steps(greet(), []step{
				{Expect: "MAIL FROM:<a@example.com>", Raw: raw, Drop: true},
			}))
			c := dialT(t, s.Addr(), cleartext())
			_, err := c.Send(testCtx(t), testMessage("b@x.test"))
			if name == "enhanced only" {
				// MAIL accepted; the drop then fails RCPT.
				wantCode(t, err, transport.Unavailable, true)
				return
			}
			if name == "cut mid-reply" || name == "no line end" {
				wantCode(t, err, transport.Unavailable, true) // an I/O error: the rest never came
			} else {
				wantCode(t, err, transport.Internal, false)
				if !errors.Is(err, ErrProtocol) {
					t.Errorf("err = %v, want ErrProtocol", err)
				}
			}
			if c.Noop(testCtx(t)) == nil {
				t.Error("the client is usable after a malformed reply")
			}
		})
	}
}

func TestMaybeDelivered(t *testing.T) {
	t.Run("drop after the final dot", func(t *testing.T) {
		s := smtptest.NewScripted(t, steps(greet("PIPELINING"), []step{
			{Expect: "MAIL FROM:<a@example.com>", Reply: "250 ok", Defer: true},
			{Expect: "RCPT TO:<b@x.test>", Reply: "250 ok", Defer: true},
			{Expect: "DATA", Reply: "354 go"},
			{Body: true, Drop: true},
		}))
		_, err := dialT(t, s.Addr(), cleartext()).Send(testCtx(t), testMessage("b@x.test"))
		wantCode(t, err, transport.Unknown, false)
		if !errors.Is(err, transport.ErrMaybeDelivered) {
			t.Errorf("err = %v, want ErrMaybeDelivered", err)
		}
	})
	t.Run("drop after BDAT LAST", func(t *testing.T) {
		s := smtptest.NewScripted(t, steps(greet("CHUNKING"), []step{
			{Expect: "MAIL FROM:<a@example.com>", Reply: "250 ok"},
			{Expect: "RCPT TO:<b@x.test>", Reply: "250 ok"},
			{Expect: "BDAT *", Body: true, Drop: true},
		}))
		_, err := dialT(t, s.Addr(), cleartext()).Send(testCtx(t), testMessage("b@x.test"))
		wantCode(t, err, transport.Unknown, false)
		if !errors.Is(err, transport.ErrMaybeDelivered) {
			t.Errorf("err = %v, want ErrMaybeDelivered", err)
		}
	})
	t.Run("final reply times out", func(t *testing.T) {
		s := smtptest.NewScripted(t, steps(greet(), []step{
			{Expect: "MAIL FROM:<a@example.com>", Reply: "250 ok"},
			{Expect: "RCPT TO:<b@x.test>", Reply: "250 ok"},
			{Expect: "DATA", Reply: "354 go"},
			{Body: true, Hang: true},
		}))
		o := cleartext()
		o.Timeouts.DataTerm = 1 // expires at once
		_, err := dialT(t, s.Addr(), o).Send(testCtx(t), testMessage("b@x.test"))
		if !errors.Is(err, transport.ErrMaybeDelivered) || transport.IsTemporary(err) {
			t.Errorf("err = %v, want a permanent ErrMaybeDelivered", err)
		}
		finish(t, s)
	})
	t.Run("drop before the body is not", func(t *testing.T) {
		s := smtptest.NewScripted(t, steps(greet("PIPELINING"), []step{
			{Expect: "MAIL FROM:<a@example.com>", Defer: true},
			{Expect: "RCPT TO:<b@x.test>", Defer: true},
			{Expect: "DATA", Drop: true},
		}))
		_, err := dialT(t, s.Addr(), cleartext()).Send(testCtx(t), testMessage("b@x.test"))
		wantCode(t, err, transport.Unavailable, true)
		if errors.Is(err, transport.ErrMaybeDelivered) {
			t.Error("marked maybe delivered before any body byte")
		}
	})
	t.Run("421 in a pipelined BDAT flight is not", func(t *testing.T) {
		s := smtptest.NewScripted(t, steps(greet("PIPELINING", "CHUNKING"), []step{
			{Expect: "MAIL FROM:<a@example.com>", Defer: true},
			{Expect: "RCPT TO:<b@x.test>", Defer: true},
			{Expect: "BDAT *", Body: true, Reply: "421 4.3.2 shutting down", Drop: true},
		}))
		_, err := dialT(t, s.Addr(), cleartext()).Send(testCtx(t), testMessage("b@x.test"))
		wantCode(t, err, transport.Unavailable, true)
		if errors.Is(err, transport.ErrMaybeDelivered) {
			t.Error("a 421 is marked maybe delivered")
		}
	})
}

// cancelReader yields n bytes, cancels ctx, and then keeps yielding.
type cancelReader struct {
	n      int
	cancel func()
}

func (r *cancelReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		r.cancel()
	}
	for i := range p {
		p[i] = 'z'
	}
	r.n -= len(p)
	return len(p), nil
}

func (r *cancelReader) Close() error { return nil }

func TestCancelMidBody(t *testing.T) {
	for _, exts := range [][]string{{"PIPELINING"}, {"PIPELINING", "CHUNKING"}} {
		t.Run(strings.Join(exts, "+"), func(t *testing.T) {
			ctx, cancel := context.WithCancel(testCtx(t))
			m := testMessage("b@x.test")
			m.Attachments = []transport.Attachment{{Filename: "endless.bin", Open: func() (io.ReadCloser, error) {
				return &cancelReader{n: 3 << 20, cancel: cancel}, nil
			}}}
			flight := []step{
				{Expect: "MAIL FROM:<a@example.com>", Reply: "250 ok", Defer: true},
				{Expect: "RCPT TO:<b@x.test>", Reply: "250 ok", Defer: true},
			}
			if len(exts) == 1 {
				flight = append(flight, step{Expect: "DATA", Reply: "354 go"}, step{Hang: true})
			} else {
				flight = append(flight, step{Expect: fmt.Sprintf("BDAT %d", ChunkSize), Body: true, Reply: "250 ok"}, step{Hang: true})
			}
			s := smtptest.NewScripted(t, steps(greet(exts...), flight))
			c := dialT(t, s.Addr(), cleartext())
			_, err := c.Send(ctx, m)
			wantCode(t, err, transport.Canceled, false)
			if !errors.Is(err, context.Canceled) || errors.Is(err, transport.ErrMaybeDelivered) {
				t.Errorf("err = %v", err)
			}
			c.Close()
			finish(t, s)
		})
	}
}

func TestSendRendersBeforeSending(t *testing.T) {
	m := testMessage("b@x.test")
	m.Headers = []transport.Field{{Name: "X-Bad", Value: "a\r\nBcc: leak@x.test"}}
	s := smtptest.NewScripted(t, steps(greet("SIZE 100000", "PIPELINING")))
	c := dialT(t, s.Addr(), cleartext())
	_, err := c.Send(testCtx(t), m)
	wantCode(t, err, transport.InvalidArgument, false)
	c.Close()
	finish(t, s)
	if got := s.Commands(0); len(got) != 1 {
		t.Errorf("sent %q for an unrenderable message", got)
	}
}

func TestSendArguments(t *testing.T) {
	s := smtptest.NewScripted(t, steps(greet()))
	c := dialT(t, s.Addr(), cleartext())
	if _, err := c.Send(testCtx(t), nil); transport.CodeOf(err) != transport.InvalidArgument {
		t.Errorf("nil message: %v", err)
	}
	m := testMessage()
	if _, err := c.Send(testCtx(t), m); transport.CodeOf(err) != transport.InvalidArgument {
		t.Errorf("no recipients: %v", err)
	}
	m = testMessage("b@x.test\r\nRCPT TO:<evil@x.test>")
	if _, err := c.Send(testCtx(t), m); transport.CodeOf(err) != transport.InvalidArgument {
		t.Errorf("CRLF in a recipient: %v", err)
	}
}

func TestSend421OnRcpt(t *testing.T) {
	for _, exts := range [][]string{nil, {"PIPELINING"}} {
		t.Run(fmt.Sprint(exts), func(t *testing.T) {
			flight := []step{
				{Expect: "MAIL FROM:<a@example.com>", Reply: "250 ok", Defer: exts != nil},
				{Expect: "RCPT TO:<b@x.test>", Reply: "250 ok", Defer: exts != nil},
				{Expect: "RCPT TO:<c@x.test>", Reply: "421 4.7.0 too many errors, closing", Drop: true},
			}
			s := smtptest.NewScripted(t, steps(greet(exts...), flight))
			o := cleartext()
			c := dialT(t, s.Addr(), o)
			rec, err := c.Send(testCtx(t), testMessage("b@x.test", "c@x.test", "d@x.test"))
			if rec != nil {
				t.Errorf("receipt %+v", rec)
			}
			// The whole message failed with the 421, for every recipient alike.
			wantCode(t, err, transport.Unavailable, true)
			if r := replyOf(err); r == nil || r.Code != 421 || errors.Is(err, transport.ErrMaybeDelivered) {
				t.Errorf("err = %v", err)
			}
			finish(t, s)
		})
	}
}

func TestLowLevelBdat(t *testing.T) {
	body := bytes.Repeat([]byte("chunk me\r\n"), (ChunkSize+ChunkSize/2)/10)
	s := smtptest.NewScripted(t, steps(greet("CHUNKING", "PIPELINING"), []step{
		{Expect: "MAIL FROM:<a@x.test>", Reply: "250 ok"},
		{Expect: "RCPT TO:<b@x.test>", Reply: "250 ok"},
		{Expect: fmt.Sprintf("BDAT %d", ChunkSize), Body: true, Reply: "250 2.0.0 chunk ok", Defer: true},
		{Expect: fmt.Sprintf("BDAT %d LAST", len(body)-ChunkSize), Body: true, Reply: "250 2.0.0 queued as LL"},
	}))
	ctx := testCtx(t)
	c := dialT(t, s.Addr(), cleartext())
	if err := c.Mail(ctx, "a@x.test", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt(ctx, "b@x.test", nil); err != nil {
		t.Fatal(err)
	}
	w, err := c.Bdat(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for p := body; len(p) > 0; p = p[min(len(p), 70000):] {
		if _, err := w.Write(p[:min(len(p), 70000)]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil || queueID(w.Reply()) != "LL" {
		t.Fatalf("Close: %v, reply %v", err, w.Reply())
	}
	if err := w.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := w.Write([]byte("x")); err == nil {
		t.Error("Write after Close")
	}
	finish(t, s)
	if b := s.Bodies(); len(b) != 1 || !bytes.Equal(b[0], body) {
		t.Error("body differs")
	}
	t.Run("without CHUNKING", func(t *testing.T) {
		s := smtptest.NewScripted(t, steps(greet()))
		if _, err := dialT(t, s.Addr(), cleartext()).Bdat(testCtx(t)); transport.CodeOf(err) != transport.Unimplemented {
			t.Errorf("err = %v", err)
		}
	})
}

func TestNewClientKeepsTLSPolicy(t *testing.T) {
	s := smtptest.NewScripted(t, steps(greet("STARTTLS")))
	conn, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewClient(testCtx(t), conn, s.Addr(), &Options{LocalName: "client.test"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello(testCtx(t), ""); err != nil {
		t.Fatal(err)
	}
	// Required TLS was never started: no MAIL, no AUTH, no Send.
	if err := c.Mail(testCtx(t), "a@x.test", nil); transport.CodeOf(err) != transport.FailedPrecondition {
		t.Errorf("Mail: %v", err)
	}
	if err := c.Auth(testCtx(t), PlainAuth("", "u", "p")); transport.CodeOf(err) != transport.FailedPrecondition {
		t.Errorf("Auth: %v", err)
	}
	if _, err := c.Send(testCtx(t), testMessage("b@x.test")); transport.CodeOf(err) != transport.FailedPrecondition {
		t.Errorf("Send: %v", err)
	}
	c.Close()
	s.Wait()
}

func TestSplitThenFailure(t *testing.T) {
	s := smtptest.NewScripted(t, steps(greet("PIPELINING"), []step{
		{Expect: "MAIL FROM:<a@example.com>", Reply: "250 ok", Defer: true},
		{Expect: "RCPT TO:<r1@x.test>", Reply: "250 ok", Defer: true},
		{Expect: "RCPT TO:<r2@x.test>", Reply: "452 4.5.3 too many recipients", Defer: true},
		{Expect: "RCPT TO:<r3@x.test>", Reply: "452 4.5.3 too many recipients", Defer: true},
		{Expect: "DATA", Reply: "354 go"},
		{Body: true, Reply: "250 ok"},
		{Expect: "MAIL FROM:<a@example.com>", Reply: "250 ok", Defer: true},
		{Expect: "RCPT TO:<r2@x.test>", Reply: "250 ok", Defer: true},
		{Expect: "RCPT TO:<r3@x.test>", Reply: "452 4.5.3 too many recipients", Defer: true},
		{Expect: "DATA", Reply: "354 go"},
		{Body: true, Drop: true},
	}))
	rec, err := dialT(t, s.Addr(), cleartext()).Send(testCtx(t), testMessage("r1@x.test", "r2@x.test", "r3@x.test"))
	var pe *transport.PartialError
	if !errors.As(err, &pe) || rec == nil || !slices.Equal(rec.Accepted, []string{"r1@x.test"}) || len(pe.Rejected) != 2 {
		t.Fatalf("%+v, %v", rec, err)
	}
	// r2 may have got it; r3 was never tried.
	if r2 := pe.Rejected[0]; r2.Recipient != "r2@x.test" || !errors.Is(r2.Err, transport.ErrMaybeDelivered) {
		t.Errorf("r2: %v", r2)
	}
	if r3 := pe.Rejected[1]; r3.Recipient != "r3@x.test" || errors.Is(r3.Err, transport.ErrMaybeDelivered) || !transport.IsTemporary(r3.Err) {
		t.Errorf("r3: %v", r3)
	}
}

// An envelope address must not close its <path> and smuggle ESMTP parameters: a
// transport.Message built by hand does not get mailer's validation.
func TestSendRefusesPathInjection(t *testing.T) {
	s := smtptest.NewScripted(t, steps(greet("SIZE 100000", "PIPELINING", "DSN")))
	c := dialT(t, s.Addr(), cleartext())
	for _, tc := range []struct{ name, from, to string }{
		{"sender parameter", "a@x.test> AUTH=<boss@x.test", "b@x.test"},
		{"recipient parameter", "a@x.test", "b@x.test> NOTIFY=NEVER"},
		{"recipient space", "a@x.test", "b c@x.test"},
		{"recipient NUL", "a@x.test", "b\x00@x.test"},
	} {
		m := testMessage(tc.to)
		m.Envelope.From = tc.from
		_, err := c.Send(testCtx(t), m)
		wantCode(t, err, transport.InvalidArgument, false)
	}
	if _, err := c.Verify(testCtx(t), "user\x00@x.test"); transport.CodeOf(err) != transport.InvalidArgument {
		t.Errorf("VRFY with NUL: %v, want InvalidArgument", err)
	}
	c.Close()
	finish(t, s)
	if got := s.Commands(0); len(got) != 1 {
		t.Errorf("sent %q; every message should have been refused before a command", got)
	}
}
