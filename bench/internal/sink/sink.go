// Package sink is a lean SMTP server that accepts and discards every message as fast as it
// can, so it is never the bottleneck of a client benchmark. It understands EHLO/HELO,
// STARTTLS, AUTH PLAIN, MAIL, RCPT, DATA, BDAT, RSET, NOOP and QUIT, answers pipelined
// command groups with one write, and can hold back every write by a fixed delay to model
// the round-trip time to a remote server. It counts messages and body bytes.
//
// A second listener, the discard listener, counts raw bytes and answers only when the
// client half-closes; it is the peer of the raw-TCP ceiling.
package sink

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Config configures a Server.
type Config struct {
	// RTT holds back every write to a client by this long, as a network with this
	// round-trip time would; 0 writes at once.
	RTT time.Duration
	// TLS, when set, makes the server offer STARTTLS (and the discard listener speak
	// implicit TLS). Nil means cleartext only.
	TLS *tls.Config
	// MaxSize is advertised with SIZE; default 200 MiB.
	MaxSize int64
}

// Stats are the server's counters.
type Stats struct {
	Conns    int64 // connections accepted (both listeners)
	Messages int64 // messages accepted (final dot or BDAT LAST)
	Bytes    int64 // message bytes as received (DATA lines before un-stuffing, BDAT chunks), plus discard bytes
}

// Server is the sink. Its methods are safe for concurrent use.
type Server struct {
	cfg      Config
	conns    atomic.Int64
	messages atomic.Int64
	bytes    atomic.Int64

	mu        sync.Mutex
	listeners []net.Listener
	wg        sync.WaitGroup
	closed    bool
	open      map[net.Conn]struct{}
}

// New returns a Server with cfg.
func New(cfg Config) *Server {
	if cfg.MaxSize <= 0 {
		cfg.MaxSize = 200 << 20
	}
	return &Server{cfg: cfg, open: map[net.Conn]struct{}{}}
}

// Stats returns the current counters.
func (s *Server) Stats() Stats {
	return Stats{Conns: s.conns.Load(), Messages: s.messages.Load(), Bytes: s.bytes.Load()}
}

// ServeSMTP accepts SMTP sessions on ln until Close.
func (s *Server) ServeSMTP(ln net.Listener) error { return s.serve(ln, s.smtpSession) }

// ServeDiscard accepts raw connections on ln until Close: it reads and counts everything a
// client writes and, when the client half-closes, answers with the byte count as a decimal
// line and closes.
func (s *Server) ServeDiscard(ln net.Listener) error { return s.serve(ln, s.discardSession) }

func (s *Server) serve(ln net.Listener, session func(net.Conn)) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return net.ErrClosed
	}
	s.listeners = append(s.listeners, ln)
	s.mu.Unlock()
	for {
		c, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return err
		}
		s.conns.Add(1)
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return nil
		}
		s.open[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			defer func() {
				s.mu.Lock()
				delete(s.open, c)
				s.mu.Unlock()
				c.Close()
			}()
			session(c)
		}()
	}
}

