package smtp_test

// The speed comparison of issue 4: smtp.Transport against net/smtp, 8 concurrent senders,
// over a sink that delays each reply by 1 ms to model a remote server.
//
// The sink is a lean one written here rather than smtptest.Server: go-smtp's server reads
// a DATA body one byte at a time, and on a shared 2-core machine that server-side cost
// would dominate the 1 MiB cases and hide the difference between the clients. This sink
// finds the end of a DATA body with bytes.Index over its read buffer, discards BDAT chunks
// in bulk, answers a pipelined group of commands with one write, and allocates nothing per
// message, so it is never the bottleneck and does not count against the engine's allocations.
//
//	go test -run '^$' -bench Compare -benchmem -count 5 ./smtp/

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/mail"
	netsmtp "net/smtp"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/postiemail/postie/smtp"
	"github.com/postiemail/postie/smtp/mime"
	"github.com/postiemail/postie/transport"
)

const (
	benchRTT     = time.Millisecond
	benchSenders = 8
)

// ---- the sink ----

type benchSink struct {
	ln       net.Listener
	rtt      time.Duration
	chunking bool
	messages atomic.Int64

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

func newBenchSink(tb testing.TB, rtt time.Duration, chunking bool) *benchSink {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	s := &benchSink{ln: ln, rtt: rtt, chunking: chunking, conns: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns[c] = struct{}{}
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.session(c)
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
				c.Close()
			}()
		}
	}()
	tb.Cleanup(s.close)
	return s
}

func (s *benchSink) addr() string { return s.ln.Addr().String() }

