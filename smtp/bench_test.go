package smtp

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/postiemail/postie/transport"
)

// sink is a minimal, allocation-free SMTP server for benchmarks: it accepts everything,
// answers pipelined commands in one write, and delays each write of replies by delay to
// model a remote server's round trip.
type sink struct {
	ln    net.Listener
	exts  string
	delay time.Duration
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns []net.Conn
}

func newSink(tb testing.TB, delay time.Duration, exts ...string) *sink {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	s := &sink{ln: ln, delay: delay, exts: ehloReply(exts...)}
	s.wg.Add(1)
	go s.accept()
	tb.Cleanup(s.close)
	return s
}

func (s *sink) close() {
	s.ln.Close()
	s.mu.Lock()
	for _, c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *sink) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns = append(s.conns, c)
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer c.Close()
			s.serve(c)
		}()
	}
}

var (
	sinkOK   = []byte("250 2.0.0 ok\r\n")
	sinkData = []byte("354 go ahead\r\n")
	sinkDone = []byte("250 2.0.0 Ok: queued as SINK\r\n")
	sinkBye  = []byte("221 2.0.0 bye\r\n")
)

func (s *sink) serve(c net.Conn) {
	r := bufio.NewReaderSize(c, 64<<10)
	w := bufio.NewWriterSize(c, 4<<10)
	flush := func() bool {
		if r.Buffered() > 0 {
			return true // more pipelined commands: answer them together
		}
		if s.delay > 0 && w.Buffered() > 0 {
			time.Sleep(s.delay)
		}
		return w.Flush() == nil
	}
	w.WriteString("220 sink.test ESMTP\r\n")
	flush()
	for {
		line, err := r.ReadSlice('\n')
		if err != nil {
			return
		}
		switch {
		case bytes.HasPrefix(line, []byte("EHLO")):
			for _, l := range bytes.Split([]byte(s.exts), []byte("\n")) {
				w.Write(l)
				w.WriteString("\r\n")
			}
		case bytes.HasPrefix(line, []byte("DATA")):
			w.Write(sinkData)
			if !flush() {
				return
			}
			for {
				l, err := r.ReadSlice('\n')
				if err != nil && err != bufio.ErrBufferFull {
					return
				}
				if len(l) == 3 && l[0] == '.' {
					break
				}
			}
			w.Write(sinkDone)
		case bytes.HasPrefix(line, []byte("BDAT")):
			n := 0
			for _, ch := range line[5:] {
				if ch < '0' || ch > '9' {
					break
				}
				n = n*10 + int(ch-'0')
			}
			if _, err := r.Discard(n); err != nil {
				return
			}
			if bytes.Contains(line, []byte("LAST")) {
				w.Write(sinkDone)
			} else {
				w.Write(sinkOK)
			}
		case bytes.HasPrefix(line, []byte("QUIT")):
			w.Write(sinkBye)
			w.Flush()
			return
		default:
			w.Write(sinkOK)
		}
		if !flush() {
			return
		}
	}
}

func benchSend(b *testing.B, m *transport.Message, delay time.Duration, exts ...string) {
	s := newSink(b, delay, exts...)
	c, err := Dial(context.Background(), s.ln.Addr().String(), cleartext())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithCancel(context.Background()) // as a server request's ctx would be
	defer cancel()
	if _, err := c.Send(ctx, m); err != nil { // warm up: buffers, chunk buffer
		b.Fatal(err)
	}
	n, _ := sizeOf(m)
	b.SetBytes(n)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := c.Send(ctx, m); err != nil {
			b.Fatal(err)
		}
	}
}

func sizeOf(m *transport.Message) (int64, error) {
	var cw countWriter
	err := writeMIME(&cw, m)
	return int64(cw), err
}

type countWriter int64

func (c *countWriter) Write(p []byte) (int, error) { *c += countWriter(len(p)); return len(p), nil }

// BenchmarkSend measures one message on a warm connection. "small" is a short text
// message; "1MiB" carries a 1 MiB attachment. The extension sets choose DATA or BDAT,
// each with PIPELINING, so a small message costs two round trips (DATA) or one (BDAT).
func BenchmarkSend(b *testing.B) {
	small := testMessage("b@x.test")
	big := testMessage("b@x.test")
	big.Attachments = []transport.Attachment{{Filename: "big.bin", Data: bytes.Repeat([]byte("0123456789abcdef"), 1<<16)}}
	for _, tc := range []struct {
		name string
		m    *transport.Message
		exts []string
	}{
		{"small/DATA", small, []string{"PIPELINING", "8BITMIME", "SIZE 100000000"}},
		{"small/BDAT", small, []string{"PIPELINING", "8BITMIME", "SIZE 100000000", "CHUNKING"}},
		{"small/DATA-nopipelining", small, []string{"8BITMIME"}},
		{"1MiB/DATA", big, []string{"PIPELINING", "SIZE 100000000"}},
		{"1MiB/BDAT", big, []string{"PIPELINING", "SIZE 100000000", "CHUNKING"}},
	} {
		b.Run(tc.name, func(b *testing.B) { benchSend(b, tc.m, 0, tc.exts...) })
	}
}

// BenchmarkSendRemote models a server 1 ms away: what matters is round trips per message.
func BenchmarkSendRemote(b *testing.B) {
	small := testMessage("b@x.test")
	for _, tc := range []struct {
		name string
		exts []string
	}{
		{"small/DATA", []string{"PIPELINING"}},
		{"small/BDAT", []string{"PIPELINING", "CHUNKING"}},
		{"small/no-pipelining", nil},
	} {
		b.Run(tc.name, func(b *testing.B) { benchSend(b, small, time.Millisecond, tc.exts...) })
	}
}

// BenchmarkTransportParallel sends small messages from 8 goroutines through a pool of 4.
func BenchmarkTransportParallel(b *testing.B) {
	s := newSink(b, 0, "PIPELINING", "CHUNKING", "SIZE 100000000")
	o := cleartext()
	o.MaxConns = 4
	o.MaxMessagesPerConn = 1 << 30
	tp, err := New(s.ln.Addr().String(), o)
	if err != nil {
		b.Fatal(err)
	}
	defer tp.Close()
	m := testMessage("b@x.test")
	b.ReportAllocs()
	b.SetParallelism(4) // 4 × GOMAXPROCS(2) = 8 senders
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			if _, err := tp.Send(ctx, m); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
