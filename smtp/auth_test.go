package smtp

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"net"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/postiemail/postie/smtp/smtptest"
	"github.com/postiemail/postie/transport"
)

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func TestAuthPlain(t *testing.T) {
	s := smtptest.NewScripted(t, steps(greet("AUTH PLAIN"), []step{
		{Expect: "AUTH PLAIN " + b64("\x00user@x.test\x00pa:ss wörd"), Reply: "235 2.7.0 Authentication successful"},
	}))
	o := cleartext()
	o.Username, o.Password = "user@x.test", "pa:ss wörd"
	c := dialT(t, s.Addr(), o)
	if c.AuthMechanism() != "PLAIN" {
		t.Errorf("mechanism %q", c.AuthMechanism())
	}
}

func TestAuthLoginIgnoresPromptWording(t *testing.T) {
	// Office 365 and others word (and localize) the prompts differently; LOGIN answers by step.
	s := smtptest.NewScripted(t, steps(greet("AUTH LOGIN"), []step{
		{Expect: "AUTH LOGIN", Reply: "334 " + b64("Benutzername:")},
		{Expect: b64("u"), Reply: "334 " + b64("Enter your secret, please")},
		{Expect: b64("secret"), Reply: "235 2.7.0 ok"},
	}))
	o := cleartext()
	o.Username, o.Password, o.Mechanism = "u", "secret", "login"
	c := dialT(t, s.Addr(), o)
	if c.AuthMechanism() != "LOGIN" {
		t.Errorf("mechanism %q", c.AuthMechanism())
	}
	if _, err := LoginAuth("u", "p").Next(context.Background(), 2, nil); err == nil {
		t.Error("a third LOGIN challenge was answered")
	}
}

func TestAuthCRAMMD5(t *testing.T) {
	// RFC 2195 section 2.
	const challenge = "<1896.697170952@postoffice.reston.mci.net>"
	const want = "tim b913a602c7eda7a495b4e6e7334d3890"
	got, err := CRAMMD5Auth("tim", "tanstaaftanstaaf").Next(context.Background(), 0, []byte(challenge))
	if err != nil || string(got) != want {
		t.Fatalf("Next = %q, %v; want %q", got, err, want)
	}
	s := smtptest.NewScripted(t, steps(greet("AUTH LOGIN PLAIN CRAM-MD5"), []step{
		{Expect: "AUTH CRAM-MD5", Reply: "334 PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+"},
		{Expect: "dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw", Reply: "235 Authentication successful."},
	}))
	o := cleartext()
	o.Username, o.Password = "tim", "tanstaaftanstaaf" // no Mechanism: CRAM-MD5 is the strongest offered
	c := dialT(t, s.Addr(), o)
	if c.AuthMechanism() != "CRAM-MD5" {
		t.Errorf("mechanism %q", c.AuthMechanism())
	}
}

// refreshingSource counts Token and Refresh calls.
type refreshingSource struct{ tokens, refreshes atomic.Int32 }

func (r *refreshingSource) Token(context.Context) (string, error) {
	r.tokens.Add(1)
	return "old-token", nil
}

func (r *refreshingSource) Refresh(context.Context) (string, error) {
	r.refreshes.Add(1)
	return "new-token", nil
}

