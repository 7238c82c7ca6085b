package smtp

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/postiemail/postie/smtp/smtptest"
	"github.com/postiemail/postie/transport"
)

// TestSendBDATKnownSize covers the chunk layout when SIZE gave the body's exact size: the
// body in chunks without LAST and then BDAT 0 LAST; one pipelined flight for a message up
// to maxFlightChunk, a first chunk of maxFlightChunk ending the flight above it, and one
// chunk for any size without pipelining.
func TestSendBDATKnownSize(t *testing.T) {
	small := testMessage("b@x.test")
	big := bigMessage(maxFlightChunk + 1<<20)
	for _, c := range []struct {
		name string
		m    *transport.Message
		pipe bool
	}{{"small, pipelined", small, true}, {"big, pipelined", big, true}, {"big, not pipelined", big, false}} {
		t.Run(c.name, func(t *testing.T) {
			body := rendered(t, c.m, nil)
			n := len(body)
			mail := fmt.Sprintf("MAIL FROM:<a@example.com> SIZE=%d", n)
			last := step{Expect: "BDAT 0 LAST", Body: true, Reply: "250 2.0.0 queued as K1"}
			var script []step
			switch {
			case !c.pipe:
				script = []step{
					{Expect: mail, Reply: "250 ok"},
					{Expect: "RCPT TO:<b@x.test>", Reply: "250 ok"},
					{Expect: fmt.Sprintf("BDAT %d", n), Body: true, Reply: "250 2.0.0 chunk ok"},
					last,
				}
			case n <= maxFlightChunk:
				script = []step{
					{Expect: mail, Reply: "250 ok", Defer: true},
					{Expect: "RCPT TO:<b@x.test>", Reply: "250 ok", Defer: true},
					{Expect: fmt.Sprintf("BDAT %d", n), Body: true, Reply: "250 2.0.0 chunk ok", Defer: true},
					last,
				}
			default:
				script = []step{
					{Expect: mail, Reply: "250 ok", Defer: true},
					{Expect: "RCPT TO:<b@x.test>", Reply: "250 ok", Defer: true},
					// The first chunk completes the flight; its replies are read before going on.
					{Expect: fmt.Sprintf("BDAT %d", maxFlightChunk), Body: true, Reply: "250 2.0.0 chunk ok"},
					{Expect: fmt.Sprintf("BDAT %d", n-maxFlightChunk), Body: true, Reply: "250 2.0.0 chunk ok", Defer: true},
					last,
				}
			}
			exts := []string{"CHUNKING", "SIZE 100000000"}
			if c.pipe {
				exts = append(exts, "PIPELINING")
			}
			s := smtptest.NewScripted(t, steps(greet(exts...), script))
			rec, err := send(t, dialT(t, s.Addr(), cleartext()), c.m)
			if err != nil || rec.ID != "K1" {
				t.Fatalf("%+v, %v", rec, err)
			}
			finish(t, s)
			if b := s.Bodies(); len(b) != 1 || !bytes.Equal(b[0], body) {
				t.Errorf("the server reassembled a different body")
			}
		})
	}
}