func (s *benchSink) close() {
	s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// replies buffers the replies to one group of pipelined commands and sends them as one
// write, rtt after they were made, from a goroutine, so groups are not serialized by the
// delay: the sink behaves like a fast server rtt away.
type replies struct {
	c    net.Conn
	rtt  time.Duration
	buf  []byte
	q    chan delayedWrite
	free chan []byte
	done chan struct{}
}

type delayedWrite struct {
	at time.Time
	p  []byte
}

func newReplies(c net.Conn, rtt time.Duration) *replies {
	r := &replies{c: c, rtt: rtt, buf: make([]byte, 0, 4096), q: make(chan delayedWrite, 64), free: make(chan []byte, 64), done: make(chan struct{})}
	if rtt > 0 {
		go r.deliver()
	} else {
		close(r.done)
	}
	return r
}

func (r *replies) add(s string) { r.buf = append(r.buf, s...) }

func (r *replies) flush() {
	if len(r.buf) == 0 {
		return
	}
	if r.rtt == 0 {
		r.c.Write(r.buf)
		r.buf = r.buf[:0]
		return
	}
	var p []byte
	select {
	case p = <-r.free:
	default:
		p = make([]byte, 0, 4096)
	}
	p = append(p[:0], r.buf...)
	r.buf = r.buf[:0]
	r.q <- delayedWrite{time.Now().Add(r.rtt), p}
}

func (r *replies) stop() {
	if r.rtt > 0 {
		close(r.q)
		<-r.done
	}
}

func (r *replies) deliver() {
	defer close(r.done)
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for w := range r.q {
		if d := time.Until(w.at); d > 0 {
			t.Reset(d)
			<-t.C
		}
		r.c.Write(w.p)
		select {
		case r.free <- w.p:
		default:
		}
	}
}

var crlfDotCRLF = []byte("\r\n.\r\n")

func (s *benchSink) session(c net.Conn) {
	rd := bufio.NewReaderSize(c, 64<<10)
	out := newReplies(c, s.rtt)
	defer out.stop()
	out.add("220 sink ESMTP\r\n")
	out.flush()
	for {
		line, err := rd.ReadSlice('\n')
		if err != nil {
			return
		}
		var verb [4]byte
		copy(verb[:], line)
		for i, ch := range verb {
			if 'a' <= ch && ch <= 'z' {
				verb[i] = ch - 'a' + 'A'
			}
		}
		switch string(verb[:]) { // no allocation: the compiler compares in place
		case "EHLO":
			out.add("250-sink\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n250-SIZE 268435456\r\n")
			if s.chunking {
				out.add("250-CHUNKING\r\n")
			}
			out.add("250 SMTPUTF8\r\n")
		case "HELO":
			out.add("250 sink\r\n")
		case "MAIL":
			out.add("250 2.1.0 OK\r\n")
		case "RCPT":
			out.add("250 2.1.5 OK\r\n")
		case "DATA":
			out.add("354 go ahead\r\n")
			out.flush()
			if err := discardDotBody(rd); err != nil {
				return
			}
			s.messages.Add(1)
			out.add("250 2.0.0 OK queued as SINK\r\n")
		case "BDAT":
			n, last, ok := parseBdat(line)
			if !ok {
				out.add("501 5.5.4 BDAT size [LAST]\r\n")
				break
			}
			if _, err := rd.Discard(n); err != nil {
				return
			}
			if last {
				s.messages.Add(1)
				out.add("250 2.0.0 OK queued as SINK\r\n")
			} else {
				out.add("250 2.0.0 chunk OK\r\n")
			}
		case "RSET", "NOOP":
			out.add("250 2.0.0 OK\r\n")
		case "QUIT":
			out.add("221 2.0.0 bye\r\n")
			out.flush()
			return
		default:
			out.add("502 5.5.1 unknown command\r\n")
		}
		if rd.Buffered() == 0 { // the end of a pipelined group
			out.flush()
		}
	}
}

// parseBdat parses "BDAT <size>[ LAST]\r\n" without allocating.
func parseBdat(line []byte) (n int, last, ok bool) {
	rest := bytes.TrimRight(line[4:], "\r\n")
	rest = bytes.TrimLeft(rest, " ")
	i := 0
	for i < len(rest) && '0' <= rest[i] && rest[i] <= '9' {
		n = n*10 + int(rest[i]-'0')
		i++
	}
	if i == 0 || i > 10 {
		return 0, false, false
	}
	tail := bytes.TrimSpace(rest[i:])
	switch {
	case len(tail) == 0:
		return n, false, true
	case bytes.EqualFold(tail, []byte("LAST")):
		return n, true, true
	}
	return 0, false, false
}

// discardDotBody reads a DATA body up to and including the terminating "\r\n.\r\n",
// scanning the read buffer in bulk.
func discardDotBody(rd *bufio.Reader) error {
	if b, err := rd.Peek(3); err != nil {
		return err
	} else if string(b) == ".\r\n" { // an empty body
		_, err = rd.Discard(3)
		return err
	}
	for {
		if _, err := rd.Peek(1); err != nil {
			return err
		}
		buf, _ := rd.Peek(rd.Buffered())
		if i := bytes.Index(buf, crlfDotCRLF); i >= 0 {
			_, err := rd.Discard(i + len(crlfDotCRLF))
			return err
		}
		if len(buf) <= len(crlfDotCRLF) {
			if _, err := rd.Peek(len(buf) + 1); err != nil { // wait for more
				return err
			}
			continue
		}
		// Keep a tail that may hold the start of the terminator.
		rd.Discard(len(buf) - (len(crlfDotCRLF) - 1))
	}
}

// ---- the messages ----

func smallMessage() *transport.Message {
	return &transport.Message{
		Envelope:  transport.Envelope{From: "bench@postie.example", To: []string{"rcpt@example.org"}},
		From:      mail.Address{Name: "Bench", Address: "bench@postie.example"},
		To:        []mail.Address{{Name: "Recipient", Address: "rcpt@example.org"}},
		Subject:   "Your order has shipped",
		Date:      time.Date(2024, 3, 9, 14, 30, 5, 0, time.UTC),
		MessageID: "bench-small@postie.example",
		Text:      "Hi,\n\nyour order #1042 has shipped and will arrive on Tuesday.\n\nThanks for shopping with us.\n",
	}
}

func bigMessage() *transport.Message {
	m := smallMessage()
	m.MessageID = "bench-1mib@postie.example"
	data := make([]byte, 1<<20)
	for i := range data {
		data[i] = byte(i*7 + i>>11)
	}
	m.Attachments = []transport.Attachment{{Filename: "report.bin", ContentType: "application/octet-stream", Data: data}}
	return m
}

// rendered is the message as bytes, rendered once, for net/smtp: it gets its message for
// free, so the comparison is of the protocol work alone, which flatters net/smtp.
func rendered(tb testing.TB, m *transport.Message) []byte {
	var b bytes.Buffer
	if err := mime.Write(&b, m, nil); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

// ---- the senders ----

// parallel runs b.N sends spread over benchSenders goroutines, each with its own state
// from setup (made before the timer starts, so connections are warm), and reports msgs/s.
func parallel(b *testing.B, size int64, setup func() (send func() error, done func())) {
	sends := make([]func() error, benchSenders)
	dones := make([]func(), benchSenders)
	for i := range sends {
		sends[i], dones[i] = setup()
	}
	defer func() {
		for _, d := range dones {
			d()
		}
	}()
	var wg sync.WaitGroup
	errs := make(chan error, benchSenders*3)
	// Warm up, all senders at once so a pool opens all its connections: dial, EHLO, and
	// the first messages.
	for range 2 {
		for _, send := range sends {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := send(); err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
	}
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}
	var next atomic.Int64
	b.SetBytes(size)
	b.ReportAllocs()
	b.ResetTimer()
	for _, send := range sends {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				if err := send(); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

func benchPostie(b *testing.B, m *transport.Message, chunking bool) {
	sink := newBenchSink(b, benchRTT, chunking)
	tr, err := smtp.New(sink.addr(), &smtp.Options{TLS: smtp.TLSNone, MaxConns: benchSenders, MaxMessagesPerConn: 1 << 30})
	if err != nil {
		b.Fatal(err)
	}
	defer tr.Close()
	size := int64(len(rendered(b, m)))
	ctx := context.Background()
	parallel(b, size, func() (func() error, func()) {
		return func() error {
			_, err := tr.Send(ctx, m)
			return err
		}, func() {}
	})
}

// benchNetSMTP sends with net/smtp. With renderEach the message is rendered (by smtp/mime,
// the fastest renderer at hand) for every send, as an application using net/smtp must;
// without, net/smtp gets the bytes for free and only its protocol work is measured.
func benchNetSMTP(b *testing.B, m *transport.Message, renderEach bool) {
	sink := newBenchSink(b, benchRTT, false)
	raw := rendered(b, m)
	parallel(b, int64(len(raw)), func() (func() error, func()) {
		var buf bytes.Buffer
		c, err := netsmtp.Dial(sink.addr())
		if err != nil {
			b.Fatal(err)
		}
		if err := c.Hello("bench.postie.example"); err != nil {
			b.Fatal(err)
		}
		return func() error {
				if err := c.Mail(m.Envelope.From); err != nil {
					return err
				}
				for _, r := range m.Envelope.To {
					if err := c.Rcpt(r); err != nil {
						return err
					}
				}
				w, err := c.Data()
				if err != nil {
					return err
				}
				body := raw
				if renderEach {
					buf.Reset()
					if err := mime.Write(&buf, m, nil); err != nil {
						return err
					}
					body = buf.Bytes()
				}
				if _, err := w.Write(body); err != nil {
					return err
				}
				return w.Close()
			}, func() {
				c.Quit()
			}
	})
}

// BenchmarkCompare is the comparison of issue 4. Sub-benchmarks:
//
//	small/postie     a 300-byte message via smtp.Transport (the sink offers CHUNKING: BDAT LAST)
//	small/postie-DATA the same without CHUNKING (pipelined MAIL, RCPT, DATA; then the body)
//	small/net-smtp   net/smtp, one connection per sender, given the rendered bytes
//	small/net-smtp-render   the same, rendering the message for every send
//	1MiB/postie-DATA, 1MiB/postie-BDAT, 1MiB/net-smtp, 1MiB/net-smtp-render   a 1 MiB attachment
func BenchmarkCompare(b *testing.B) {
	if runtime.GOMAXPROCS(0) < 2 {
		b.Log("GOMAXPROCS < 2: client and sink share one CPU")
	}
	small, big := smallMessage(), bigMessage()
	b.Run("small/postie", func(b *testing.B) { benchPostie(b, small, true) })
	b.Run("small/postie-DATA", func(b *testing.B) { benchPostie(b, small, false) })
	b.Run("small/net-smtp", func(b *testing.B) { benchNetSMTP(b, small, false) })
	b.Run("small/net-smtp-render", func(b *testing.B) { benchNetSMTP(b, small, true) })
	b.Run("1MiB/postie-DATA", func(b *testing.B) { benchPostie(b, big, false) })
	b.Run("1MiB/postie-BDAT", func(b *testing.B) { benchPostie(b, big, true) })
	b.Run("1MiB/net-smtp", func(b *testing.B) { benchNetSMTP(b, big, false) })
	b.Run("1MiB/net-smtp-render", func(b *testing.B) { benchNetSMTP(b, big, true) })
}

// TestBenchSink checks the sink the comparison relies on: DATA bodies with dot lines and
// terminator-like sequences across read boundaries, BDAT chunks, pipelined groups.
func TestBenchSink(t *testing.T) {
	sink := newBenchSink(t, 0, true)
	c, err := netsmtp.Dial(sink.addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("test"); err != nil {
		t.Fatal(err)
	}
	bodies := []string{"", ".", "x\r\n.\r\n", "\r\n.\r\n\r\n", fmt.Sprintf("%070000d\r\n.\r\n.\r\n..\r\n", 0)}
	for _, body := range bodies {
		if err := c.Mail("a@example.com"); err != nil {
			t.Fatal(err)
		}
		if err := c.Rcpt("b@example.org"); err != nil {
			t.Fatal(err)
		}
		w, err := c.Data()
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, body)
		if err := w.Close(); err != nil {
			t.Fatalf("body %.20q: %v", body, err)
		}
	}
	// The engine over BDAT, and its pipelined flights, against the same sink.
	tr, err := smtp.New(sink.addr(), &smtp.Options{TLS: smtp.TLSNone})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	for _, m := range []*transport.Message{smallMessage(), bigMessage()} {
		if _, err := tr.Send(t.Context(), m); err != nil {
			t.Fatal(err)
		}
	}
	if n := sink.messages.Load(); n != int64(len(bodies)+2) {
		t.Fatalf("sink counted %d messages, want %d", n, len(bodies)+2)
	}
}
