package smtp

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/postiemail/postie/smtp/smtptest"
	"github.com/postiemail/postie/transport"
)

func TestGreeting(t *testing.T) {
	cases := []struct {
		name     string
		greeting step
		code     transport.Code
		temp     bool
	}{
		{"421", step{Reply: "421 4.3.2 busy, try later"}, transport.Unavailable, true},
		{"554", step{Reply: "554 5.7.1 no service for you"}, transport.PermissionDenied, false},
		{"554 without enhanced code", step{Reply: "554 go away"}, transport.PermissionDenied, false},
		{"malformed", step{Raw: []byte("hello there\r\n")}, transport.Internal, false},
		{"multi-line 421", step{Reply: "421-one\n421 two"}, transport.Unavailable, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := smtptest.NewScripted(t, script{tc.greeting})
			_, err := Dial(testCtx(t), s.Addr(), cleartext())
			wantCode(t, err, tc.code, tc.temp)
			s.Wait()
			if cmds := s.Commands(0); len(cmds) != 0 {
				t.Errorf("sent %q after a refused greeting", cmds)
			}
		})
	}
	t.Run("multi-line 220", func(t *testing.T) {
		s := smtptest.NewScripted(t, script{{Reply: "220-scripted.test ESMTP\n220 welcome"}, {Expect: "EHLO client.test", Reply: "250 ok"}})
		c := dialT(t, s.Addr(), cleartext())
		if g := c.Greeting(); g.Code != 220 || !reflect.DeepEqual(g.Lines, []string{"scripted.test ESMTP", "welcome"}) {
			t.Errorf("Greeting() = %+v", g)
		}
	})
}