// TestSendBDATKnownSizeRefused: a transaction refused in the flight stops the body after
// the first chunk; a refused chunk's later replies are all read, so the session stays in
// step (RSET, then the next message).
func TestSendBDATKnownSizeRefused(t *testing.T) {
	big := bigMessage(maxFlightChunk + 1<<20)
	n := len(rendered(t, big, nil))
	next := testMessage("c@x.test")
	nn := len(rendered(t, next, nil))
	nextTxn := []step{
		{Expect: "RSET", Reply: "250 ok", Defer: true},
		{Expect: fmt.Sprintf("MAIL FROM:<a@example.com> SIZE=%d", nn), Reply: "250 ok", Defer: true},
		{Expect: "RCPT TO:<c@x.test>", Reply: "250 ok", Defer: true},
		{Expect: fmt.Sprintf("BDAT %d", nn), Body: true, Reply: "250 ok", Defer: true},
		{Expect: "BDAT 0 LAST", Body: true, Reply: "250 2.0.0 queued as N1"},
	}
	t.Run("recipient refused in the flight", func(t *testing.T) {
		s := smtptest.NewScripted(t, steps(greet("CHUNKING", "SIZE", "PIPELINING"), []step{
			{Expect: fmt.Sprintf("MAIL FROM:<a@example.com> SIZE=%d", n), Reply: "250 ok", Defer: true},
			{Expect: "RCPT TO:<b@x.test>", Reply: "550 5.1.1 no such user", Defer: true},
			{Expect: fmt.Sprintf("BDAT %d", maxFlightChunk), Body: true, Reply: "554 5.5.1 no valid recipients"},
		}, nextTxn))
		c := dialT(t, s.Addr(), cleartext())
		_, err := send(t, c, big)
		wantCode(t, err, transport.NotFound, false)
		if rec, err := send(t, c, next); err != nil || rec.ID != "N1" {
			t.Fatalf("next message: %+v, %v", rec, err)
		}
		finish(t, s)
	})
	t.Run("the whole body refused in the flight", func(t *testing.T) {
		s := smtptest.NewScripted(t, steps(greet("CHUNKING", "SIZE", "PIPELINING"), []step{
			{Expect: fmt.Sprintf("MAIL FROM:<a@example.com> SIZE=%d", nn), Reply: "250 ok", Defer: true},
			{Expect: "RCPT TO:<c@x.test>", Reply: "250 ok", Defer: true},
			{Expect: fmt.Sprintf("BDAT %d", nn), Body: true, Reply: "552 5.3.4 too big for this mailbox", Defer: true},
			{Expect: "BDAT 0 LAST", Body: true, Reply: "503 5.5.1 no transaction"},
		}, nextTxn))
		c := dialT(t, s.Addr(), cleartext())
		_, err := send(t, c, next)
		wantCode(t, err, transport.ResourceExhausted, false)
		if r := replyOf(err); r == nil || r.Code != 552 || errors.Is(err, transport.ErrMaybeDelivered) {
			t.Errorf("err = %v, want the chunk's 552", err)
		}
		if rec, err := send(t, c, next); err != nil || rec.ID != "N1" {
			t.Fatalf("next message: %+v, %v", rec, err)
		}
		finish(t, s)
	})
}

// flaky is an attachment whose Open returns first, then second (or fails when second is
// nil): content that changes between the render Size counts and the one Write sends.
func flaky(first, second []byte) func() (io.ReadCloser, error) {
	calls := 0
	return func() (io.ReadCloser, error) {
		calls++
		if calls > 1 {
			if second == nil {
				return nil, errors.New("file vanished")
			}
			return io.NopCloser(bytes.NewReader(second)), nil
		}
		return io.NopCloser(bytes.NewReader(first)), nil
	}
}

type failingReader struct{ n int }

func (r *failingReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		return 0, errors.New("disk read error")
	}
	k := min(len(p), r.n)
	clear(p[:k])
	r.n -= k
	return k, nil
}