func TestAuthXOAuth2RefreshesOnce(t *testing.T) {
	initial := func(tok string) string { return "AUTH XOAUTH2 " + b64("user=me@x.test\x01auth=Bearer "+tok+"\x01\x01") }
	t.Run("334 then 535, refreshed", func(t *testing.T) {
		s := smtptest.NewScripted(t, steps(greet("AUTH XOAUTH2 PLAIN"), []step{
			{Expect: initial("old-token"), Reply: "334 " + b64(`{"status":"401","schemes":"bearer","scope":"https://mail.google.com/"}`)},
			{Expect: "*", Reply: "535 5.7.8 Username and Password not accepted"},
			{Expect: initial("new-token"), Reply: "235 2.7.0 Accepted"},
		}))
		src := &refreshingSource{}
		o := cleartext()
		o.Username, o.TokenSource = "me@x.test", src
		c := dialT(t, s.Addr(), o)
		if c.AuthMechanism() != "XOAUTH2" || src.tokens.Load() != 1 || src.refreshes.Load() != 1 {
			t.Errorf("mechanism %q, Token calls %d, Refresh calls %d", c.AuthMechanism(), src.tokens.Load(), src.refreshes.Load())
		}
		if cmds := s.Commands(0); len(cmds) < 3 || cmds[2] != "" {
			t.Errorf("the error challenge was not answered with an empty line: %q", cmds)
		}
	})
	t.Run("refused twice", func(t *testing.T) {
		s := smtptest.NewScripted(t, steps(greet("AUTH XOAUTH2"), []step{
			{Expect: initial("tok"), Reply: "535 5.7.8 no"},
			{Expect: initial("tok"), Reply: "535 5.7.8 still no"},
		}))
		var calls atomic.Int32
		o := cleartext()
		o.Username = "me@x.test"
		o.TokenSource = TokenSourceFunc(func(context.Context) (string, error) { calls.Add(1); return "tok", nil })
		_, err := Dial(testCtx(t), s.Addr(), o)
		wantCode(t, err, transport.PermissionDenied, false)
		if calls.Load() != 2 {
			t.Errorf("Token called %d times, want 2 (one retry)", calls.Load())
		}
		s.Wait()
	})
	t.Run("token source fails", func(t *testing.T) {
		s := smtptest.NewScripted(t, steps(greet("AUTH XOAUTH2")))
		o := cleartext()
		o.Username = "me"
		o.TokenSource = TokenSourceFunc(func(context.Context) (string, error) { return "", errors.New("no network") })
		_, err := Dial(testCtx(t), s.Addr(), o)
		wantCode(t, err, transport.PermissionDenied, false)
		s.Wait()
	})
}

// remote dials the scripted server while the configured host is a remote name, so the
// cleartext-credential checks see a host that is not loopback.
func remote(s *smtptest.Scripted, o *Options) (string, *Options) {
	o.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, s.Addr())
	}
	o.TLS = TLSOpportunistic
	return "mail.example.com:587", o
}

func TestAuthRefusedInCleartext(t *testing.T) {
	for _, mech := range []string{"PLAIN", "LOGIN", "XOAUTH2", ""} {
		t.Run("mechanism "+mech, func(t *testing.T) {
			// CRAM-MD5 is offered too: the automatic choice must not fall back to it.
			s := smtptest.NewScripted(t, steps(greet("AUTH PLAIN LOGIN XOAUTH2 CRAM-MD5")))
			o := cleartext()
			o.Username, o.Password, o.Mechanism = "u", "secret", mech
			if mech == "XOAUTH2" {
				o.Password = ""
				o.TokenSource = TokenSourceFunc(func(context.Context) (string, error) { return "tok", nil })
			}
			addr, o := remote(s, o)
			_, err := Dial(testCtx(t), addr, o)
			wantCode(t, err, transport.FailedPrecondition, false)
			if !errors.Is(err, ErrCleartextAuth) || !strings.Contains(err.Error(), "mail.example.com") {
				t.Errorf("err = %v", err)
			}
			s.Wait()
			if got := s.Commands(0); !slices.Equal(got, []string{"EHLO client.test"}) {
				t.Errorf("sent %q; want only the EHLO", got)
			}
		})
	}
	t.Run("CRAM-MD5 in cleartext when asked for by name", func(t *testing.T) {
		s := smtptest.NewScripted(t, steps(greet("AUTH PLAIN CRAM-MD5"), []step{
			{Expect: "AUTH CRAM-MD5", Reply: "334 " + b64("<1.2@x>")},
			{Expect: "*", Reply: "235 ok"},
		}))
		o := cleartext()
		o.Username, o.Password, o.Mechanism = "u", "secret", "CRAM-MD5"
		addr, o := remote(s, o)
		c, err := Dial(testCtx(t), addr, o)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if c.AuthMechanism() != "CRAM-MD5" {
			t.Errorf("mechanism %q", c.AuthMechanism())
		}
	})
}

func TestAuthReplies(t *testing.T) {
	cases := []struct {
		reply string
		code  transport.Code
		temp  bool
	}{
		{"535 5.7.8 Authentication credentials invalid", transport.PermissionDenied, false},
		{"535 Authentication failed", transport.PermissionDenied, false},
		{"534 5.7.9 Please log in with your web browser", transport.PermissionDenied, false},
		{"454 4.7.0 Temporary authentication failure", transport.Unavailable, true},
		{"504 5.5.4 Unrecognized authentication type", transport.Unimplemented, false},
		{"421 4.7.0 Too many failed attempts", transport.Unavailable, true},
	}
	for _, tc := range cases {
		t.Run(tc.reply[:3], func(t *testing.T) {
			s := smtptest.NewScripted(t, steps(greet("AUTH PLAIN"), []step{{Expect: "AUTH PLAIN *", Reply: tc.reply}}))
			o := cleartext()
			o.Username, o.Password = "u", "p"
			_, err := Dial(testCtx(t), s.Addr(), o)
			wantCode(t, err, tc.code, tc.temp)
			if r := replyOf(err); r == nil || r.String() != tc.reply {
				t.Errorf("reply %v, want %q", r, tc.reply)
			}
			s.Wait()
		})
	}
}

