package main

import (
	"bytes"
	"encoding/base64"
	"regexp"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestQuickstart runs the program and checks that its output tells the story the README
// promises: STARTTLS, AUTH, one pipelined transaction, a receipt, and no password.
func TestQuickstart(t *testing.T) {
	var out bytes.Buffer
	if err := run(t.Context(), &out); err != nil {
		t.Fatalf("run: %v\noutput:\n%s", err, out.String())
	}
	s := out.String()
	if !regexp.MustCompile(`(?m)^sent <[0-9a-f]+@shop\.example> to ada@example\.com$`).MatchString(s) {
		t.Errorf("no receipt line in:\n%s", s)
	}
	if !regexp.MustCompile(`(?m)^server reply: 250 `).MatchString(s) {
		t.Errorf("no final 250 reply in:\n%s", s)
	}
	if !strings.Contains(s, `over TLS=true as user "shop"`) {
		t.Errorf("the server did not report a TLS, authenticated delivery:\n%s", s)
	}
	for _, want := range []string{"C: STARTTLS", "S: 220 2.0.0", "C: AUTH ", "S: 235 ", "C: MAIL FROM:<orders@shop.example>", "C: RCPT TO:<ada@example.com>"} {
		if !strings.Contains(s, want) {
			t.Errorf("transcript lacks %q:\n%s", want, s)
		}
	}
	// One pipelined flight: MAIL, RCPT and the body command go out before any reply to them.
	lines := strings.Split(s, "\n")
	mail := indexOf(lines, "C: MAIL FROM:")
	if mail < 0 || mail+3 >= len(lines) {
		t.Fatalf("no MAIL in the transcript:\n%s", s)
	}
	for _, l := range lines[mail : mail+3] {
		if !strings.Contains(l, "] C: ") {
			t.Errorf("the transaction was not pipelined: a reply came before the body was sent:\n%s", strings.Join(lines[mail:], "\n"))
			break
		}
	}
	for _, secret := range []string{"s3cret-pass", base64.StdEncoding.EncodeToString([]byte("\x00shop\x00s3cret-pass"))} {
		if strings.Contains(s, secret) {
			t.Errorf("the output contains the password (%q)", secret)
		}
	}
}

func indexOf(lines []string, sub string) int {
	for i, l := range lines {
		if strings.Contains(l, sub) {
			return i
		}
	}
	return -1
}
