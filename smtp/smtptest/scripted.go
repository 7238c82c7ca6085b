package smtptest

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
)

// Step is one exchange of a Script: the command the client must send and the server's
// canned answer.
type Step struct {
	// Expect is the command line the client must send, without CRLF: matched exactly, or
	// as a prefix when it ends in "*" ("*" alone matches any line). Empty means the step
	// reads nothing: a greeting, or a reply the server volunteers.
	Expect string
	// Reply is sent after the command: lines separated by "\n", each sent with CRLF.
	// Empty sends nothing.
	Reply string
	// Raw is sent as is after Reply: a malformed or oversized reply, a reply without
	// CRLF, data injected after a STARTTLS reply.
	Raw []byte
	// Body reads a message body before replying. With an Expect of "BDAT *" it is the
	// chunk the command announces; with no Expect it is a DATA body, the dot-stuffed
	// lines up to the lone "." (script "DATA" answered 354 in the step before).
	// Bodies and RawBodies return what was read.
	Body bool
	// Defer holds this step's reply back until a later step without Defer has been read,
	// then sends them all in order. A pipelined flight is scripted as deferred steps: a
	// client that waits for each reply before the next command stalls, and the test
	// fails on its deadline.
	Defer bool
	// StartTLS upgrades the connection to TLS (on a generated certificate) after the reply.
	StartTLS bool
	// HandshakeFails, with StartTLS, expects the client to abort the handshake (it does
	// not trust the certificate): the script ends there, and a handshake that succeeds is
	// a deviation. On the first step of a NewScriptedTLS script it is about the implicit
	// handshake that starts the connection.
	HandshakeFails bool
	// Hang reads the command and then never answers: the server waits until the client
	// closes the connection, so only the client's ctx or timeout ends the exchange.
	Hang bool
	// Drop closes the connection after the reply (if any).
	Drop bool
	// Reached, when set, is closed once the step's command (and body) has been read,
	// before the reply: a test can wait for the client to be at that point.
	Reached chan struct{}
	// Release, when set, holds the reply until the test closes the channel, keeping the
	// client inside this step (a Send in progress, a pooled connection busy).
	Release chan struct{}
}

// Script is what the server does on one connection.
type Script []Step

// ScriptT is the part of testing.TB that the scripted server uses.
type ScriptT interface {
	Helper()
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
	Cleanup(func())
}

// Scripted is an SMTP server on 127.0.0.1 for exact-reply tests: connection i follows
// script i, step by step, and every deviation (an unexpected command, a script not run
// to its end, a connection too many) fails the test when it ends. After the last step a
// QUIT is answered 221; anything else is a deviation.
type Scripted struct {
	t       ScriptT
	ln      net.Listener
	scripts []Script
	tlsConf *tls.Config
	ca      *authority

	mu       sync.Mutex
	errs     []error
	conns    []net.Conn
	commands [][]string // per connection, every line read
	bodies   [][]byte   // every completed body, unstuffed
	raw      [][]byte   // every completed DATA body as received (dot-stuffed)
	done     []bool     // per script: run to its end
	ended    int        // scripted connections whose handler returned
	allEnded chan struct{}
	quit     chan struct{} // closed by Close
	closed   bool
	wg       sync.WaitGroup // every goroutine
}

// NewScripted starts a server that plays scripts[i] on the i-th connection. It is closed
// and its deviations reported when t ends.
func NewScripted(t ScriptT, scripts ...Script) *Scripted {
	t.Helper()
	return newScripted(t, false, scripts)
}

// NewScriptedTLS is NewScripted with implicit TLS (SMTPS): the TLS handshake comes first.
func NewScriptedTLS(t ScriptT, scripts ...Script) *Scripted {
	t.Helper()
	return newScripted(t, true, scripts)
}

func newScripted(t ScriptT, implicit bool, scripts []Script) *Scripted {
	t.Helper()
	ca, err := newAuthority()
	if err != nil {
		t.Fatalf("smtptest: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("smtptest: listen: %v", err)
	}
	s := &Scripted{t: t, ln: ln, scripts: scripts, ca: ca,
		tlsConf:  &tls.Config{Certificates: []tls.Certificate{ca.leaf}, MinVersion: tls.VersionTLS12},
		commands: make([][]string, len(scripts)), done: make([]bool, len(scripts)), allEnded: make(chan struct{}), quit: make(chan struct{})}
	if len(scripts) == 0 {
		close(s.allEnded)
	}
	if implicit {
		s.ln = tls.NewListener(ln, s.tlsConf)
	}
	s.wg.Add(1)
	go s.accept()
	t.Cleanup(s.Close)
	return s
}

// Addr returns the server's host:port.
func (s *Scripted) Addr() string { return s.ln.Addr().String() }

// ClientTLSConfig returns a client config that trusts the server's certificate.
func (s *Scripted) ClientTLSConfig() *tls.Config {
	return &tls.Config{RootCAs: s.ca.pool.Clone(), MinVersion: tls.VersionTLS12}
}

// Commands returns the lines connection i sent so far (commands, AUTH responses and
// BDAT headers; not DATA bodies).
func (s *Scripted) Commands(i int) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if i < 0 || i >= len(s.commands) {
		return nil
	}
	return append([]string(nil), s.commands[i]...)
}

