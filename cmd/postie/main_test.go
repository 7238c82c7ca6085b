package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net"
	"net/mail"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/postiemail/postie/smtp/smtptest"
)

// The password has characters that must be percent-encoded in a URL, so every form of it
// can be looked for in the output.
const (
	cliUser = "cli"
	cliPass = "p@ss:w0rd/with%stuff"
)

var (
	// srv is shared by the tests of this process. Its CA is trusted only through
	// SSL_CERT_FILE, set in TestMain before anything loads the system roots: a test that
	// gets through STARTTLS proves the CLI honours SSL_CERT_FILE.
	srv   *smtptest.Server
	srvCA string
)

func TestMain(m *testing.M) {
	// A test re-executes this binary as the real command (see runSubprocess).
	if os.Getenv("POSTIE_CLI_SUBPROCESS") == "1" {
		os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
	}
	var err error
	srv, err = smtptest.NewServer(&smtptest.ServerOptions{Users: map[string]string{cliUser: cliPass}})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	srvCA, err = writeCA(os.TempDir(), srv)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Setenv("SSL_CERT_FILE", srvCA)
	os.Unsetenv("SSL_CERT_DIR")
	os.Unsetenv("POSTIE_URL")
	code := m.Run()
	srv.Close()
	os.Remove(srvCA)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

func writeCA(dir string, s *smtptest.Server) (string, error) {
	f, err := os.CreateTemp(dir, "postie-cli-test-ca-*.pem")
	if err != nil {
		return "", err
	}
	_, err = f.Write(s.CACertPEM())
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return f.Name(), err
}

// fresh clears the shared server for one test.
func fresh(t *testing.T) {
	t.Helper()
	srv.Reset()
	srv.ClearFaults()
	t.Cleanup(func() { srv.ClearFaults(); srv.Reset() })
}

func serverURL(s *smtptest.Server, pass string) string {
	u := url.URL{Scheme: "smtp", Host: s.Addr(), User: url.UserPassword(cliUser, pass)}
	return u.String()
}

// secretForms are the ways a password could leak into output.
func secretForms(p string) []string {
	js, _ := json.Marshal(p)
	return []string{p, url.QueryEscape(p), url.PathEscape(p), url.UserPassword("", p).String()[1:], string(js[1 : len(js)-1])}
}

type result struct {
	code           int
	stdout, stderr string
}

// cli runs the command in-process and fails the test if any output holds a password.
func cli(t *testing.T, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(t.Context(), args, &out, &errb)
	r := result{code, out.String(), errb.String()}
	noSecrets(t, r, cliPass, "wrong-Pa55word")
	return r
}

func noSecrets(t *testing.T, r result, passwords ...string) {
	t.Helper()
	for _, p := range passwords {
		for _, s := range secretForms(p) {
			if strings.Contains(r.stdout, s) || strings.Contains(r.stderr, s) {
				t.Errorf("output contains the password in the form %q:\nstdout:\n%s\nstderr:\n%s", s, r.stdout, r.stderr)
			}
		}
	}
}

func wantCode(t *testing.T, r result, code int) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, code, r.stdout, r.stderr)
	}
}

