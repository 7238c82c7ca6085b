package smtp

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/postiemail/postie/mailer"
	"github.com/postiemail/postie/smtp/smtptest"
	"github.com/postiemail/postie/transport"
)

func TestParseURL(t *testing.T) {
	addr, o, err := ParseURL("smtp://us%40er:p%40ss%2Fw%3Frd@mail.example.com?tls=opportunistic&auth=login&helo=me.example&timeout=30s" +
		"&dial_timeout=5s&max_conns=8&max_messages=50&idle_timeout=20s&health_check_after=2s&all_or_nothing=true&allow_8bit=1&pipelining=false&chunking=false")
	if err != nil {
		t.Fatal(err)
	}
	if addr != "mail.example.com:587" || o.Username != "us@er" || o.Password != "p@ss/w?rd" || o.TLS != TLSOpportunistic ||
		o.Mechanism != "LOGIN" || o.LocalName != "me.example" || o.Timeouts.Mail != 30*time.Second || o.Timeouts.Dial != 5*time.Second ||
		o.MaxConns != 8 || o.MaxMessagesPerConn != 50 || o.IdleTimeout != 20*time.Second || o.HealthCheckAfter != 2*time.Second ||
		!o.AllOrNothing || !o.Allow8Bit || !o.NoPipelining || !o.NoChunking {
		t.Errorf("ParseURL = %q, %+v", addr, o)
	}
	for _, tc := range []struct {
		url, addr string
		tls       TLSPolicy
	}{
		{"smtp://h", "h:587", TLSRequired},
		{"smtp://h:25", "h:25", TLSRequired},
		{"smtp://h:465", "h:465", TLSImplicit},
		{"smtps://h", "h:465", TLSImplicit},
		{"SMTPS://h:2465", "h:2465", TLSImplicit},
		{"smtp://127.0.0.1:1025?tls=none", "127.0.0.1:1025", TLSNone},
		{"smtp://[::1]:25?tls=starttls", "[::1]:25", TLSRequired},
		{"smtp://h:465?tls=required", "h:465", TLSRequired},
	} {
		addr, o, err := ParseURL(tc.url)
		if err != nil || addr != tc.addr || o.TLS != tc.tls {
			t.Errorf("ParseURL(%q) = %q, %v, %v; want %q, %v", tc.url, addr, o, err, tc.addr, tc.tls)
		}
	}
	_, o, err = ParseURL("smtp://me:tok%2Ben@h?auth=xoauth2")
	if err != nil || o.TokenSource == nil || o.Password != "" {
		t.Fatalf("xoauth2: %+v, %v", o, err)
	}
	if tok, _ := o.TokenSource.Token(context.Background()); tok != "tok+en" {
		t.Errorf("token %q", tok)
	}
}

func TestParseURLErrors(t *testing.T) {
	const secret = "Pa55-w0rd"
	cases := map[string]string{
		"smtp://u:" + secret + "@h?bogus=1":           "known parameters: all_or_nothing, allow_8bit, auth, chunking",
		"smtp://u:" + secret + "@h?tls=maybe":         "unknown TLS policy",
		"smtp://u:" + secret + "@h?auth=scram":        "unknown auth",
		"smtp://u:" + secret + "@h?timeout=soon":      "positive duration",
		"smtp://u:" + secret + "@h?max_conns=-1":      "positive integer",
		"smtp://u:" + secret + "@h?insecure=perhaps":  "true or false",
		"smtp://u:" + secret + "@h?tls=none&tls=none": "given 2 times",
		"smtps://u:" + secret + "@h?tls=required":     "smtps:// always uses implicit TLS",
		"http://u:" + secret + "@h":                   "scheme must be smtp or smtps",
		"smtp://u:" + secret + "@/path":               "no host",
		"smtp://u:" + secret + "@h/path":              "unexpected path",
		"smtp://u:" + secret + "/x@h:bad":             "percent-encode",
		"smtp://u:" + secret + "@h?auth=xoauth2&x=%":  "malformed",
		"smtp://u@h?auth=xoauth2":                     "access token",
		"smtp://u:" + secret + "@h?helo=a%20b":        "white space",
	}
	for url, want := range cases {
		_, _, err := ParseURL(url)
		if err == nil {
			t.Errorf("ParseURL(%q) succeeded", url)
			continue
		}
		if !strings.Contains(err.Error(), want) {
			t.Errorf("ParseURL(%q) = %q, want it to contain %q", url, err, want)
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("ParseURL(%q) error shows the password: %q", url, err)
		}
		if transport.CodeOf(err) != transport.InvalidArgument {
			t.Errorf("ParseURL(%q): code %v", url, transport.CodeOf(err))
		}
	}
}

func TestURLSchemesRegistered(t *testing.T) {
	s := smtptest.NewScripted(t, steps(greet(), txnSteps("b@x.test"), quitStep))
	tr, err := mailer.OpenTransport(context.Background(), "smtp://"+s.Addr()+"?tls=none&helo=client.test")
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	var st *Transport
	if !transport.As(tr, &st) || st.cfg.LocalName != "client.test" {
		t.Fatalf("opened %T", tr)
	}
	if _, err := tr.Send(testCtx(t), testMessage("b@x.test")); err != nil {
		t.Fatal(err)
	}
	tr.Close()
	s.Wait()
	if _, err := mailer.OpenTransport(context.Background(), "smtps://u:secret@h?nope=1"); err == nil || strings.Contains(err.Error(), "secret") {
		t.Errorf("smtps with a bad parameter: %v", err)
	}
}

func TestOptionsStringHidesSecrets(t *testing.T) {
	o := Options{Username: "u", Password: "hunter2", TokenSource: TokenSourceFunc(func(context.Context) (string, error) { return "tok", nil })}
	for _, s := range []string{fmt.Sprint(o), fmt.Sprintf("%+v", o), fmt.Sprintf("%v", &o)} {
		if strings.Contains(s, "hunter2") || !strings.Contains(s, Redacted) {
			t.Errorf("formatted options %q", s)
		}
	}
}