// Bodies returns every message body received, in order: DATA bodies with the
// dot-stuffing undone, BDAT chunks joined.
func (s *Scripted) Bodies() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]byte(nil), s.bodies...)
}

// RawBodies returns every DATA body as it came over the wire, dot-stuffed, without the
// final ".\r\n".
func (s *Scripted) RawBodies() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]byte(nil), s.raw...)
}

// Err returns the deviations so far, joined, or nil.
func (s *Scripted) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return errors.Join(s.errs...)
}

// Wait blocks until every script has been played: each scripted connection was made and
// has ended (the client closed it, or the script dropped it or went wrong). A test that
// makes fewer connections than there are scripts must not call Wait.
func (s *Scripted) Wait() { <-s.allEnded }

// Close stops the server, closes its connections and reports every deviation and every
// script that did not run to its end.
func (s *Scripted) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	conns := s.conns
	s.mu.Unlock()
	close(s.quit)
	s.ln.Close()
	for _, c := range conns {
		c.Close()
	}
	s.wg.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, err := range s.errs {
		s.t.Errorf("smtptest: scripted server: %v", err)
	}
	for i, d := range s.done {
		if !d {
			s.t.Errorf("smtptest: scripted server: script %d did not run to its end (the client stopped early or never connected)", i)
		}
	}
}

func (s *Scripted) errorf(format string, args ...any) {
	s.mu.Lock()
	s.errs = append(s.errs, fmt.Errorf(format, args...))
	s.mu.Unlock()
}

func (s *Scripted) accept() {
	defer s.wg.Done()
	for n := 0; ; n++ {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns = append(s.conns, c)
		s.mu.Unlock()
		if n >= len(s.scripts) {
			s.errorf("connection %d: only %d scripted", n, len(s.scripts))
			c.Close()
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serve(n, c)
			c.Close()
			s.mu.Lock()
			s.ended++
			if s.ended == len(s.scripts) {
				close(s.allEnded)
			}
			s.mu.Unlock()
		}()
	}
}

// scriptSession is the state of one scripted connection.
type scriptSession struct {
	s       *Scripted
	n       int
	conn    net.Conn
	r       *bufio.Reader
	pending bytes.Buffer // deferred replies
	body    []byte       // BDAT chunks so far
}

func (s *Scripted) serve(n int, c net.Conn) {
	ss := &scriptSession{s: s, n: n, conn: c, r: bufio.NewReaderSize(c, 64<<10)}
	if tc, ok := c.(*tls.Conn); ok {
		// With implicit TLS, a first step with HandshakeFails expects this one to fail.
		expectFail := len(s.scripts[n]) > 0 && s.scripts[n][0].HandshakeFails
		err := tc.Handshake()
		switch {
		case expectFail && err == nil:
			s.errorf("connection %d: the TLS handshake succeeded; the script expected the client to abort it", n)
			return
		case expectFail:
			ss.finish()
			return
		case err != nil:
			s.errorf("connection %d: TLS handshake: %v", n, err)
			return
		}
	}
	for i, st := range s.scripts[n] {
		ok, err := ss.step(i, st)
		if err != nil {
			s.errorf("connection %d, step %d (%q): %v", n, i, st.Expect, err)
			return
		}
		if !ok {
			return
		}
	}
	s.mu.Lock()
	s.done[n] = true
	s.mu.Unlock()
	ss.afterScript()
}