func TestSendEverythingAccepted(t *testing.T) {
	fresh(t)
	dir := t.TempDir()
	att := filepath.Join(dir, "report.csv")
	os.WriteFile(att, []byte("a,b\n1,2\n"), 0o644)
	htmlFile := filepath.Join(dir, "body.html")
	os.WriteFile(htmlFile, []byte("<p>Hello <b>HTML</b></p>"), 0o644)
	r := cli(t, "send", "--url", serverURL(srv, cliPass),
		"--from", "Postie CLI <cli@example.com>",
		"--to", "Ann <ann@example.org>, bob@example.org", "--cc", "carol@example.net", "--bcc", "hidden@example.net",
		"--subject", "Grüße from the CLI", "--text", "Hello text\n", "--html-file", htmlFile,
		"--attach", att, "--header", "X-Campaign: spring", "--header", "List-Id: <news.example.com>")
	wantCode(t, r, exitOK)
	msgs := srv.Messages()
	if len(msgs) != 1 {
		t.Fatalf("server got %d messages", len(msgs))
	}
	m := msgs[0]
	want := []string{"ann@example.org", "bob@example.org", "carol@example.net", "hidden@example.net"}
	if m.From != "cli@example.com" || !slices.Equal(m.To, want) || !m.TLS || m.User != cliUser {
		t.Errorf("envelope %q -> %q, TLS %v, user %q", m.From, m.To, m.TLS, m.User)
	}
	for _, a := range want {
		if !strings.Contains(r.stdout, "accepted    "+a+"\n") {
			t.Errorf("stdout does not list %s as accepted:\n%s", a, r.stdout)
		}
	}
	parsed, err := mail.ReadMessage(bytes.NewReader(m.Raw))
	if err != nil {
		t.Fatal(err)
	}
	h := parsed.Header
	if h.Get("X-Campaign") != "spring" || h.Get("List-Id") != "<news.example.com>" || h.Get("Bcc") != "" {
		t.Errorf("headers: X-Campaign %q, List-Id %q, Bcc %q", h.Get("X-Campaign"), h.Get("List-Id"), h.Get("Bcc"))
	}
	if subj, _ := new(mime.WordDecoder).DecodeHeader(h.Get("Subject")); subj != "Grüße from the CLI" {
		t.Errorf("Subject %q", subj)
	}
	if !strings.Contains(r.stdout, "Message-ID: <"+strings.Trim(h.Get("Message-Id"), "<>")+">") {
		t.Errorf("stdout does not show the Message-ID %s:\n%s", h.Get("Message-Id"), r.stdout)
	}
	if !bytes.Contains(m.Raw, []byte(`filename="report.csv"`)) || !bytes.Contains(m.Raw, []byte("text/html")) {
		t.Errorf("attachment or HTML part missing:\n%s", m.Raw)
	}
}

type sendJSON struct {
	OK        bool   `json:"ok"`
	MessageID string `json:"message_id"`
	QueueID   string `json:"queue_id"`
	Accepted  []string
	Refused   []struct {
		Recipient string
		Class     string
		Temporary bool
		Reply     *struct {
			Code     int
			Enhanced string
			Text     string
		}
	}
	Reply *struct{ Code int }
	Error *struct {
		Class          string
		Temporary      bool
		MaybeDelivered bool `json:"maybe_delivered"`
		Message        string
	}
}

func decodeJSON(t *testing.T, r result) sendJSON {
	t.Helper()
	var v sendJSON
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, r.stdout)
	}
	if dec.More() {
		t.Fatalf("stdout holds more than one JSON value:\n%s", r.stdout)
	}
	return v
}

func sendArgs(url string, extra ...string) []string {
	return append([]string{"send", "--url", url, "--from", "cli@example.com", "--subject", "s", "--text", "t"}, extra...)
}

func TestSendJSON(t *testing.T) {
	fresh(t)
	r := cli(t, sendArgs(serverURL(srv, cliPass), "--to", "a@example.org,b@example.org", "--json")...)
	wantCode(t, r, exitOK)
	v := decodeJSON(t, r)
	m := srv.Messages()[0]
	parsed, _ := mail.ReadMessage(bytes.NewReader(m.Raw))
	if !v.OK || v.Error != nil || v.MessageID != strings.Trim(parsed.Header.Get("Message-Id"), "<>") {
		t.Errorf("ok %v, error %+v, message_id %q (header %q)", v.OK, v.Error, v.MessageID, parsed.Header.Get("Message-Id"))
	}
	if !slices.Equal(v.Accepted, []string{"a@example.org", "b@example.org"}) || len(v.Refused) != 0 {
		t.Errorf("accepted %q refused %+v", v.Accepted, v.Refused)
	}
	if v.QueueID != m.QueueID || v.Reply == nil || v.Reply.Code != 250 {
		t.Errorf("queue_id %q (server %q), reply %+v", v.QueueID, m.QueueID, v.Reply)
	}
}

