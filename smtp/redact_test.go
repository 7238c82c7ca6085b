package smtp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/postiemail/postie/smtp/smtptest"
	"github.com/postiemail/postie/transport"
)

// A secret pasted into a parameter ParseURL does not know (a password or token given as
// ?password=...) must not come back in the error that names the parameter.
func TestParseURLErrorHidesQueryValues(t *testing.T) {
	const secret = "Pa55-w0rd"
	for _, u := range []string{
		"smtp://u@h?password=" + secret,
		"smtp://u@h?token=" + secret + "&tls=none",
		"smtp://u@h?tls=none&tls=" + secret,
	} {
		_, _, err := ParseURL(u)
		if err == nil {
			t.Errorf("ParseURL(%q) succeeded", u)
			continue
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("ParseURL(%q) error shows the secret: %q", u, err)
		}
	}
	_, _, err := ParseURL("smtp://u@h?password=" + secret)
	if err == nil || !strings.Contains(err.Error(), `unknown parameter "password"`) {
		t.Errorf("the error should still name the parameter: %v", err)
	}
}

// printedForms is v as every fmt verb and both slog handlers show it.
func printedForms(v any) []string {
	var js, txt bytes.Buffer
	slog.New(slog.NewJSONHandler(&js, nil)).Info("m", "v", v)
	slog.New(slog.NewTextHandler(&txt, nil)).Info("m", "v", v)
	return []string{fmt.Sprintf("%v", v), fmt.Sprintf("%+v", v), fmt.Sprintf("%#v", v), fmt.Sprintf("%s", v),
		fmt.Sprint(v), js.String(), txt.String()}
}

func TestOptionsPrintNoSecret(t *testing.T) {
	const pass = "hunter2-Secret"
	for name, v := range map[string]any{
		"Options":                  Options{Username: "u", Password: pass},
		"*Options":                 &Options{Username: "u", Password: pass},
		"Options with Auth":        Options{Auth: PlainAuth("", "u", pass)},
		"struct holding Options":   struct{ O Options }{Options{Password: pass}},
		"struct holding *Options":  struct{ O *Options }{&Options{Password: pass}},
		"slice of Options":         []Options{{Password: pass}},
		"PlainAuth":                PlainAuth("admin", "u", pass),
		"LoginAuth":                LoginAuth("u", pass),
		"CRAMMD5Auth":              CRAMMD5Auth("u", pass),
		"XOAuth2Auth":              XOAuth2Auth("u", staticToken(pass)),
		"automatic choice of mech": mustAuth(t, &Options{Username: "u", Password: pass}),
	} {
		for _, s := range printedForms(v) {
			if strings.Contains(s, pass) {
				t.Errorf("%s printed as %q", name, s)
			}
		}
	}
	if s := fmt.Sprintf("%#v", Options{Username: "u", Password: pass}); !strings.Contains(s, `Username:"u"`) || !strings.Contains(s, "Password:"+Redacted) {
		t.Errorf("%%#v should still show the fields: %s", s)
	}
	if s := fmt.Sprint(PlainAuth("", "u", pass)); !strings.Contains(s, `"u"`) || !strings.Contains(s, Redacted) {
		t.Errorf("an Auth should show its user: %s", s)
	}
}

// staticToken is a TokenSource that is a plain struct, so that printing it would show the
// token.
type staticToken string

func (s staticToken) Token(context.Context) (string, error) { return string(s), nil }