// step plays one step; false ends the connection as the script says.
func (ss *scriptSession) step(i int, st Step) (bool, error) {
	switch {
	case st.Expect != "":
		line, err := ss.readLine()
		if err != nil {
			return false, fmt.Errorf("reading the command: %w", err)
		}
		if !matchLine(st.Expect, line) {
			ss.reply("500 5.5.1 smtptest: script mismatch")
			return false, fmt.Errorf("got %q", line)
		}
		if st.Body {
			if err := ss.readBody(line); err != nil {
				return false, err
			}
		}
	case st.Body:
		if err := ss.readBody(""); err != nil {
			return false, err
		}
	}
	if st.Reached != nil {
		close(st.Reached)
	}
	if st.Release != nil {
		select {
		case <-st.Release:
		case <-ss.s.quit:
			return false, errors.New("the server closed while the step was held")
		}
	}
	if st.Hang {
		ss.flushPending()
		_, _ = io.Copy(io.Discard, ss.r) // until the client closes
		ss.finish()
		return false, nil
	}
	if st.Reply != "" {
		for _, l := range strings.Split(st.Reply, "\n") {
			ss.pending.WriteString(l)
			ss.pending.WriteString("\r\n")
		}
	}
	ss.pending.Write(st.Raw)
	if !st.Defer {
		if err := ss.flushPending(); err != nil {
			return false, fmt.Errorf("writing the reply: %w", err)
		}
	}
	if st.StartTLS {
		tc := tls.Server(ss.conn, ss.s.tlsConf)
		err := tc.Handshake()
		switch {
		case st.HandshakeFails && err == nil:
			return false, errors.New("the TLS handshake succeeded; the script expected the client to abort it")
		case st.HandshakeFails:
			ss.finish()
			return false, nil
		case err != nil:
			return false, fmt.Errorf("TLS handshake: %w", err)
		}
		ss.conn = tc
		ss.r = bufio.NewReaderSize(tc, 64<<10)
	}
	if st.Drop {
		ss.flushPending()
		ss.finish()
		return false, nil
	}
	return true, nil
}

// finish marks the script done when the step that ended it was its last.
func (ss *scriptSession) finish() {
	ss.s.mu.Lock()
	defer ss.s.mu.Unlock()
	ss.s.done[ss.n] = true
}

func (ss *scriptSession) reply(s string) {
	ss.pending.WriteString(s + "\r\n")
	ss.flushPending()
}

func (ss *scriptSession) flushPending() error {
	if ss.pending.Len() == 0 {
		return nil
	}
	_, err := ss.conn.Write(ss.pending.Bytes())
	ss.pending.Reset()
	return err
}

func (ss *scriptSession) readLine() (string, error) {
	line, err := ss.r.ReadString('\n')
	if err != nil {
		if line != "" {
			ss.record(line)
		}
		return "", err
	}
	line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	ss.record(line)
	return line, nil
}

func (ss *scriptSession) record(line string) {
	ss.s.mu.Lock()
	ss.s.commands[ss.n] = append(ss.s.commands[ss.n], line)
	ss.s.mu.Unlock()
}

func matchLine(expect, line string) bool {
	if p, ok := strings.CutSuffix(expect, "*"); ok {
		return strings.HasPrefix(line, p)
	}
	return line == expect
}

// readBody reads the body that follows cmd: a BDAT chunk or a DATA body.
func (ss *scriptSession) readBody(cmd string) error {
	if f := strings.Fields(cmd); len(f) >= 2 && strings.EqualFold(f[0], "BDAT") {
		n, err := strconv.Atoi(f[1])
		if err != nil || n < 0 {
			return fmt.Errorf("bad BDAT size in %q", cmd)
		}
		chunk := make([]byte, n)
		if _, err := io.ReadFull(ss.r, chunk); err != nil {
			return fmt.Errorf("reading a %d byte BDAT chunk: %w", n, err)
		}
		ss.body = append(ss.body, chunk...)
		if len(f) >= 3 && strings.EqualFold(f[2], "LAST") {
			ss.s.mu.Lock()
			ss.s.bodies = append(ss.s.bodies, ss.body)
			ss.s.mu.Unlock()
			ss.body = nil
		}
		return nil
	}
	var raw, body []byte
	atStart := true // the next slice starts a line
	for {
		line, err := ss.r.ReadSlice('\n')
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return fmt.Errorf("reading the DATA body: %w", err)
		}
		if atStart && string(line) == ".\r\n" {
			break
		}
		raw = append(raw, line...)
		if atStart && len(line) > 0 && line[0] == '.' {
			line = line[1:]
		}
		body = append(body, line...)
		atStart = err == nil // a full buffer leaves the line unfinished
	}
	ss.s.mu.Lock()
	ss.s.raw = append(ss.s.raw, raw)
	ss.s.bodies = append(ss.s.bodies, body)
	ss.s.mu.Unlock()
	return nil
}

// afterScript answers a closing QUIT and reports anything else.
func (ss *scriptSession) afterScript() {
	for {
		line, err := ss.readLine()
		if err != nil {
			return
		}
		if strings.EqualFold(line, "QUIT") {
			ss.reply("221 2.0.0 bye")
			return
		}
		ss.s.errorf("connection %d: %q after the end of the script", ss.n, line)
		ss.reply("500 5.5.1 smtptest: script ended")
	}
}