func TestAuthNegotiation(t *testing.T) {
	t.Run("no AUTH offered", func(t *testing.T) {
		s := smtptest.NewScripted(t, steps(greet("PIPELINING")))
		o := cleartext()
		o.Username, o.Password = "u", "p"
		_, err := Dial(testCtx(t), s.Addr(), o)
		wantCode(t, err, transport.Unimplemented, false)
		s.Wait()
	})
	t.Run("configured mechanism not offered", func(t *testing.T) {
		s := smtptest.NewScripted(t, steps(greet("AUTH PLAIN")))
		o := cleartext()
		o.Username, o.Password, o.Mechanism = "u", "p", "CRAM-MD5"
		_, err := Dial(testCtx(t), s.Addr(), o)
		wantCode(t, err, transport.Unimplemented, false)
		s.Wait()
	})
	t.Run("no common mechanism", func(t *testing.T) {
		s := smtptest.NewScripted(t, steps(greet("AUTH GSSAPI NTLM")))
		o := cleartext()
		o.Username, o.Password = "u", "p"
		_, err := Dial(testCtx(t), s.Addr(), o)
		wantCode(t, err, transport.Unimplemented, false)
		if !strings.Contains(err.Error(), "GSSAPI NTLM") {
			t.Errorf("err %q does not list the offer", err)
		}
		s.Wait()
	})
	t.Run("auto prefers PLAIN to LOGIN", func(t *testing.T) {
		s := smtptest.NewScripted(t, steps(greet("AUTH LOGIN PLAIN"), []step{{Expect: "AUTH PLAIN *", Reply: "235 ok"}}))
		o := cleartext()
		o.Username, o.Password = "u", "p"
		dialT(t, s.Addr(), o)
	})
	t.Run("bad challenge is cancelled with *", func(t *testing.T) {
		s := smtptest.NewScripted(t, steps(greet("AUTH CRAM-MD5"), []step{
			{Expect: "AUTH CRAM-MD5", Reply: "334 not base64!"},
			{Expect: "*", Reply: "501 5.0.0 cancelled"},
		}))
		o := cleartext()
		o.Username, o.Password = "u", "p"
		_, err := Dial(testCtx(t), s.Addr(), o)
		wantCode(t, err, transport.Internal, false)
		s.Wait()
		if cmds := s.Commands(0); cmds[len(cmds)-1] != "*" {
			t.Errorf("last line %q, want the * cancellation", cmds[len(cmds)-1])
		}
	})
}

func TestAuthFromOptions(t *testing.T) {
	ts := TokenSourceFunc(func(context.Context) (string, error) { return "t", nil })
	bad := []Options{
		{Password: "p"},
		{Mechanism: "PLAIN"},
		{Username: "u", Password: "p", Mechanism: "SCRAM-SHA-1"},
		{Username: "u", Password: "p", Mechanism: "XOAUTH2"},
		{Username: "u", TokenSource: ts, Mechanism: "PLAIN"},
	}
	for _, o := range bad {
		if _, err := authFromOptions(&o); transport.CodeOf(err) != transport.InvalidArgument {
			t.Errorf("%+v: err = %v, want InvalidArgument", o, err)
		} else if strings.Contains(err.Error(), "p\"") {
			t.Errorf("error %q quotes the password", err)
		}
	}
	if a, err := authFromOptions(&Options{}); a != nil || err != nil {
		t.Errorf("no credentials: %v, %v", a, err)
	}
	plain, _, _ := PlainAuth("", "u", "p").Start(context.Background(), &ServerInfo{Name: "localhost"})
	if plain != "PLAIN" {
		t.Errorf("PlainAuth mechanism %q", plain)
	}
	_, ir, _ := PlainAuth("admin", "u", "p").Start(context.Background(), &ServerInfo{Name: "h", TLS: true})
	if !bytes.Equal(ir, []byte("admin\x00u\x00p")) {
		t.Errorf("PLAIN with identity: %q", ir)
	}
}
