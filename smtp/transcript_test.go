package smtp

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/postiemail/postie/smtp/smtptest"
)

func TestTranscriptRedacts(t *testing.T) {
	const user, pass, token = "user@x.test", "hunter2-Secret", "ya29.TOKEN-value"
	body := []step{
		{Expect: "MAIL FROM:<a@example.com>", Reply: "250 ok"},
		{Expect: "RCPT TO:<b@x.test>", Reply: "250 ok"},
		{Expect: "DATA", Reply: "354 go"},
		{Body: true, Reply: "250 2.0.0 queued as Q1"},
	}
	cases := []struct {
		name  string
		exts  string
		auth  []step
		opts  func(*Options)
		wants []string
	}{
		{"PLAIN", "AUTH PLAIN", []step{{Expect: "AUTH PLAIN " + b64("\x00"+user+"\x00"+pass), Reply: "235 2.7.0 ok"}},
			func(o *Options) { o.Username, o.Password = user, pass }, []string{"C: AUTH PLAIN [redacted]", "S: 235 2.7.0 ok"}},
		{"LOGIN", "AUTH LOGIN", []step{
			{Expect: "AUTH LOGIN", Reply: "334 " + b64("Username:")},
			{Expect: b64(user), Reply: "334 " + b64("Password:")},
			{Expect: b64(pass), Reply: "235 ok"},
		}, func(o *Options) { o.Username, o.Password = user, pass }, []string{"C: AUTH LOGIN", "S: 334 [redacted]", "C: [redacted]"}},
		{"XOAUTH2", "AUTH XOAUTH2", []step{
			{Expect: "AUTH XOAUTH2 *", Reply: "334 " + b64(`{"status":"400"}`)},
			{Expect: "*", Reply: "535 5.7.8 no"},
			{Expect: "AUTH XOAUTH2 *", Reply: "235 ok"},
		}, func(o *Options) {
			o.Username = user
			o.TokenSource = TokenSourceFunc(func(context.Context) (string, error) { return token, nil })
		}, []string{"C: AUTH XOAUTH2 [redacted]", "S: 535 5.7.8 no"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := smtptest.NewScripted(t, steps(greet(tc.exts), tc.auth, body))
			var tr bytes.Buffer
			o := cleartext()
			o.Transcript = &tr
			tc.opts(o)
			c := dialT(t, s.Addr(), o)
			m := testMessage("b@x.test")
			m.Text = "the body text " + pass + "\r\n"
			if _, err := c.Send(testCtx(t), m); err != nil {
				t.Fatal(err)
			}
			out := tr.String()
			for _, secret := range []string{pass, b64(pass), token, b64("\x00" + user + "\x00" + pass),
				b64("user=" + user + "\x01auth=Bearer " + token + "\x01\x01"), "the body text"} {
				if strings.Contains(out, secret) {
					t.Errorf("transcript contains %q:\n%s", secret, out)
				}
			}
			wants := append(tc.wants, "S: 220 scripted.test ESMTP", "C: EHLO client.test", "C: MAIL FROM:<a@example.com>",
				"C: [message body, ", "C: .", "S: 250 2.0.0 queued as Q1")
			for _, w := range wants {
				if !strings.Contains(out, w) {
					t.Errorf("transcript lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

func TestTranscriptBDATAndPool(t *testing.T) {
	s := smtptest.NewScripted(t, steps(greet("CHUNKING"), []step{
		{Expect: "MAIL FROM:<a@example.com>", Reply: "250 ok"},
		{Expect: "RCPT TO:<b@x.test>", Reply: "250 ok"},
		{Expect: "BDAT *", Body: true, Reply: "250 ok"},
		{Expect: "QUIT", Reply: "221 bye"},
	}))
	var tr bytes.Buffer
	o := cleartext()
	o.Transcript = &tr
	tp, err := New(s.Addr(), o)
	if err != nil {
		t.Fatal(err)
	}
	m := testMessage("b@x.test")
	if _, err := tp.Send(testCtx(t), m); err != nil {
		t.Fatal(err)
	}
	tp.Close()
	n := len(rendered(t, m, nil))
	out := tr.String()
	for _, w := range []string{"[1] C: BDAT " + itoa(n) + " LAST", "[1] C: [message body, " + itoa(n) + " bytes]", "[1] C: QUIT", "[1] S: 221 bye"} {
		if !strings.Contains(out, w) {
			t.Errorf("transcript lacks %q:\n%s", w, out)
		}
	}
	if strings.Contains(out, "Hello there") {
		t.Errorf("transcript shows the body:\n%s", out)
	}
}