func mustAuth(t *testing.T, o *Options) Auth {
	a, err := authFromOptions(o)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// A TokenSource's error may quote the token (or the token endpoint's answer): the send's
// error keeps it out of its text, and errors.Is still reaches it.
func TestXOAuth2TokenSourceErrorWithheld(t *testing.T) {
	const token = "ya29.EXPIRED-token"
	srcErr := errors.New("token " + token + " expired")
	s := smtptest.NewScripted(t, steps(greet("AUTH XOAUTH2")))
	o := cleartext()
	o.Username = "me"
	o.TokenSource = TokenSourceFunc(func(context.Context) (string, error) { return "", srcErr })
	_, err := Dial(testCtx(t), s.Addr(), o)
	if err == nil || strings.Contains(err.Error(), token) || !errors.Is(err, srcErr) {
		t.Errorf("token source failure: %v (errors.Is %v)", err, errors.Is(err, srcErr))
	}
	wantCode(t, err, transport.PermissionDenied, false)
	s.Wait()

	// The end of the ctx is no secret and says what happened.
	if e := (&tokenError{context.DeadlineExceeded}).Error(); !strings.Contains(e, "deadline exceeded") {
		t.Errorf("ctx error text: %q", e)
	}
}

// A loopback name still works: the connection it makes reaches a loopback address, so the
// check that it does (see config.dial) lets it through.
func TestLoopbackNameDials(t *testing.T) {
	s := smtptest.NewScripted(t, steps(greet("AUTH PLAIN"), []step{
		{Expect: "AUTH PLAIN " + b64("\x00u\x00p"), Reply: "235 ok"},
	}))
	_, port, _ := strings.Cut(s.Addr(), ":")
	o := cleartext()
	o.Username, o.Password = "u", "p"
	c := dialT(t, "localhost:"+port, o)
	if c.AuthMechanism() != "PLAIN" {
		t.Errorf("mechanism %q", c.AuthMechanism())
	}
}

// The transcript hides every AUTH exchange whole, whatever the mechanism and whatever the
// password holds (spaces, colons, non-ASCII): neither the password, nor a word of it, nor
// any base64 the client sent (the combined PLAIN string with an authorization identity,
// LOGIN's two answers, CRAM-MD5's digest, a custom mechanism's response) shows.
func TestTranscriptRedactsEveryMechanism(t *testing.T) {
	const user, pass = "user@x.test", "correct horse: battery stäple"
	const challenge = "<1896.697170952@postoffice.example>"
	cramResp, _ := CRAMMD5Auth(user, pass).Next(context.Background(), 0, []byte(challenge))
	secrets := []string{pass, "horse", "battery", "stäple", b64(pass), b64(user), string(cramResp), b64(string(cramResp)), cramResp2hex(cramResp),
		b64("admin\x00" + user + "\x00" + pass), b64("custom-secret-response")}
	cases := []struct {
		name string
		exts string
		auth []step
		opts func(*Options)
	}{
		{"PLAIN with authzid", "AUTH PLAIN", []step{{Expect: "AUTH PLAIN " + b64("admin\x00"+user+"\x00"+pass), Reply: "235 ok"}},
			func(o *Options) { o.Auth = PlainAuth("admin", user, pass) }},
		{"LOGIN", "AUTH LOGIN", []step{
			{Expect: "AUTH LOGIN", Reply: "334 " + b64("Username:")},
			{Expect: b64(user), Reply: "334 " + b64("Password:")},
			{Expect: b64(pass), Reply: "235 ok"},
		}, func(o *Options) { o.Username, o.Password, o.Mechanism = user, pass, "LOGIN" }},
		{"CRAM-MD5", "AUTH CRAM-MD5 PLAIN", []step{
			{Expect: "AUTH CRAM-MD5", Reply: "334 " + b64(challenge)},
			{Expect: b64(string(cramResp)), Reply: "235 ok"},
		}, func(o *Options) { o.Username, o.Password = user, pass }},
		{"refused PLAIN", "AUTH PLAIN", []step{{Expect: "AUTH PLAIN *", Reply: "535 5.7.8 Authentication credentials invalid"}},
			func(o *Options) { o.Username, o.Password, o.Mechanism = user, pass, "PLAIN" }},
		{"custom mechanism", "AUTH X-CUSTOM", []step{
			{Expect: "AUTH X-CUSTOM", Reply: "334 " + b64("go on")},
			{Expect: b64("custom-secret-response"), Reply: "235 ok"},
		}, func(o *Options) { o.Auth = customAuth{} }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := smtptest.NewScripted(t, steps(greet(tc.exts), tc.auth))
			var tr bytes.Buffer
			o := cleartext()
			o.Transcript = &tr
			tc.opts(o)
			c, err := Dial(testCtx(t), s.Addr(), o)
			if err == nil {
				c.Close()
			}
			out := tr.String()
			for _, secret := range secrets {
				if strings.Contains(out, secret) {
					t.Errorf("transcript contains %q:\n%s", secret, out)
				}
			}
			if err != nil && strings.Contains(err.Error(), pass) {
				t.Errorf("error contains the password: %v", err)
			}
			if !strings.Contains(out, "C: AUTH ") || !strings.Contains(out, Redacted) {
				t.Errorf("transcript does not show the redacted exchange:\n%s", out)
			}
			s.Wait()
		})
	}
}

func cramResp2hex(resp []byte) string {
	_, digest, _ := strings.Cut(string(resp), " ")
	return digest
}

// customAuth is a caller's own mechanism with one challenge.
type customAuth struct{}

func (customAuth) Start(context.Context, *ServerInfo) (string, []byte, error) {
	return "X-CUSTOM", nil, nil
}
func (customAuth) Next(context.Context, int, []byte) ([]byte, error) {
	return []byte("custom-secret-response"), nil
}
