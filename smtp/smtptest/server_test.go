package smtptest_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	netsmtp "net/smtp"
	"net/textproto"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"
	"go.uber.org/goleak"

	"github.com/postiemail/postie/smtp/smtptest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var users = map[string]string{"alice": "s3cret pass", "bob": "hunter2"}

// dialNet connects with net/smtp (an independent client), upgrades with STARTTLS and
// checks the certificate against the server's CA.
func dialNet(t *testing.T, s *smtptest.Server) *netsmtp.Client {
	t.Helper()
	c, err := netsmtp.Dial(s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if err := c.Hello("client.test"); err != nil {
		t.Fatal(err)
	}
	cfg := s.ClientTLSConfig()
	cfg.ServerName = "127.0.0.1"
	if err := c.StartTLS(cfg); err != nil {
		t.Fatalf("STARTTLS: %v", err)
	}
	return c
}

// dialGo connects with go-smtp's client, STARTTLS included.
func dialGo(t *testing.T, s *smtptest.Server) *gosmtp.Client {
	t.Helper()
	c, err := gosmtp.DialStartTLS(s.Addr(), s.ClientTLSConfig())
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func sendNet(c *netsmtp.Client, from string, to []string, body string) error {
	if err := c.Mail(from); err != nil {
		return err
	}
	for _, r := range to {
		if err := c.Rcpt(r); err != nil {
			return err
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := io.WriteString(w, body); err != nil {
		return err
	}
	return w.Close()
}

func codeOf(err error) int {
	var te *textproto.Error
	if errors.As(err, &te) {
		return te.Code
	}
	var se *gosmtp.SMTPError
	if errors.As(err, &se) {
		return se.Code
	}
	return 0
}

func TestExtensionsBeforeAndAfterSTARTTLS(t *testing.T) {
	s := smtptest.Start(t, &smtptest.ServerOptions{Users: users, MaxMessageBytes: 1 << 20})
	c, err := netsmtp.Dial(s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("client.test"); err != nil {
		t.Fatal(err)
	}
	for _, ext := range []string{"PIPELINING", "CHUNKING", "8BITMIME", "SMTPUTF8", "SIZE", "DSN", "ENHANCEDSTATUSCODES", "STARTTLS"} {
		if ok, _ := c.Extension(ext); !ok {
			t.Errorf("EHLO lacks %s", ext)
		}
	}
	if _, size := c.Extension("SIZE"); size != "1048576" {
		t.Errorf("SIZE parameter = %q, want 1048576", size)
	}
	if ok, _ := c.Extension("AUTH"); ok {
		t.Error("AUTH offered before STARTTLS")
	}
	if err := c.StartTLS(&tls.Config{RootCAs: s.RootCAs(), ServerName: "localhost"}); err != nil {
		t.Fatalf("STARTTLS with the server's CA: %v", err)
	}
	ok, mechs := c.Extension("AUTH")
	if !ok || mechs != "PLAIN LOGIN CRAM-MD5" {
		t.Errorf("AUTH after STARTTLS = %v %q, want PLAIN LOGIN CRAM-MD5", ok, mechs)
	}
	if ok, _ := c.Extension("STARTTLS"); ok {
		t.Error("STARTTLS offered again inside TLS")
	}
}

func TestCertificateNotTrustedWithoutCA(t *testing.T) {
	s := smtptest.Start(t, nil)
	c, err := netsmtp.Dial(s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	err = c.StartTLS(&tls.Config{ServerName: "127.0.0.1"})
	var uerr x509.UnknownAuthorityError
	if !errors.As(err, &uerr) {
		t.Fatalf("STARTTLS without the CA: err = %v, want an unknown-authority error", err)
	}
}

func TestAuthMechanismsAndCapture(t *testing.T) {
	body := "Subject: hi\r\n\r\nline one\r\n.leading dot\r\n..two dots\r\n.\r\n"
	// What the server must record: dot-stuffing undone, as sent by the application.
	cases := []struct {
		name string
		auth func(t *testing.T, s *smtptest.Server) error
	}{
		{"PLAIN", func(t *testing.T, s *smtptest.Server) error {
			c := dialNet(t, s)
			if err := c.Auth(netsmtp.PlainAuth("", "alice", users["alice"], "127.0.0.1")); err != nil {
				return err
			}
			return sendNet(c, "alice@example.com", []string{"x@example.net", "y@example.net"}, body)
		}},
		{"CRAM-MD5", func(t *testing.T, s *smtptest.Server) error {
			c := dialNet(t, s)
			if err := c.Auth(netsmtp.CRAMMD5Auth("alice", users["alice"])); err != nil {
				return err
			}
			return sendNet(c, "alice@example.com", []string{"x@example.net", "y@example.net"}, body)
		}},
		{"LOGIN", func(t *testing.T, s *smtptest.Server) error {
			c := dialGo(t, s)
			if err := c.Auth(sasl.NewLoginClient("alice", users["alice"])); err != nil {
				return err
			}
			return c.SendMail("alice@example.com", []string{"x@example.net", "y@example.net"}, strings.NewReader(body))
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := smtptest.Start(t, &smtptest.ServerOptions{Users: users})
			if err := tc.auth(t, s); err != nil {
				t.Fatalf("send: %v", err)
			}
			msgs := s.Messages()
			if len(msgs) != 1 {
				t.Fatalf("got %d messages, want 1", len(msgs))
			}
			m := msgs[0]
			if m.From != "alice@example.com" || !slices.Equal(m.To, []string{"x@example.net", "y@example.net"}) {
				t.Errorf("envelope = %q -> %q", m.From, m.To)
			}
			if m.User != "alice" || !m.TLS || m.Helo == "" {
				t.Errorf("User=%q TLS=%v Helo=%q, want alice, true, a name", m.User, m.TLS, m.Helo)
			}
			want := "Subject: hi\r\n\r\nline one\r\n.leading dot\r\n..two dots\r\n.\r\n"
			if string(m.Raw) != want || m.Size != int64(len(want)) {
				t.Errorf("Raw = %q (size %d), want %q", m.Raw, m.Size, want)
			}
		})
	}
}

func TestAuthFailures(t *testing.T) {
	s := smtptest.Start(t, &smtptest.ServerOptions{Users: users})
	t.Run("wrong password", func(t *testing.T) {
		c := dialNet(t, s)
		err := c.Auth(netsmtp.PlainAuth("", "alice", "wrong", "127.0.0.1"))
		if codeOf(err) != 535 {
			t.Fatalf("err = %v, want 535", err)
		}
	})
	t.Run("CRAM-MD5 wrong password", func(t *testing.T) {
		c := dialNet(t, s)
		if err := c.Auth(netsmtp.CRAMMD5Auth("bob", "wrong")); codeOf(err) != 535 {
			t.Fatalf("err = %v, want 535", err)
		}
	})
	t.Run("unknown user LOGIN", func(t *testing.T) {
		c := dialGo(t, s)
		if err := c.Auth(sasl.NewLoginClient("mallory", "x")); codeOf(err) != 535 {
			t.Fatalf("err = %v, want 535", err)
		}
	})
	t.Run("mail without auth", func(t *testing.T) {
		c := dialNet(t, s)
		if err := c.Mail("alice@example.com"); codeOf(err) != 530 {
			t.Fatalf("err = %v, want 530", err)
		}
	})
	if n := len(s.Messages()); n != 0 {
		t.Errorf("%d messages recorded, want 0", n)
	}
}

// TestLoginPrompts drives LOGIN by hand, without an initial response, to check the
// server's prompts are the base64 "Username:" and "Password:" that clients expect.
func TestLoginPrompts(t *testing.T) {
	s := smtptest.Start(t, &smtptest.ServerOptions{Users: users, TLS: smtptest.ImplicitTLS})
	conn, err := tls.Dial("tcp", s.Addr(), s.ClientTLSConfig())
	if err != nil {
		t.Fatal(err)
	}
	tp := textproto.NewConn(conn)
	defer tp.Close()
	expect(t, tp, 220)
	cmd(t, tp, 250, "EHLO client.test")
	b64 := base64.StdEncoding.EncodeToString
	if msg := cmd(t, tp, 334, "AUTH LOGIN"); msg != b64([]byte("Username:")) {
		t.Errorf("first prompt %q", msg)
	}
	if msg := cmd(t, tp, 334, b64([]byte("bob"))); msg != b64([]byte("Password:")) {
		t.Errorf("second prompt %q", msg)
	}
	cmd(t, tp, 235, b64([]byte("hunter2")))
	cmd(t, tp, 250, "MAIL FROM:<bob@example.com>")
}

func TestMailAndRcptParams(t *testing.T) {
	s := smtptest.Start(t, nil)
	c := dialGo(t, s)
	err := c.Mail("sender@example.com", &gosmtp.MailOptions{
		Size: 123, Body: gosmtp.Body8BitMIME, UTF8: true, Return: gosmtp.DSNReturnHeaders, EnvelopeID: "env+id=1",
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("rcpt@example.net", &gosmtp.RcptOptions{
		Notify:                []gosmtp.DSNNotify{gosmtp.DSNNotifySuccess, gosmtp.DSNNotifyFailure},
		OriginalRecipientType: gosmtp.DSNAddressTypeRFC822, OriginalRecipient: "orig@example.net",
	}); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, "Subject: x\r\n\r\nbody\r\n")
	resp, err := w.CloseWithResponse()
	if err != nil {
		t.Fatal(err)
	}
	m := s.Messages()[0]
	if m.QueueID == "" || resp.StatusText != "2.0.0 OK: queued as "+m.QueueID {
		t.Errorf("final reply %q, queue id %q", resp.StatusText, m.QueueID)
	}
	want := smtptest.MailParams{Size: 123, Body: "8BITMIME", SMTPUTF8: true, Ret: "HDRS", EnvID: "env+id=1"}
	if m.Params != want {
		t.Errorf("Params = %+v, want %+v", m.Params, want)
	}
	if len(m.RcptParams) != 1 || !slices.Equal(m.RcptParams[0].Notify, []string{"SUCCESS", "FAILURE"}) || m.RcptParams[0].ORcpt != "RFC822;orig@example.net" {
		t.Errorf("RcptParams = %+v", m.RcptParams)
	}
	if m.Chunked {
		t.Error("Chunked set for DATA")
	}

}

// TestPipelinedBDAT sends a whole transaction in one write, the way a pipelining client
// does, with the body in two BDAT chunks, over a server that delays its replies.
func TestPipelinedBDAT(t *testing.T) {
	s := smtptest.Start(t, &smtptest.ServerOptions{TLS: smtptest.NoTLS, ReplyDelay: 5 * time.Millisecond})
	conn, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	tp := textproto.NewConn(conn)
	defer tp.Close()
	expect(t, tp, 220)
	cmd(t, tp, 250, "EHLO client.test")
	part1, part2 := "Subject: chunks\r\n\r\n", "no dot-stuffing here:\r\n.\r\n"
	fmt.Fprintf(conn, "MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.net>\r\nRCPT TO:<c@example.net>\r\nBDAT %d\r\n%sBDAT %d LAST\r\n%s",
		len(part1), part1, len(part2), part2)
	for i := range 5 {
		if code, msg, err := tp.ReadResponse(250); err != nil {
			t.Fatalf("reply %d: %d %s: %v", i, code, msg, err)
		}
	}
	cmd(t, tp, 221, "QUIT")
	m := s.Messages()[0]
	if !m.Chunked || string(m.Raw) != part1+part2 || !slices.Equal(m.To, []string{"b@example.net", "c@example.net"}) {
		t.Errorf("got Chunked=%v Raw=%q To=%q", m.Chunked, m.Raw, m.To)
	}
}

func TestRecipientFaults(t *testing.T) {
	s := smtptest.Start(t, nil)
	must(t, s.Inject(smtptest.Fault{At: smtptest.AtRcpt, Recipient: "Temp@example.net", Code: 450, Enhanced: [3]int{4, 2, 1}, Text: "mailbox busy"}))
	must(t, s.Inject(smtptest.Fault{At: smtptest.AtRcpt, Recipient: "gone@example.net", Code: 550, Enhanced: [3]int{5, 1, 1}, Text: "no such user"}))
	c := dialGo(t, s)
	must(t, c.Mail("a@example.com", nil))
	err := c.Rcpt("temp@example.net", nil)
	var se *gosmtp.SMTPError
	if !errors.As(err, &se) || se.Code != 450 || se.EnhancedCode != (gosmtp.EnhancedCode{4, 2, 1}) || se.Message != "mailbox busy" {
		t.Fatalf("temp recipient: %v", err)
	}
	if err := c.Rcpt("gone@example.net", nil); codeOf(err) != 550 {
		t.Fatalf("gone recipient: %v", err)
	}
	must(t, c.Rcpt("ok@example.net", nil))
	w, err := c.Data()
	must(t, err)
	io.WriteString(w, "Subject: x\r\n\r\nx\r\n")
	must(t, w.Close())
	// The faults persist (Times 0) and apply to later messages too.
	must(t, c.Mail("a@example.com", nil))
	if err := c.Rcpt("gone@example.net", nil); codeOf(err) != 550 {
		t.Fatalf("second message: %v", err)
	}
	s.ClearFaults()
	must(t, c.Rcpt("gone@example.net", nil))
	if got := s.Messages(); len(got) != 1 || !slices.Equal(got[0].To, []string{"ok@example.net"}) {
		t.Fatalf("messages = %+v, want one to ok@example.net", got)
	}
}

func TestFaultTimes(t *testing.T) {
	s := smtptest.Start(t, nil)
	must(t, s.Inject(smtptest.Fault{At: smtptest.AtMail, Code: 451, Times: 2}))
	c := dialGo(t, s)
	for i := range 2 {
		if err := c.Mail("a@example.com", nil); codeOf(err) != 451 {
			t.Fatalf("MAIL %d: %v, want 451", i, err)
		}
	}
	if err := c.Mail("a@example.com", nil); err != nil {
		t.Fatalf("MAIL after the fault was used up: %v", err)
	}
}

func TestDataAndAuthFaults(t *testing.T) {
	s := smtptest.Start(t, &smtptest.ServerOptions{Users: users})
	must(t, s.Inject(smtptest.Fault{At: smtptest.AtAuth, Code: 535, Enhanced: [3]int{5, 7, 8}, Times: 1}))
	must(t, s.Inject(smtptest.Fault{At: smtptest.AtData, Code: 554, Enhanced: [3]int{5, 6, 0}, Text: "content refused", Times: 1}))
	c := dialGo(t, s) // net/smtp would QUIT after a refused AUTH
	plain := sasl.NewPlainClient("", "alice", users["alice"])
	if err := c.Auth(plain); codeOf(err) != 535 {
		t.Fatalf("AUTH with an injected 535: %v", err)
	}
	// The refused AUTH did not authenticate.
	if err := c.Mail("alice@example.com", nil); codeOf(err) != 530 {
		t.Fatalf("MAIL after refused AUTH: %v, want 530", err)
	}
	if err := c.Auth(plain); err != nil {
		t.Fatalf("second AUTH: %v", err)
	}
	msg := func() io.Reader { return strings.NewReader("Subject: x\r\n\r\nx\r\n") }
	if err := c.SendMail("alice@example.com", []string{"x@example.net"}, msg()); codeOf(err) != 554 {
		t.Fatalf("DATA with an injected 554: %v", err)
	}
	if n := len(s.Messages()); n != 0 {
		t.Fatalf("a refused message was recorded (%d)", n)
	}
	if err := c.SendMail("alice@example.com", []string{"x@example.net"}, msg()); err != nil {
		t.Fatalf("second message: %v", err)
	}
}

func Test421ClosesConnection(t *testing.T) {
	for _, delay := range []time.Duration{0, 2 * time.Millisecond} {
		t.Run(fmt.Sprint("delay ", delay), func(t *testing.T) {
			s := smtptest.Start(t, &smtptest.ServerOptions{ReplyDelay: delay})
			c := dialNet(t, s) // TLS: the 421 goes out inside a TLS record, then the close
			must(t, s.Inject(smtptest.Fault{At: smtptest.AtNext, Code: 421, Enhanced: [3]int{4, 3, 2}, Text: "shutting down", Times: 1}))
			if err := c.Mail("a@example.com"); codeOf(err) != 421 {
				t.Fatalf("MAIL: %v, want 421", err)
			}
			if err := c.Noop(); err == nil || codeOf(err) != 0 {
				t.Fatalf("NOOP after 421: %v, want a closed connection", err)
			}
			// The fault was used up: a new connection works.
			c2 := dialNet(t, s)
			must(t, sendNet(c2, "a@example.com", []string{"b@example.net"}, "Subject: x\r\n\r\nx\r\n"))
			if s.Connections() != 2 {
				t.Errorf("Connections = %d, want 2", s.Connections())
			}
		})
	}
}

func TestHelloFault(t *testing.T) {
	s := smtptest.Start(t, &smtptest.ServerOptions{TLS: smtptest.NoTLS})
	must(t, s.Inject(smtptest.Fault{At: smtptest.AtHello, Code: 554, Text: "go away", Times: 1}))
	conn, err := net.Dial("tcp", s.Addr())
	must(t, err)
	tp := textproto.NewConn(conn)
	defer tp.Close()
	expect(t, tp, 220)
	if msg := cmd(t, tp, 554, "EHLO client.test"); msg != "5.0.0 go away" {
		t.Errorf("EHLO reply %q", msg)
	}
	cmd(t, tp, 250, "EHLO client.test") // used up

}

// TestDropAfterData checks the connection dies after the final dot, before any reply,
// and that the message counts as received (the sender cannot know it was).
func TestDropAfterData(t *testing.T) {
	for _, chunked := range []bool{false, true} {
		t.Run(fmt.Sprint("chunked=", chunked), func(t *testing.T) {
			s := smtptest.Start(t, &smtptest.ServerOptions{TLS: smtptest.NoTLS})
			must(t, s.Inject(smtptest.Fault{At: smtptest.AtData, Drop: true, Times: 1}))
			conn, err := net.Dial("tcp", s.Addr())
			must(t, err)
			tp := textproto.NewConn(conn)
			defer tp.Close()
			expect(t, tp, 220)
			cmd(t, tp, 250, "EHLO client.test")
			cmd(t, tp, 250, "MAIL FROM:<a@example.com>")
			cmd(t, tp, 250, "RCPT TO:<b@example.net>")
			body := "Subject: x\r\n\r\nbody\r\n"
			if chunked {
				fmt.Fprintf(conn, "BDAT %d LAST\r\n%s", len(body), body)
			} else {
				cmd(t, tp, 354, "DATA")
				fmt.Fprintf(conn, "%s.\r\n", body)
			}
			if line, err := tp.ReadLine(); err == nil {
				t.Fatalf("got reply %q, want the connection closed", line)
			}
			if m := s.Messages(); len(m) != 1 || string(m[0].Raw) != body || m[0].Chunked != chunked {
				t.Fatalf("messages = %+v", m)
			}
		})
	}
}

// TestStall checks a stalled server holds the client until the client gives up, and
// that Close then ends cleanly (goleak checks no goroutine is left).
func TestStall(t *testing.T) {
	s := smtptest.Start(t, nil)
	must(t, s.Inject(smtptest.Fault{At: smtptest.AtMail, Stall: true}))
	c := dialGo(t, s)
	c.CommandTimeout = 50 * time.Millisecond // the client's own deadline is what ends it
	err := c.Mail("a@example.com", nil)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("MAIL on a stalled server: %v, want a timeout", err)
	}
}

func TestStallEndsOnServerClose(t *testing.T) {
	sig := &signal{want: "MAIL FROM", seen: make(chan struct{})}
	s, err := smtptest.NewServer(&smtptest.ServerOptions{TLS: smtptest.NoTLS, Debug: sig})
	must(t, err)
	must(t, s.Inject(smtptest.Fault{At: smtptest.AtMail, Stall: true}))
	conn, err := net.Dial("tcp", s.Addr())
	must(t, err)
	defer conn.Close()
	tp := textproto.NewConn(conn)
	expect(t, tp, 220)
	cmd(t, tp, 250, "EHLO client.test")
	must(t, tp.PrintfLine("MAIL FROM:<a@example.com>"))
	<-sig.seen // the server has read MAIL and is about to stall, or stalling
	must(t, tp.PrintfLine("NOOP"))
	// Close must end the stall and the connection, and return.
	must(t, s.Close())
	if line, err := tp.ReadLine(); err == nil {
		t.Fatalf("read %q after Close, want EOF", line)
	}
}

func TestDropConnections(t *testing.T) {
	s := smtptest.Start(t, nil)
	c := dialNet(t, s)
	s.DropConnections()
	if err := c.Noop(); err == nil {
		t.Fatal("NOOP on a dropped connection succeeded")
	}
	c2 := dialNet(t, s)
	must(t, c2.Noop())
}

func TestSizeLimit(t *testing.T) {
	s := smtptest.Start(t, &smtptest.ServerOptions{MaxMessageBytes: 100})
	c := dialGo(t, s)
	if err := c.Mail("a@example.com", &gosmtp.MailOptions{Size: 101}); codeOf(err) != 552 {
		t.Fatalf("MAIL SIZE=101: %v, want 552", err)
	}
	err := c.SendMail("a@example.com", []string{"b@example.net"}, strings.NewReader(strings.Repeat("x", 200)+"\r\n"))
	if codeOf(err) != 552 {
		t.Fatalf("200-byte message: %v, want 552", err)
	}
}

func TestMaxRecipients(t *testing.T) {
	s := smtptest.Start(t, &smtptest.ServerOptions{MaxRecipients: 2})
	c := dialGo(t, s)
	must(t, c.Mail("a@example.com", nil))
	must(t, c.Rcpt("1@example.net", nil))
	must(t, c.Rcpt("2@example.net", nil))
	if err := c.Rcpt("3@example.net", nil); codeOf(err) != 452 {
		t.Fatalf("third RCPT: %v, want 452", err)
	}
}

func TestRequireTLS(t *testing.T) {
	s := smtptest.Start(t, &smtptest.ServerOptions{RequireTLS: true})
	c, err := netsmtp.Dial(s.Addr())
	must(t, err)
	defer c.Close()
	if err := c.Mail("a@example.com"); codeOf(err) != 530 {
		t.Fatalf("MAIL in clear: %v, want 530", err)
	}
	cfg := s.ClientTLSConfig()
	cfg.ServerName = "localhost"
	must(t, c.StartTLS(cfg))
	must(t, c.Mail("a@example.com"))
}

func TestIdleTimeout(t *testing.T) {
	s := smtptest.Start(t, &smtptest.ServerOptions{TLS: smtptest.NoTLS, IdleTimeout: 20 * time.Millisecond})
	conn, err := net.Dial("tcp", s.Addr())
	must(t, err)
	defer conn.Close()
	tp := textproto.NewConn(conn)
	expect(t, tp, 220)
	// Send nothing: the server's next line is its idle-timeout 421.
	expect(t, tp, 421)
}

func TestDiscardAndOnMessage(t *testing.T) {
	got := make(chan smtptest.Message, 1)
	s := smtptest.Start(t, &smtptest.ServerOptions{Discard: true, TLS: smtptest.NoTLS,
		OnMessage: func(m smtptest.Message) { got <- m }})
	c, err := gosmtp.Dial(s.Addr())
	must(t, err)
	defer c.Close()
	must(t, c.SendMail("a@example.com", []string{"b@example.net"}, strings.NewReader("0123456789\r\n")))
	m := s.Messages()
	if len(m) != 1 || m[0].Raw != nil || m[0].Size != 12 {
		t.Fatalf("messages = %+v, want one of size 12 without Raw", m)
	}
	if cb := <-got; cb.From != "a@example.com" || cb.Size != 12 {
		t.Fatalf("OnMessage got %+v", cb)
	}
	s.Reset()
	if len(s.Messages()) != 0 {
		t.Fatal("Reset kept messages")
	}
}

func TestInjectRejectsBadFaults(t *testing.T) {
	s := smtptest.Start(t, nil)
	for _, f := range []smtptest.Fault{
		{At: 0, Code: 550},
		{At: smtptest.AtMail, Code: 250},
		{At: smtptest.AtMail, Drop: true, Stall: true},
		{At: smtptest.AtMail, Recipient: "x@example.net", Code: 550},
		{At: smtptest.AtMail, Code: 550, Times: -1},
	} {
		if err := s.Inject(f); err == nil {
			t.Errorf("Inject(%+v) accepted", f)
		}
	}
}

func TestBadOptions(t *testing.T) {
	for _, o := range []smtptest.ServerOptions{
		{TLS: 7},
		{TLS: smtptest.NoTLS, RequireTLS: true},
		{Mechanisms: []string{"SCRAM-SHA-256"}},
		{Addr: "256.0.0.1:0"},
	} {
		if s, err := smtptest.NewServer(&o); err == nil {
			s.Close()
			t.Errorf("NewServer(%+v) succeeded", o)
		}
	}
}

func TestConcurrentClients(t *testing.T) {
	s := smtptest.Start(t, &smtptest.ServerOptions{Users: users, ReplyDelay: time.Millisecond})
	const n = 8
	errs := make(chan error, n)
	for i := range n {
		go func() {
			c, err := gosmtp.DialStartTLS(s.Addr(), s.ClientTLSConfig())
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			if err := c.Auth(sasl.NewPlainClient("", "bob", "hunter2")); err != nil {
				errs <- err
				return
			}
			errs <- c.SendMail("bob@example.com", []string{fmt.Sprintf("r%d@example.net", i)}, strings.NewReader("Subject: x\r\n\r\nx\r\n"))
		}()
	}
	for range n {
		must(t, <-errs)
	}
	if got := len(s.Messages()); got != n {
		t.Fatalf("%d messages, want %d", got, n)
	}
}

func TestCloseIsIdempotentAndClosesIdleClients(t *testing.T) {
	s, err := smtptest.NewServer(nil)
	must(t, err)
	c, err := netsmtp.Dial(s.Addr())
	must(t, err)
	defer c.Close()
	must(t, c.Hello("client.test"))
	must(t, s.Close())
	must(t, s.Close())
	if err := c.Noop(); err == nil {
		t.Fatal("NOOP after server Close succeeded")
	}
	if _, err := net.Dial("tcp", s.Addr()); err == nil {
		t.Fatal("server still listening after Close")
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func expect(t *testing.T, tp *textproto.Conn, code int) string {
	t.Helper()
	_, msg, err := tp.ReadResponse(code)
	if err != nil {
		t.Fatalf("want %d: %v", code, err)
	}
	return msg
}

func cmd(t *testing.T, tp *textproto.Conn, code int, line string) string {
	t.Helper()
	if err := tp.PrintfLine("%s", line); err != nil {
		t.Fatal(err)
	}
	return expect(t, tp, code)
}

// signal is a Debug writer that closes seen when the wire log contains want.
type signal struct {
	want string
	seen chan struct{}
	buf  bytes.Buffer
	once sync.Once
	mu   sync.Mutex
}

func (s *signal) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf.Write(p)
	if bytes.Contains(s.buf.Bytes(), []byte(s.want)) {
		s.once.Do(func() { close(s.seen) })
	}
	return len(p), nil
}
