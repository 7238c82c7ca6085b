package mailer_test

import (
	"context"
	"strings"
	"testing"

	"github.com/postiemail/postie/mailer"
)

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"smtp://user:s3cret@mail.example:587?tls=none": "smtp://user:xxxxx@mail.example:587?tls=xxxxx",
		"smtp://mail.example":                          "smtp://mail.example",
		"sendgrid://?api_key=SG.s3cret&region=eu":      "sendgrid://?api_key=xxxxx&region=xxxxx",
		"sendgrid://?SG.s3cret":                        "sendgrid://?xxxxx",
		"smtp://h#s3cret":                              "smtp://h#xxxxx",
		"user:s3cret@host":                             "user:xxxxx@host",
		"smtp://user:s3/cret@host":                     "smtp://xxxxx@host",
		"smtp://user:s3?cret@host?x=1":                 "smtp://xxxxx@host?xxxxx",
		"smtp://h:bad?key=s3cret":                      "smtp://h:bad?xxxxx",
		"failover(smtp://u:s3cret@a smtp://v:p4ss@b)":  "failover(smtp://u:xxxxx@a smtp://v:xxxxx@b)",
		"roundrobin(ses://?x=s3cret failover(mem://))": "roundrobin(ses://?x=xxxxx failover(mem://))",
		"file:///var/mail":                             "file:///var/mail",
	} {
		if got := mailer.RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

// A URL that does not parse must not leak a piece of its password through url.Parse's
// reason: a password holding "/" ends the authority early, and url.Parse then reports the
// password's start as an invalid port.
func TestOpenTransportMalformedURLHidesPassword(t *testing.T) {
	var m mailer.URLMux
	for _, u := range []string{"smtp://user:s3c/ret@host", "smtp://user:s3c#ret@host", "smtp://user:s3c?ret@host"} {
		_, err := m.OpenTransport(context.Background(), u)
		if err == nil {
			t.Errorf("%s: no error", u)
			continue
		}
		if strings.Contains(err.Error(), "s3c") {
			t.Errorf("%s: the error shows part of the password: %v", u, err)
		}
		if !strings.Contains(err.Error(), "percent-encode") {
			t.Errorf("%s: the error does not say how to fix the URL: %v", u, err)
		}
	}
	// Without user information the reason is kept.
	_, err := m.OpenTransport(context.Background(), "smtp://host:port")
	if err == nil || !strings.Contains(err.Error(), "invalid port") {
		t.Errorf("malformed port: %v", err)
	}
}

// A secret pasted into a query parameter must not come back in the error of an unknown
// scheme.
func TestOpenTransportHidesQueryValues(t *testing.T) {
	var m mailer.URLMux
	_, err := m.OpenTransport(context.Background(), "nosuch://?api_key=SG.s3cret")
	if err == nil || strings.Contains(err.Error(), "s3cret") || !strings.Contains(err.Error(), "api_key=xxxxx") {
		t.Errorf("unknown scheme: %v", err)
	}
}