// TestRenderFailureMidTransaction makes the renderer fail after the transaction began,
// on a real server (which offers SIZE, PIPELINING and CHUNKING): an attachment that
// cannot be opened the second time, content that grew or shrank since Size counted it,
// and a read error mid-chunk. Nothing may be delivered, the error must not claim a
// possible delivery, and the pool's next send must go through in step.
func TestRenderFailureMidTransaction(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789"), 300_000) // 3 MB: base64 spans many writes
	cases := []struct {
		name string
		att  transport.Attachment
		code transport.Code
	}{
		{"open fails", transport.Attachment{Filename: "a.bin", Open: flaky(data, nil)}, transport.InvalidArgument},
		{"content grew", transport.Attachment{Filename: "a.bin", Open: flaky(data, append(data, data...))}, transport.InvalidArgument},
		{"content shrank", transport.Attachment{Filename: "a.bin", Open: flaky(data, data[:1000])}, transport.InvalidArgument},
		{"read error mid-chunk", transport.Attachment{Filename: "a.bin", Size: 3 << 20, Open: func() (io.ReadCloser, error) {
			return io.NopCloser(&failingReader{n: 2 << 20}), nil
		}}, transport.InvalidArgument},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := smtptest.Start(t, &smtptest.ServerOptions{TLS: smtptest.NoTLS})
			tp := newTransport(t, srv.Addr(), cleartext())
			bad := testMessage("b@x.test")
			bad.Attachments = []transport.Attachment{c.att}
			_, err := tp.Send(testCtx(t), bad)
			wantCode(t, err, c.code, false)
			if errors.Is(err, transport.ErrMaybeDelivered) {
				t.Errorf("err = %v: marked maybe delivered, yet the body was never complete", err)
			}
			if _, err := tp.Send(testCtx(t), testMessage("c@x.test")); err != nil {
				t.Fatalf("the next send: %v", err)
			}
			msgs := srv.Messages()
			if len(msgs) != 1 || strings.Join(msgs[0].To, ",") != "c@x.test" {
				t.Errorf("server got %d messages, want only the next one", len(msgs))
			}
		})
	}
}

// TestRenderFailureInFlight: with PIPELINING and CHUNKING but no SIZE, an attachment that
// cannot be opened fails the render while the flight's MAIL and RCPT still sit in the
// buffer. They must never reach the server; the connection is given up, and the pool's
// next send runs on a new one.
func TestRenderFailureInFlight(t *testing.T) {
	bad := testMessage("b@x.test")
	bad.Attachments = []transport.Attachment{{Filename: "gone.pdf", Open: func() (io.ReadCloser, error) {
		return nil, errors.New("file vanished")
	}}}
	good := testMessage("c@x.test")
	s := smtptest.NewScripted(t, greet("PIPELINING", "CHUNKING"), steps(greet("PIPELINING", "CHUNKING"), []step{
		{Expect: "MAIL FROM:<a@example.com>", Reply: "250 ok", Defer: true},
		{Expect: "RCPT TO:<c@x.test>", Reply: "250 ok", Defer: true},
		{Expect: fmt.Sprintf("BDAT %d LAST", len(rendered(t, good, nil))), Body: true, Reply: "250 2.0.0 queued as G1"},
	}))
	tp := newTransport(t, s.Addr(), cleartext())
	_, err := tp.Send(testCtx(t), bad)
	wantCode(t, err, transport.InvalidArgument, false)
	if rec, err := tp.Send(testCtx(t), good); err != nil || rec.ID != "G1" {
		t.Fatalf("next send: %+v, %v", rec, err)
	}
	tp.Close()
	s.Wait()
	if got := s.Commands(0); len(got) != 1 {
		t.Errorf("the failed render's connection carried %q, want only EHLO", got)
	}
}

// wireConn is a net.Conn that records what is written and answers reads from replies.
type wireConn struct {
	net.Conn // nil: only the methods below are used
	wrote    bytes.Buffer
	replies  *strings.Reader
}

func (w *wireConn) Write(p []byte) (int, error)      { return w.wrote.Write(p) }
func (w *wireConn) Read(p []byte) (int, error)       { return w.replies.Read(p) }
func (w *wireConn) SetDeadline(time.Time) error      { return nil }
func (w *wireConn) SetReadDeadline(time.Time) error  { return nil }
func (w *wireConn) SetWriteDeadline(time.Time) error { return nil }
func (w *wireConn) Close() error                     { return nil }

