package smtptest

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// fakeT records what the scripted server reports, so its own failures can be tested.
type fakeT struct {
	errs     []string
	cleanups []func()
}

func (f *fakeT) Helper() {}
func (f *fakeT) Errorf(format string, args ...any) {
	f.errs = append(f.errs, fmt.Sprintf(format, args...))
}
func (f *fakeT) Fatalf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }
func (f *fakeT) Cleanup(fn func())                 { f.cleanups = append(f.cleanups, fn) }
func (f *fakeT) end() {
	for i := len(f.cleanups) - 1; i >= 0; i-- {
		f.cleanups[i]()
	}
}

// rawClient speaks to a scripted server line by line.
type rawClient struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawClient {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second)) // a failure bound, not a timing assertion
	return &rawClient{t: t, conn: c, r: bufio.NewReader(c)}
}

func (c *rawClient) send(s string) {
	c.t.Helper()
	if _, err := c.conn.Write([]byte(s)); err != nil {
		c.t.Fatal(err)
	}
}

func (c *rawClient) line() string {
	c.t.Helper()
	l, err := c.r.ReadString('\n')
	if err != nil {
		c.t.Fatalf("read: %v (got %q)", err, l)
	}
	return strings.TrimRight(l, "\r\n")
}

func TestScriptedPlaysScript(t *testing.T) {
	s := NewScripted(t, Script{
		{Reply: "220 hi"},
		{Expect: "EHLO *", Reply: "250-hi\n250 PIPELINING"},
		{Expect: "MAIL FROM:<a@x>", Reply: "250 ok", Defer: true},
		{Expect: "RCPT TO:<b@x>", Reply: "250 ok", Defer: true},
		{Expect: "DATA", Reply: "354 go"},
		{Body: true, Reply: "250 queued as X"},
		{Expect: "BDAT 5 LAST", Body: true, Reply: "250 ok"},
	})
	c := dialRaw(t, s.Addr())
	defer c.conn.Close()
	if got := c.line(); got != "220 hi" {
		t.Fatalf("greeting %q", got)
	}
	c.send("EHLO me\r\n")
	if a, b := c.line(), c.line(); a != "250-hi" || b != "250 PIPELINING" {
		t.Fatalf("EHLO reply %q %q", a, b)
	}
	// Deferred replies arrive only after the flight's last command.
	c.send("MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\n")
	for _, want := range []string{"250 ok", "250 ok", "354 go"} {
		if got := c.line(); got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	}
	c.send("X-First: line\r\n..dot\r\nend\r\n.\r\n")
	if got := c.line(); got != "250 queued as X" {
		t.Fatalf("got %q", got)
	}
	c.send("BDAT 5 LAST\r\nhello")
	if got := c.line(); got != "250 ok" {
		t.Fatalf("got %q", got)
	}
	c.send("QUIT\r\n")
	if got := c.line(); !strings.HasPrefix(got, "221") {
		t.Fatalf("QUIT: %q", got)
	}
	c.conn.Close()
	s.Wait()
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	bodies := s.Bodies()
	if len(bodies) != 2 || string(bodies[0]) != "X-First: line\r\n.dot\r\nend\r\n" || string(bodies[1]) != "hello" {
		t.Fatalf("bodies %q", bodies)
	}
	if raw := s.RawBodies(); len(raw) != 1 || string(raw[0]) != "X-First: line\r\n..dot\r\nend\r\n" {
		t.Fatalf("raw bodies %q", raw)
	}
	cmds := s.Commands(0)
	if len(cmds) != 6 || cmds[0] != "EHLO me" || cmds[3] != "DATA" || cmds[4] != "BDAT 5 LAST" {
		t.Fatalf("commands %q", cmds)
	}
}

func TestScriptedReportsDeviations(t *testing.T) {
	ft := &fakeT{}
	s := NewScripted(ft, Script{
		{Reply: "220 hi"},
		{Expect: "EHLO *", Reply: "250 hi"},
		{Expect: "NOOP", Reply: "250 ok"},
	}, Script{{Reply: "220 second"}, {Expect: "QUIT"}})
	c := dialRaw(t, s.Addr())
	c.line()
	c.send("HELO me\r\n")
	if got := c.line(); !strings.HasPrefix(got, "500") {
		t.Fatalf("mismatch answered %q", got)
	}
	c.conn.Close()
	ft.end() // script 1 never gets its connection, so no Wait
	joined := strings.Join(ft.errs, "\n")
	for _, want := range []string{`got "HELO me"`, "script 0 did not run to its end", "script 1 did not run to its end"} {
		if !strings.Contains(joined, want) {
			t.Errorf("reports %q, want one containing %q", joined, want)
		}
	}
}

func TestScriptedExtraCommandAndConnection(t *testing.T) {
	ft := &fakeT{}
	s := NewScripted(ft, Script{{Reply: "220 hi"}})
	c := dialRaw(t, s.Addr())
	c.line()
	c.send("NOOP\r\n")
	if got := c.line(); !strings.HasPrefix(got, "500") {
		t.Fatalf("extra command answered %q", got)
	}
	c.conn.Close()
	c2 := dialRaw(t, s.Addr())
	if _, err := c2.r.ReadString('\n'); err == nil {
		t.Error("an unscripted connection was served")
	}
	c2.conn.Close()
	s.Wait()
	ft.end()
	joined := strings.Join(ft.errs, "\n")
	if !strings.Contains(joined, `"NOOP" after the end of the script`) || !strings.Contains(joined, "only 1 scripted") {
		t.Errorf("reports %q", joined)
	}
}

func TestScriptedStartTLSAndDrop(t *testing.T) {
	s := NewScripted(t, Script{
		{Reply: "220 hi"},
		{Expect: "STARTTLS", Reply: "220 go ahead", StartTLS: true},
		{Expect: "EHLO x", Reply: "250 secure"},
		{Expect: "DATA", Drop: true},
	})
	c := dialRaw(t, s.Addr())
	c.line()
	c.send("STARTTLS\r\n")
	c.line()
	cfg := s.ClientTLSConfig()
	cfg.ServerName = "127.0.0.1"
	tc := tls.Client(c.conn, cfg)
	if err := tc.Handshake(); err != nil {
		t.Fatalf("handshake with the generated certificate: %v", err)
	}
	c.conn, c.r = tc, bufio.NewReader(tc)
	c.send("EHLO x\r\n")
	if got := c.line(); got != "250 secure" {
		t.Fatalf("got %q", got)
	}
	c.send("DATA\r\n")
	if l, err := c.r.ReadString('\n'); err == nil {
		t.Fatalf("read %q after a drop", l)
	}
	tc.Close()
	s.Wait()
}

func TestScriptedHangUntilClientCloses(t *testing.T) {
	s := NewScriptedTLS(t, Script{{Reply: "220 hi"}, {Expect: "NOOP", Hang: true}})
	cfg := s.ClientTLSConfig()
	cfg.ServerName = "localhost"
	conn, err := tls.Dial("tcp", s.Addr(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(conn)
	if l, _ := r.ReadString('\n'); l != "220 hi\r\n" {
		t.Fatalf("greeting %q", l)
	}
	conn.Write([]byte("NOOP\r\n"))
	conn.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := r.ReadString('\n'); err == nil {
		t.Fatal("a hanging step answered")
	}
	conn.Close()
	s.Wait() // returns only because closing the client ended the hang
}