func TestSendPartial(t *testing.T) {
	fresh(t)
	srv.Inject(smtptest.Fault{At: smtptest.AtRcpt, Recipient: "gone@example.org", Code: 550, Enhanced: [3]int{5, 1, 1}, Text: "no such user"})
	args := sendArgs(serverURL(srv, cliPass), "--to", "ok@example.org,gone@example.org")
	t.Run("text", func(t *testing.T) {
		r := cli(t, args...)
		wantCode(t, r, exitPartial)
		if !strings.Contains(r.stdout, "accepted    ok@example.org") || !strings.Contains(r.stdout, "refused     gone@example.org: 550 5.1.1 no such user (NotFound)") {
			t.Errorf("stdout:\n%s", r.stdout)
		}
	})
	t.Run("json", func(t *testing.T) {
		r := cli(t, append(args, "--json")...)
		wantCode(t, r, exitPartial)
		v := decodeJSON(t, r)
		if v.OK || v.Error != nil || !slices.Equal(v.Accepted, []string{"ok@example.org"}) || len(v.Refused) != 1 {
			t.Fatalf("got %+v", v)
		}
		re := v.Refused[0]
		if re.Recipient != "gone@example.org" || re.Class != "NotFound" || re.Temporary || re.Reply == nil || re.Reply.Code != 550 || re.Reply.Enhanced != "5.1.1" {
			t.Errorf("refusal %+v reply %+v", re, re.Reply)
		}
	})
	if n := len(srv.Messages()); n != 2 {
		t.Errorf("server got %d messages, want 2 (one per run, to the accepted recipient)", n)
	}
}

func TestSendFailures(t *testing.T) {
	closed := func() string { // a loopback port nobody listens on
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		return addr
	}()
	cases := []struct {
		name      string
		fault     *smtptest.Fault
		url       string
		class     string
		temporary bool
		maybe     bool // the outcome is unknown: the server got the whole message
	}{
		{"wrong password", nil, serverURL(srv, "wrong-Pa55word"), "PermissionDenied", false, false},
		{"every recipient refused", &smtptest.Fault{At: smtptest.AtRcpt, Code: 550, Enhanced: [3]int{5, 1, 1}}, serverURL(srv, cliPass), "NotFound", false, false},
		{"421 at EHLO", &smtptest.Fault{At: smtptest.AtHello, Code: 421, Enhanced: [3]int{4, 3, 2}}, serverURL(srv, cliPass), "Unavailable", true, false},
		{"unreachable", nil, "smtp://" + url.UserPassword(cliUser, cliPass).String() + "@" + closed, "Unavailable", true, false},
		{"dropped after the body", &smtptest.Fault{At: smtptest.AtData, Drop: true}, serverURL(srv, cliPass), "Unknown", false, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fresh(t)
			if tc.fault != nil {
				srv.Inject(*tc.fault)
			}
			r := cli(t, sendArgs(tc.url, "--to", "x@example.org", "--json")...)
			wantCode(t, r, exitFailure)
			v := decodeJSON(t, r)
			if v.OK || v.Error == nil || v.Error.Class != tc.class || v.Error.Temporary != tc.temporary || v.Error.MaybeDelivered != tc.maybe || v.MessageID == "" {
				t.Errorf("got %+v error %+v, want class %s temporary %v maybe_delivered %v", v, v.Error, tc.class, tc.temporary, tc.maybe)
			}
			r = cli(t, sendArgs(tc.url, "--to", "x@example.org")...)
			wantCode(t, r, exitFailure)
			if !strings.Contains(r.stderr, "postie send: failed ("+tc.class) {
				t.Errorf("stderr:\n%s", r.stderr)
			}
			if tc.maybe != strings.Contains(r.stderr, "it may have been delivered") {
				t.Errorf("maybe-delivered warning wrong:\n%s", r.stderr)
			}
			if n := len(srv.Messages()); (n != 0) != tc.maybe {
				t.Errorf("the server got %d messages", n)
			}
		})
	}
}