// Close stops the listeners, closes open connections and waits for their sessions.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	for _, ln := range s.listeners {
		ln.Close()
	}
	for c := range s.open {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

// wrap returns the conn the session writes through: c itself, or a delayConn when RTT > 0.
func (s *Server) wrap(c net.Conn) (net.Conn, func()) {
	if s.cfg.RTT <= 0 {
		return c, func() {}
	}
	d := newDelayConn(c, s.cfg.RTT)
	return d, d.drain
}

func (s *Server) discardSession(raw net.Conn) {
	conn, drain := s.wrap(raw)
	defer drain()
	if s.cfg.TLS != nil {
		tc := tls.Server(conn, s.cfg.TLS)
		if err := tc.Handshake(); err != nil {
			return
		}
		conn = tc
	}
	buf := make([]byte, 256<<10)
	var n int64
	for {
		k, err := conn.Read(buf)
		n += int64(k)
		if err != nil {
			break
		}
	}
	s.bytes.Add(n)
	fmt.Fprintf(conn, "%d\r\n", n)
}

// session is one SMTP session's state.
type session struct {
	s      *Server
	conn   net.Conn
	br     *bufio.Reader
	bw     *bufio.Writer
	tls    bool
	helo   bool
	mail   bool
	rcpts  int
	bdat   bool  // a BDAT sequence is under way
	msgLen int64 // bytes of the message so far
}

const bufSize = 64 << 10

func (s *Server) smtpSession(raw net.Conn) {
	conn, drain := s.wrap(raw)
	defer drain()
	ss := &session{s: s, conn: conn, br: bufio.NewReaderSize(conn, bufSize), bw: bufio.NewWriterSize(conn, 4096)}
	ss.bw.WriteString("220 sink.bench ESMTP ready\r\n")
	if ss.bw.Flush() != nil {
		return
	}
	for {
		line, err := ss.br.ReadSlice('\n')
		if err != nil {
			if errors.Is(err, bufio.ErrBufferFull) {
				// Drain the over-long line, then refuse it.
				for errors.Is(err, bufio.ErrBufferFull) {
					_, err = ss.br.ReadSlice('\n')
				}
				if err != nil {
					return
				}
				ss.reply("500 5.5.2 line too long")
				continue
			}
			return
		}
		quit, err := ss.command(trimEOL(line))
		if err != nil || quit {
			ss.bw.Flush()
			return
		}
		// Answer a pipelined group with one write: flush only when the client is waiting.
		if ss.br.Buffered() == 0 {
			if ss.bw.Flush() != nil {
				return
			}
		}
	}
}

func trimEOL(b []byte) []byte {
	b = bytes.TrimSuffix(b, []byte("\n"))
	return bytes.TrimSuffix(b, []byte("\r"))
}

func (ss *session) reply(s string) {
	ss.bw.WriteString(s)
	ss.bw.WriteString("\r\n")
}

// verb returns the upper-cased first word of line (at most 8 bytes) and the rest.
func verb(line []byte) (string, []byte) {
	var v [8]byte
	n := 0
	for n < len(line) && line[n] != ' ' && n < len(v) {
		c := line[n]
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		v[n] = c
		n++
	}
	rest := line[n:]
	if len(rest) > 0 && rest[0] == ' ' {
		rest = rest[1:]
	}
	return string(v[:n]), rest
}

func (ss *session) command(line []byte) (quit bool, err error) {
	v, arg := verb(line)
	switch v {
	case "EHLO":
		ss.helo = true
		ss.resetTx()
		ss.bw.WriteString("250-sink.bench\r\n250-PIPELINING\r\n250-CHUNKING\r\n250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n")
		fmt.Fprintf(ss.bw, "250-SIZE %d\r\n", ss.s.cfg.MaxSize)
		if ss.s.cfg.TLS != nil && !ss.tls {
			ss.bw.WriteString("250-STARTTLS\r\n")
		}
		ss.reply("250 AUTH PLAIN")
	case "HELO":
		ss.helo = true
		ss.resetTx()
		ss.reply("250 sink.bench")
	case "STARTTLS":
		if ss.s.cfg.TLS == nil || ss.tls {
			ss.reply("502 5.5.1 STARTTLS not offered")
			return false, nil
		}
		if ss.br.Buffered() > 0 {
			ss.reply("503 5.5.1 STARTTLS must be the last command of a group")
			return false, nil
		}
		ss.reply("220 2.0.0 ready to start TLS")
		if err := ss.bw.Flush(); err != nil {
			return false, err
		}
		tc := tls.Server(ss.conn, ss.s.cfg.TLS)
		if err := tc.Handshake(); err != nil {
			return false, err
		}
		ss.tls = true
		ss.helo = false
		ss.resetTx()
		ss.br.Reset(tc)
		ss.bw.Reset(tc)
	case "AUTH":
		return false, ss.auth(arg)
	case "MAIL":
		switch {
		case !ss.helo:
			ss.reply("503 5.5.1 say EHLO first")
		case ss.mail:
			ss.reply("503 5.5.1 nested MAIL")
		case !bytes.HasPrefix(bytes.ToUpper(arg[:min(len(arg), 5)]), []byte("FROM:")):
			ss.reply("501 5.5.4 syntax: MAIL FROM:<address>")
		default:
			ss.mail = true
			ss.reply("250 2.1.0 sender ok")
		}
	case "RCPT":
		switch {
		case !ss.mail:
			ss.reply("503 5.5.1 need MAIL first")
		case !bytes.HasPrefix(bytes.ToUpper(arg[:min(len(arg), 3)]), []byte("TO:")):
			ss.reply("501 5.5.4 syntax: RCPT TO:<address>")
		default:
			ss.rcpts++
			ss.reply("250 2.1.5 recipient ok")
		}
	case "DATA":
		if ss.rcpts == 0 || ss.bdat {
			ss.reply("503 5.5.1 need RCPT first")
			return false, nil
		}
		ss.reply("354 end with <CRLF>.<CRLF>")
		if err := ss.bw.Flush(); err != nil {
			return false, err
		}
		n, err := ss.readData()
		if err != nil {
			return false, err
		}
		ss.accept(n)
	case "BDAT":
		return false, ss.bdatCmd(arg)
	case "RSET":
		ss.resetTx()
		ss.reply("250 2.0.0 reset")
	case "NOOP":
		ss.reply("250 2.0.0 ok")
	case "QUIT":
		ss.reply("221 2.0.0 bye")
		return true, nil
	case "XSTATS":
		st := ss.s.Stats()
		fmt.Fprintf(ss.bw, "250 messages=%d bytes=%d conns=%d\r\n", st.Messages, st.Bytes, st.Conns)
	default:
		ss.reply("500 5.5.2 command not recognized")
	}
	return false, nil
}

func (ss *session) resetTx() {
	ss.mail, ss.rcpts, ss.bdat, ss.msgLen = false, 0, false, 0
}

func (ss *session) accept(n int64) {
	ss.s.messages.Add(1)
	ss.s.bytes.Add(n)
	ss.resetTx()
	ss.reply("250 2.0.0 ok: queued")
}

// readData reads a dot-stuffed body up to the terminating "." line and returns its size.
func (ss *session) readData() (int64, error) {
	var n int64
	lineStart := true
	for {
		b, err := ss.br.ReadSlice('\n')
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return n, err
		}
		if lineStart && len(b) >= 2 && b[0] == '.' && (b[1] == '\r' || b[1] == '\n') {
			return n, nil
		}
		n += int64(len(b))
		lineStart = err == nil
	}
}