// TestBdatStreamLastOnlyWhenComplete drives the stream directly: a render that writes
// more or fewer bytes than counted must never send LAST; one that matches sends its
// chunk, then BDAT 0 LAST, and reads both replies.
func TestBdatStreamLastOnlyWhenComplete(t *testing.T) {
	cfg, err := newConfig("127.0.0.1:25", cleartext())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		writes []string
		ok     bool
	}{
		{"exact", []string{"0123", "456789"}, true},
		{"exact, then more", []string{"0123456789", "x"}, false},
		{"more in one write", []string{"0123", "456789x"}, false},
		{"short", []string{"012345678"}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			conn := &wireConn{replies: strings.NewReader("250 2.0.0 chunk ok\r\n250 2.0.0 queued as W1\r\n")}
			cl := newClient(cfg, conn, nil) // no PIPELINING: each chunk waits for its reply
			cl.begin(testCtx(t))
			defer cl.end()
			s := &cl.bs
			s.reset(cl, 10, false)
			var werr error
			for _, w := range c.writes {
				if _, werr = s.Write([]byte(w)); werr != nil {
					break
				}
			}
			if werr == nil {
				werr = s.close()
			}
			cl.bw.Flush()
			got := conn.wrote.String()
			if c.ok {
				if werr != nil || got != "BDAT 10\r\n0123456789BDAT 0 LAST\r\n" || cl.lastReply == nil || cl.lastReply.Code != 250 {
					t.Fatalf("err %v, wire %q, reply %v", werr, got, cl.lastReply)
				}
				return
			}
			if transport.CodeOf(werr) != transport.InvalidArgument {
				t.Errorf("err = %v, want InvalidArgument", werr)
			}
			if strings.Contains(got, "LAST") {
				t.Errorf("LAST was sent for a body that did not match its size: %q", got)
			}
		})
	}
}

// TestRenderFailureAfterPipelinedChunks: without SIZE the body goes in buffered chunks
// of ChunkSize, pipelined after the first. A read error after the second chunk leaves its
// reply unread: the connection must be given up, not reused with an RSET that would read
// that reply as its own.
func TestRenderFailureAfterPipelinedChunks(t *testing.T) {
	bad := testMessage("b@x.test")
	bad.Attachments = []transport.Attachment{{Filename: "a.bin", Open: func() (io.ReadCloser, error) {
		// About 3.4 MiB of base64: whatever the renderer still holds in its buffer (up to
		// 1 MiB), more than two chunks have reached the writer when the read fails.
		return io.NopCloser(&failingReader{n: 2_600_000}), nil
	}}}
	good := testMessage("c@x.test")
	s := smtptest.NewScripted(t,
		steps(greet("PIPELINING", "CHUNKING"), []step{
			{Expect: "MAIL FROM:<a@example.com>", Reply: "250 ok", Defer: true},
			{Expect: "RCPT TO:<b@x.test>", Reply: "250 ok", Defer: true},
			{Expect: fmt.Sprintf("BDAT %d", ChunkSize), Body: true, Reply: "250 chunk ok"},
			{Expect: fmt.Sprintf("BDAT %d", ChunkSize), Body: true, Reply: "250 chunk ok", Defer: true},
			{Hang: true}, // a third chunk, if one came, and then the client's close
		}),
		steps(greet("PIPELINING", "CHUNKING"), []step{
			{Expect: "MAIL FROM:<a@example.com>", Reply: "250 ok", Defer: true},
			{Expect: "RCPT TO:<c@x.test>", Reply: "250 ok", Defer: true},
			{Expect: fmt.Sprintf("BDAT %d LAST", len(rendered(t, good, nil))), Body: true, Reply: "250 2.0.0 queued as G2"},
		}))
	tp := newTransport(t, s.Addr(), cleartext())
	_, err := tp.Send(testCtx(t), bad)
	wantCode(t, err, transport.InvalidArgument, false)
	if rec, err := tp.Send(testCtx(t), good); err != nil || rec.ID != "G2" {
		t.Fatalf("next send: %+v, %v", rec, err)
	}
	tp.Close()
	s.Wait()
}