func TestUsageErrors(t *testing.T) {
	fresh(t)
	u := serverURL(srv, cliPass)
	dir := t.TempDir()
	cases := [][]string{
		{},
		{"bogus"},
		{"send", "--url", u, "--to", "a@example.org", "--text", "x"},                             // no --from
		{"send", "--url", u, "--from", "a@example.org", "--text", "x"},                           // no recipient
		{"send", "--from", "a@example.org", "--to", "b@example.org", "--text", "x"},              // no URL
		{"send", "--url", u, "--from", "a@example.org", "--to", "b@example.org"},                 // empty message
		{"send", "--url", u, "--from", "not an address", "--to", "b@example.org", "--text", "x"}, // bad From
		{"send", "--url", u, "--from", "a@example.org", "--to", "b@@example.org", "--text", "x"}, // bad To
		{"send", "--url", u, "--from", "a@example.org", "--to", "b@example.org", "--text", "x", "--text-file", "f"},
		{"send", "--url", u, "--from", "a@example.org", "--to", "b@example.org", "--text-file", filepath.Join(dir, "missing")},
		{"send", "--url", u, "--from", "a@example.org", "--to", "b@example.org", "--text", "x", "--attach", filepath.Join(dir, "missing")},
		{"send", "--url", u, "--from", "a@example.org", "--to", "b@example.org", "--text", "x", "--header", "no colon"},
		{"send", "--url", u, "--from", "a@example.org", "--to", "b@example.org", "--text", "x", "--header", "Subject: reserved"},
		{"send", "--url", u, "--from", "a@example.org", "--to", "b@example.org", "--text", "x", "--nope"},
		{"send", "--url", u, "--from", "a@example.org", "--to", "b@example.org", "--text", "x", "stray"},
		{"send", "--url", "nosuch://host", "--from", "a@example.org", "--to", "b@example.org", "--text", "x"},
		{"send", "--url", u + "?frobnicate=1", "--from", "a@example.org", "--to", "b@example.org", "--text", "x"},
		{"probe"},
		{"probe", u, "extra"},
		{"probe", "--nope", u},
		{"dev", "--addr", "0.0.0.0:2525"},
		{"dev", "--user", "x"},
	}
	for _, args := range cases {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			r := cli(t, args...)
			wantCode(t, r, exitUsage)
			if r.stderr == "" {
				t.Error("no explanation on stderr")
			}
		})
	}
	if len(srv.Messages()) != 0 {
		t.Error("a usage error sent a message")
	}
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"send", "-h"}, {"probe", "-h"}, {"dev", "-h"}} {
		r := cli(t, args...)
		wantCode(t, r, exitOK)
		if r.stdout+r.stderr == "" {
			t.Errorf("%q printed nothing", args)
		}
	}
}

type probeJSON struct {
	Banner     string
	Hello      string
	Extensions map[string]string
	TLS        *struct{ Mode, Version string }
	Auth       *struct {
		Mechanism string
		OK        bool
		Error     string
	}
	AuthMechanisms []string `json:"auth_mechanisms"`
	Error          string
}

func TestProbe(t *testing.T) {
	fresh(t)
	t.Run("text", func(t *testing.T) {
		r := cli(t, "probe", serverURL(srv, cliPass))
		wantCode(t, r, exitOK)
		for _, want := range []string{"banner      smtptest.localhost", "tls         starttls, TLS 1.", "auth offers PLAIN LOGIN CRAM-MD5", "auth        CRAM-MD5 ok", "PIPELINING"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
			}
		}
	})
	t.Run("json after the URL", func(t *testing.T) {
		r := cli(t, "probe", serverURL(srv, cliPass), "--json")
		wantCode(t, r, exitOK)
		var v probeJSON
		if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
			t.Fatalf("%v\n%s", err, r.stdout)
		}
		if v.Hello != "EHLO" || v.TLS == nil || v.TLS.Mode != "starttls" || v.Auth == nil || !v.Auth.OK || v.Error != "" {
			t.Errorf("got %+v", v)
		}
		if _, ok := v.Extensions["PIPELINING"]; !ok {
			t.Errorf("extensions %v", v.Extensions)
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		r := cli(t, "probe", "--json", serverURL(srv, "wrong-Pa55word"))
		wantCode(t, r, exitFailure)
		var v probeJSON
		if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
			t.Fatalf("%v\n%s", err, r.stdout)
		}
		if v.Auth == nil || v.Auth.OK || v.Error == "" || v.TLS == nil {
			t.Errorf("got %+v auth %+v", v, v.Auth)
		}
	})
	t.Run("from POSTIE_URL", func(t *testing.T) {
		t.Setenv("POSTIE_URL", serverURL(srv, cliPass))
		wantCode(t, cli(t, "probe"), exitOK)
	})
	t.Run("unreachable", func(t *testing.T) {
		l, _ := net.Listen("tcp", "127.0.0.1:0")
		addr := l.Addr().String()
		l.Close()
		r := cli(t, "probe", "smtp://"+addr)
		wantCode(t, r, exitFailure)
		if !strings.Contains(r.stderr, "postie probe:") {
			t.Errorf("stderr:\n%s", r.stderr)
		}
	})
}

