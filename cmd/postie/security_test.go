package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/postiemail/postie/smtp/smtptest"
)

// A hostile server's banner must not reach the terminal as escape sequences (retitling
// the window, moving the cursor, a carriage return overwriting the line); the JSON output
// stays valid and keeps the text.
func TestProbeEscapesServerControlCharacters(t *testing.T) {
	const banner = "evil\x1b]0;owned\x07 \x1b[2J\x7f\u009b31m ESMTP"
	for _, asJSON := range []bool{false, true} {
		s := smtptest.NewScripted(t, smtptest.Script{
			{Reply: "220 " + banner},
			{Expect: "EHLO *", Reply: "250 evil.test"},
			{Expect: "QUIT", Reply: "221 bye"},
		})
		args := []string{"probe", "smtp://" + s.Addr() + "?tls=none"}
		if asJSON {
			args = append(args, "--json")
		}
		r := cli(t, args...)
		wantCode(t, r, exitOK)
		for _, c := range []string{"\x1b", "\x07", "\x7f", "\u009b"} {
			if strings.Contains(r.stdout+r.stderr, c) {
				t.Errorf("json=%v: output holds %q:\n%q", asJSON, c, r.stdout)
			}
		}
		if asJSON {
			var v struct{ Banner string }
			if err := json.Unmarshal([]byte(r.stdout), &v); err != nil || v.Banner != banner {
				t.Errorf("JSON output %q: banner %q, %v", r.stdout, v.Banner, err)
			}
		} else if !strings.Contains(r.stdout, `evil\u001b]0;owned\u0007`) {
			t.Errorf("the banner should show, escaped:\n%s", r.stdout)
		}
		s.Wait()
	}
}

// The dev server listens only on loopback: a name that merely starts like a loopback
// address is refused before anything listens.
func TestDevRefusesNonLoopbackAddr(t *testing.T) {
	for _, addr := range []string{"127.evil.example:2525", "localhost.evil.example:2525", "0.0.0.0:2525", "[::]:2525", "127.0.0.1"} {
		var out, errb bytes.Buffer
		if code := run(context.Background(), []string{"dev", "--addr", addr}, &out, &errb); code != exitUsage || !strings.Contains(errb.String(), "loopback") {
			t.Errorf("--addr %s: exit %d, stderr %q", addr, code, errb.String())
		}
	}
}

// The password is redacted from the output even when the URL does not parse (a "/" in
// the password, not percent-encoded).
func TestRedactorMalformedURL(t *testing.T) {
	var b bytes.Buffer
	r := newRedactor(&b, "smtp://user:pa5s/word@mail.example.com:587")
	r.Write([]byte(`malformed URL "smtp://user:pa5s/word@mail.example.com:587"` + "\n"))
	if strings.Contains(b.String(), "pa5s/word") || !strings.Contains(b.String(), "xxxxx") {
		t.Errorf("got %q", b.String())
	}
}

// The flag package prints every flag's default with -h and after a usage error; the
// password in $POSTIE_URL must not be one of them.
func TestUsageDoesNotShowPostieURL(t *testing.T) {
	t.Setenv("POSTIE_URL", serverURL(srv, cliPass))
	for _, args := range [][]string{{"send", "-h"}, {"send", "--no-such-flag"}, {"probe", "-h"}, {"probe", "--no-such-flag"}} {
		r := cli(t, args...) // cli fails the test on any form of the password in the output
		if r.code != exitOK && r.code != exitUsage {
			t.Errorf("%v: exit %d", args, r.code)
		}
	}
}

// A URL the engine cannot use is a usage error (exit 2, as for send), reported without an
// empty probe report.
func TestProbeBadURLIsUsageError(t *testing.T) {
	for _, u := range []string{"smtp://h?tls=bogus", "smtp://u:pa5s/word@h", "smtp://mail.example.com:25?tls=none", "http://h"} {
		r := cli(t, "probe", u)
		if r.code != exitUsage || strings.Contains(r.stdout, "timings") || !strings.Contains(r.stderr, "postie probe:") {
			t.Errorf("%s: exit %d\nstdout:\n%s\nstderr:\n%s", u, r.code, r.stdout, r.stderr)
		}
		if strings.Contains(r.stdout+r.stderr, "pa5s") {
			t.Errorf("%s: the password shows:\n%s%s", u, r.stdout, r.stderr)
		}
	}
}