func (ss *session) bdatCmd(arg []byte) error {
	sp := bytes.IndexByte(arg, ' ')
	sizeArg, last := arg, false
	if sp >= 0 {
		sizeArg = arg[:sp]
		last = bytes.EqualFold(bytes.TrimSpace(arg[sp+1:]), []byte("LAST"))
	}
	size, err := strconv.ParseInt(string(sizeArg), 10, 64)
	if err != nil || size < 0 {
		ss.reply("501 5.5.4 syntax: BDAT size [LAST]")
		return nil
	}
	if _, err := ss.br.Discard(int(size)); err != nil {
		return err
	}
	if ss.rcpts == 0 {
		ss.reply("503 5.5.1 need RCPT first")
		return nil
	}
	ss.bdat = true
	ss.msgLen += size
	if last {
		ss.accept(ss.msgLen)
		return nil
	}
	fmt.Fprintf(ss.bw, "250 2.0.0 %d octets received\r\n", size)
	return nil
}

func (ss *session) auth(arg []byte) error {
	mech, initial := verb(arg)
	if mech != "PLAIN" {
		ss.reply("504 5.5.4 only AUTH PLAIN")
		return nil
	}
	if len(initial) == 0 {
		ss.reply("334 ")
		if err := ss.bw.Flush(); err != nil {
			return err
		}
		line, err := ss.br.ReadSlice('\n')
		if err != nil {
			return err
		}
		initial = trimEOL(line)
		if string(initial) == "*" {
			ss.reply("501 5.0.0 AUTH cancelled")
			return nil
		}
	}
	dec, err := base64.StdEncoding.DecodeString(string(initial))
	if err != nil || bytes.Count(dec, []byte{0}) != 2 {
		ss.reply("501 5.5.2 malformed AUTH PLAIN response")
		return nil
	}
	ss.reply("235 2.7.0 authenticated")
	return nil
}

// delayConn holds back every Write by rtt, in order, without blocking the writer: a
// network with that latency. Reads pass through.
type delayConn struct {
	net.Conn
	rtt  time.Duration
	ch   chan delayed
	done chan struct{}
	err  atomic.Value
}

type delayed struct {
	due time.Time
	b   []byte
}

func newDelayConn(c net.Conn, rtt time.Duration) *delayConn {
	d := &delayConn{Conn: c, rtt: rtt, ch: make(chan delayed, 256), done: make(chan struct{})}
	go d.run()
	return d
}

func (d *delayConn) run() {
	defer close(d.done)
	failed := false
	for it := range d.ch {
		if failed {
			continue
		}
		if w := time.Until(it.due); w > 0 {
			time.Sleep(w)
		}
		if _, err := d.Conn.Write(it.b); err != nil {
			d.err.Store(err)
			failed = true
		}
	}
}

func (d *delayConn) Write(b []byte) (int, error) {
	if err, ok := d.err.Load().(error); ok {
		return 0, err
	}
	d.ch <- delayed{due: time.Now().Add(d.rtt), b: bytes.Clone(b)}
	return len(b), nil
}

// drain waits until every delayed write has gone out.
func (d *delayConn) drain() {
	close(d.ch)
	<-d.done
}