func TestSendFromStdinAndPostieURL(t *testing.T) {
	fresh(t)
	t.Setenv("POSTIE_URL", serverURL(srv, cliPass))
	r, w, _ := os.Pipe()
	old := os.Stdin
	os.Stdin = r
	t.Cleanup(func() { os.Stdin = old; r.Close() })
	go func() { io.WriteString(w, "from standard input\n.\n..dots\n"); w.Close() }()
	res := cli(t, "send", "--from", "cli@example.com", "--to", "x@example.org", "--subject", "stdin", "--text-file", "-")
	wantCode(t, res, exitOK)
	if raw := srv.Messages()[0].Raw; !bytes.Contains(raw, []byte("from standard input\r\n.\r\n..dots")) {
		t.Errorf("body not as given:\n%s", raw)
	}
}

// runSubprocess runs the test binary as the postie command in a fresh process, with env.
func runSubprocess(t *testing.T, env []string, args ...string) result {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), os.Args[0], args...)
	cmd.Env = append(os.Environ(), "POSTIE_CLI_SUBPROCESS=1")
	cmd.Env = append(cmd.Env, env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{code, out.String(), errb.String()}
}

// TestSSLCertFile checks, in fresh processes, that a private CA is trusted exactly when
// SSL_CERT_FILE names it.
func TestSSLCertFile(t *testing.T) {
	other := smtptest.Start(t, &smtptest.ServerOptions{Users: map[string]string{cliUser: cliPass}})
	ca, err := writeCA(t.TempDir(), other)
	if err != nil {
		t.Fatal(err)
	}
	u := serverURL(other, cliPass)

	r := runSubprocess(t, []string{"SSL_CERT_FILE=" + ca}, "probe", u)
	noSecrets(t, r, cliPass)
	wantCode(t, r, exitOK)
	r = runSubprocess(t, []string{"SSL_CERT_FILE=" + ca}, sendArgs(u, "--to", "x@example.org")...)
	noSecrets(t, r, cliPass)
	wantCode(t, r, exitOK)
	if n := len(other.Messages()); n != 1 {
		t.Fatalf("server got %d messages", n)
	}

	// The shared server's CA does not vouch for this server's certificate.
	r = runSubprocess(t, []string{"SSL_CERT_FILE=" + srvCA}, sendArgs(u, "--to", "x@example.org")...)
	noSecrets(t, r, cliPass)
	wantCode(t, r, exitFailure)
	if !strings.Contains(r.stderr, "certificate") {
		t.Errorf("stderr does not explain the certificate failure:\n%s", r.stderr)
	}
	if n := len(other.Messages()); n != 1 {
		t.Fatalf("an untrusted server got a message")
	}
	r = runSubprocess(t, []string{"SSL_CERT_FILE=" + srvCA}, "probe", u)
	noSecrets(t, r, cliPass)
	wantCode(t, r, exitFailure)
	if !strings.Contains(r.stdout, "tls         not established") || !strings.Contains(r.stderr, "certificate") {
		t.Errorf("probe of an untrusted server:\nstdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
	}
}

func TestDev(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	dir := t.TempDir()
	pr, pw := io.Pipe()
	lines := make(chan string)
	go func() {
		s := bufio.NewScanner(pr)
		for s.Scan() {
			lines <- s.Text()
		}
		close(lines)
	}()
	var errb bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"dev", "--addr", "127.0.0.1:0", "--dir", dir}, pw, &errb)
		pw.Close()
	}()
	first := <-lines
	f := strings.Fields(first)
	addr := ""
	if len(f) > 5 {
		addr = f[5]
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		t.Fatalf("no address in %q", first)
	}
	for l := range lines {
		if strings.HasPrefix(l, "Press Ctrl-C") {
			break
		}
	}
	r := cli(t, sendArgs("smtp://"+addr+"?tls=none", "--to", "dev@example.org")...)
	wantCode(t, r, exitOK)
	arrival := <-lines
	if !strings.Contains(arrival, "message 1 from <cli@example.com> to <dev@example.org>") || !strings.Contains(arrival, filepath.Join(dir, "1.eml")) {
		t.Errorf("arrival line %q", arrival)
	}
	if raw, err := os.ReadFile(filepath.Join(dir, "1.eml")); err != nil || !bytes.Contains(raw, []byte("Subject: s")) {
		t.Errorf("saved message: %v\n%s", err, raw)
	}
	cancel()
	if l := <-lines; l != "postie dev: stopped" {
		t.Errorf("last line %q", l)
	}
	for range lines {
	}
	if code := <-done; code != exitOK {
		t.Errorf("dev exited %d: %s", code, errb.String())
	}
}