func TestHelloFallback(t *testing.T) {
	for _, code := range []string{"500", "502"} {
		t.Run("EHLO "+code, func(t *testing.T) {
			s := smtptest.NewScripted(t, script{
				{Reply: "220 old.test SMTP"},
				{Expect: "EHLO client.test", Reply: code + " 5.5.1 what?"},
				{Expect: "HELO client.test", Reply: "250 old.test"},
			})
			c := dialT(t, s.Addr(), cleartext())
			if c.HelloCommand() != "HELO" || len(c.Extensions()) != 0 {
				t.Errorf("hello %q, extensions %v", c.HelloCommand(), c.Extensions())
			}
		})
	}
	for _, tc := range []struct {
		reply string
		code  transport.Code
		temp  bool
	}{
		{"421 4.7.0 closing", transport.Unavailable, true},
		{"550 5.7.1 go away", transport.PermissionDenied, false},
		{"501 5.5.4 bad name", transport.Internal, false},
	} {
		t.Run("no HELO after "+tc.reply[:3], func(t *testing.T) {
			s := smtptest.NewScripted(t, script{{Reply: "220 x"}, {Expect: "EHLO client.test", Reply: tc.reply}})
			_, err := Dial(testCtx(t), s.Addr(), cleartext())
			wantCode(t, err, tc.code, tc.temp)
			s.Wait() // the script ends after EHLO: a HELO would be reported as a deviation
		})
	}
	t.Run("HELO refused", func(t *testing.T) {
		s := smtptest.NewScripted(t, script{{Reply: "220 x"}, {Expect: "EHLO client.test", Reply: "502 no"}, {Expect: "HELO client.test", Reply: "550 no"}})
		_, err := Dial(testCtx(t), s.Addr(), cleartext())
		if err == nil || !strings.Contains(err.Error(), "HELO") {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestExtensions(t *testing.T) {
	s := smtptest.NewScripted(t, steps(greet("SIZE 35882577", "8BITMIME", "pipelining", "AUTH PLAIN LOGIN", "AUTH=CRAM-MD5",
		"ENHANCEDSTATUSCODES", "CHUNKING", "SMTPUTF8", "DSN", "REQUIRETLS", "X-VENDOR some params", "bad_keyword!")))
	c := dialT(t, s.Addr(), cleartext())
	want := map[string]string{"SIZE": "35882577", "8BITMIME": "", "PIPELINING": "", "AUTH": "PLAIN LOGIN CRAM-MD5",
		"ENHANCEDSTATUSCODES": "", "CHUNKING": "", "SMTPUTF8": "", "DSN": "", "REQUIRETLS": "", "X-VENDOR": "some params"}
	if got := c.Extensions(); !reflect.DeepEqual(got, want) {
		t.Errorf("Extensions() = %v\nwant %v", got, want)
	}
	if v, ok := c.Extension("size"); !ok || v != "35882577" || c.MaxMessageSize() != 35882577 {
		t.Errorf("Extension(size) = %q, %v; MaxMessageSize %d", v, ok, c.MaxMessageSize())
	}
	if _, ok := c.Extension("STARTTLS"); ok {
		t.Error("STARTTLS reported but not offered")
	}
	x := c.ext
	if !x.pipelining || !x.chunking || !x.eightBit || !x.smtpUTF8 || !x.dsn || !x.enhanced || !x.requireTLS || x.startTLS {
		t.Errorf("flags %+v", x)
	}
	// Extensions returns a copy.
	c.Extensions()["SIZE"] = "1"
	if v, _ := c.Extension("SIZE"); v != "35882577" {
		t.Error("Extensions() exposes the client's map")
	}
}

func TestTLSRequiredWithoutSTARTTLS(t *testing.T) {
	// The server offers AUTH but no STARTTLS: nothing may follow the EHLO.
	s := smtptest.NewScripted(t, steps(greet("AUTH PLAIN LOGIN", "PIPELINING")))
	_, err := Dial(testCtx(t), s.Addr(), &Options{LocalName: "client.test", Username: "u", Password: "secret"})
	wantCode(t, err, transport.Unimplemented, false)
	if !strings.Contains(err.Error(), "STARTTLS") {
		t.Errorf("error %q does not name STARTTLS", err)
	}
	s.Wait()
	if got := s.Commands(0); !slices.Equal(got, []string{"EHLO client.test"}) {
		t.Errorf("sent %q; want only the EHLO", got)
	}
}

func TestSTARTTLS(t *testing.T) {
	s := smtptest.NewScripted(t, steps(greet("STARTTLS", "PIPELINING"), []step{
		{Expect: "STARTTLS", Reply: "220 2.0.0 go ahead", StartTLS: true},
		{Expect: "EHLO client.test", Reply: ehloReply("AUTH PLAIN", "SIZE 1000")},
		{Expect: "AUTH PLAIN AHUAc2VjcmV0", Reply: "235 2.7.0 ok"},
	}))
	tc := s.ClientTLSConfig()
	orig := tc.Clone()
	c := dialT(t, s.Addr(), &Options{LocalName: "client.test", TLSConfig: tc, Username: "u", Password: "secret"})
	st, ok := c.TLSState()
	if !ok || st.Version < tls.VersionTLS12 || !st.HandshakeComplete {
		t.Fatalf("TLSState = %+v, %v", st, ok)
	}
	// Knowledge from before TLS is forgotten: PIPELINING was offered only in cleartext.
	if _, ok := c.Extension("PIPELINING"); ok {
		t.Error("extensions from before STARTTLS kept")
	}
	if _, ok := c.Extension("AUTH"); !ok || c.AuthMechanism() != "PLAIN" {
		t.Errorf("AUTH after TLS: %v, mechanism %q", c.Extensions(), c.AuthMechanism())
	}
	if tc.ServerName != orig.ServerName || tc.RootCAs != orig.RootCAs || tc.MinVersion != orig.MinVersion {
		t.Error("the caller's tls.Config was changed")
	}
}

func TestSTARTTLSFailures(t *testing.T) {
	t.Run("untrusted certificate", func(t *testing.T) {
		s := smtptest.NewScripted(t, steps(greet("STARTTLS", "AUTH PLAIN"), []step{
			{Expect: "STARTTLS", Reply: "220 go ahead", StartTLS: true, HandshakeFails: true},
		}))
		_, err := Dial(testCtx(t), s.Addr(), &Options{LocalName: "client.test", Username: "u", Password: "p"})
		wantCode(t, err, transport.Unavailable, false)
		var cv *tls.CertificateVerificationError
		if !errors.As(err, &cv) {
			t.Errorf("err = %v, want a certificate verification error inside", err)
		}
		s.Wait()
	})
	t.Run("454 under required", func(t *testing.T) {
		s := smtptest.NewScripted(t, steps(greet("STARTTLS"), []step{{Expect: "STARTTLS", Reply: "454 4.7.0 TLS not available"}}))
		_, err := Dial(testCtx(t), s.Addr(), &Options{LocalName: "client.test"})
		wantCode(t, err, transport.Unavailable, true)
		s.Wait()
	})
	t.Run("454 under opportunistic continues in clear", func(t *testing.T) {
		s := smtptest.NewScripted(t, steps(greet("STARTTLS"), []step{{Expect: "STARTTLS", Reply: "454 4.7.0 TLS not available"}, {Expect: "NOOP", Reply: "250 ok"}}))
		c := dialT(t, s.Addr(), &Options{LocalName: "client.test", TLS: TLSOpportunistic})
		if err := c.Noop(testCtx(t)); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("data after the 220", func(t *testing.T) {
		s := smtptest.NewScripted(t, steps(greet("STARTTLS"), []step{
			{Expect: "STARTTLS", Reply: "220 go ahead", Raw: []byte("250-injected\r\n")},
		}))
		_, err := Dial(testCtx(t), s.Addr(), &Options{LocalName: "client.test", TLSConfig: s.ClientTLSConfig()})
		wantCode(t, err, transport.Internal, false)
		if !errors.Is(err, ErrProtocol) {
			t.Errorf("err = %v, want ErrProtocol", err)
		}
		s.Wait()
	})
}

func TestTLSOpportunisticWithoutOffer(t *testing.T) {
	s := smtptest.NewScripted(t, steps(greet(), []step{{Expect: "NOOP", Reply: "250 ok"}}))
	c := dialT(t, s.Addr(), &Options{LocalName: "client.test", TLS: TLSOpportunistic})
	if _, ok := c.TLSState(); ok {
		t.Error("TLS reported without STARTTLS")
	}
	if err := c.Noop(testCtx(t)); err != nil {
		t.Fatal(err)
	}
}

func TestImplicitTLS(t *testing.T) {
	s := smtptest.NewScriptedTLS(t, steps(greet("AUTH PLAIN"), []step{{Expect: "QUIT", Reply: "221 bye"}}))
	c, err := Dial(testCtx(t), s.Addr(), &Options{LocalName: "client.test", TLS: TLSImplicit, TLSConfig: s.ClientTLSConfig()})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c.TLSState(); !ok {
		t.Error("no TLS state")
	}
	if err := c.Quit(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	t.Run("untrusted", func(t *testing.T) {
		s := smtptest.NewScriptedTLS(t, script{{HandshakeFails: true}})
		_, err := Dial(testCtx(t), s.Addr(), &Options{LocalName: "client.test", TLS: TLSImplicit})
		wantCode(t, err, transport.Unavailable, false)
	})
}

func TestTLSPolicyChecks(t *testing.T) {
	if _, err := New("mail.example.com:25", &Options{TLS: TLSNone}); transport.CodeOf(err) != transport.InvalidArgument {
		t.Errorf("TLSNone to a remote host: %v", err)
	}
	if _, err := New("mail.example.com:25", &Options{TLS: TLSNone, Insecure: true}); err != nil {
		t.Errorf("TLSNone with Insecure: %v", err)
	}
	for _, host := range []string{"127.0.0.1:25", "[::1]:25", "localhost:25", "mailpit.localhost:1025"} {
		if _, err := New(host, &Options{TLS: TLSNone}); err != nil {
			t.Errorf("TLSNone to %s: %v", host, err)
		}
	}
	if _, err := New("no-port", nil); transport.CodeOf(err) != transport.InvalidArgument {
		t.Errorf("address without port: %v", err)
	}
	if _, err := New("h:1", &Options{TLS: TLSPolicy(9)}); err == nil {
		t.Error("unknown policy accepted")
	}
	for p, name := range map[TLSPolicy]string{TLSRequired: "required", TLSOpportunistic: "opportunistic", TLSNone: "none", TLSImplicit: "implicit", 7: "TLSPolicy(7)"} {
		if p.String() != name {
			t.Errorf("%d.String() = %q", int(p), p.String())
		}
		if p != 7 {
			if q, err := ParseTLSPolicy(name); err != nil || q != p {
				t.Errorf("ParseTLSPolicy(%q) = %v, %v", name, q, err)
			}
		}
	}
}

func TestLowLevelCommands(t *testing.T) {
	s := smtptest.NewScripted(t, steps(greet("8BITMIME"), []step{
		{Expect: "NOOP", Reply: "250 2.0.0 ok"},
		{Expect: "VRFY postmaster", Reply: "252 2.1.5 cannot verify, will try"},
		{Expect: "EXPN staff", Reply: "250-Ann <ann@x.test>\n250 Bob <bob@x.test>"},
		{Expect: "EXPN secret", Reply: "502 5.5.1 EXPN not allowed"},
		{Expect: "EHLO other.test", Reply: "250 hi"},
		{Expect: "MAIL FROM:<a@x.test>", Reply: "250 ok"},
		{Expect: "RCPT TO:<b@x.test>", Reply: "250 ok"},
		{Expect: "RCPT TO:<c@x.test>", Reply: "550 5.1.1 no such user"},
		{Expect: "RSET", Reply: "250 flushed"},
		{Expect: "QUIT", Reply: "221 bye"},
	}))
	ctx := testCtx(t)
	c := dialT(t, s.Addr(), cleartext())
	if err := c.Noop(ctx); err != nil {
		t.Fatal(err)
	}
	if r, err := c.Verify(ctx, "postmaster"); err != nil || r.Code != 252 || r.Enhanced != (transport.Enhanced{2, 1, 5}) {
		t.Fatalf("Verify = %+v, %v", r, err)
	}
	if r, err := c.Expand(ctx, "staff"); err != nil || !slices.Equal(r.Lines, []string{"Ann <ann@x.test>", "Bob <bob@x.test>"}) {
		t.Fatalf("Expand = %+v, %v", r, err)
	}
	if _, err := c.Expand(ctx, "secret"); transport.CodeOf(err) != transport.Unimplemented {
		t.Fatalf("refused EXPN: %v", err)
	}
	if _, err := c.Verify(ctx, "x\r\nMAIL FROM:<>"); transport.CodeOf(err) != transport.InvalidArgument {
		t.Fatalf("VRFY with CRLF: %v", err)
	}
	if err := c.Hello(ctx, "other.test"); err != nil || len(c.Extensions()) != 0 {
		t.Fatalf("Hello: %v, %v", err, c.Extensions())
	}
	if err := c.Mail(ctx, "a@x.test\r\nRSET", nil); transport.CodeOf(err) != transport.InvalidArgument {
		t.Fatalf("MAIL with CRLF: %v", err)
	}
	if err := c.Mail(ctx, "a@x.test", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt(ctx, "b@x.test", nil); err != nil {
		t.Fatal(err)
	}
	err := c.Rcpt(ctx, "c@x.test", nil)
	wantCode(t, err, transport.NotFound, false)
	if r := replyOf(err); r == nil || r.Code != 550 || r.Enhanced != (transport.Enhanced{5, 1, 1}) || r.Text() != "no such user" {
		t.Fatalf("reply %+v", r)
	}
	if err := c.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Quit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Noop(ctx); err == nil {
		t.Error("NOOP after QUIT succeeded")
	}
}

func TestDialContext(t *testing.T) {
	t.Run("refused", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		_, err = Dial(testCtx(t), addr, cleartext())
		wantCode(t, err, transport.Unavailable, true)
	})
	t.Run("canceled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := Dial(ctx, "127.0.0.1:1", cleartext())
		wantCode(t, err, transport.Canceled, false)
	})
	t.Run("greeting never comes", func(t *testing.T) {
		reached := make(chan struct{})
		s := smtptest.NewScripted(t, script{{Hang: true, Reached: reached}})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			_, err := Dial(ctx, s.Addr(), cleartext())
			done <- err
		}()
		<-reached // connected; the client waits for a greeting that never comes
		cancel()
		err := <-done
		wantCode(t, err, transport.Canceled, false)
		s.Wait()
	})
	t.Run("phase timeout", func(t *testing.T) {
		s := smtptest.NewScripted(t, script{{Hang: true}})
		o := cleartext()
		o.Timeouts.Greeting = 1 // expires at once
		_, err := Dial(testCtx(t), s.Addr(), o)
		wantCode(t, err, transport.DeadlineExceeded, true)
		s.Wait()
	})
}
