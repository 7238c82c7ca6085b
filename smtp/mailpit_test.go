package smtp_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/http"
	"net/mail"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/postiemail/postie/mailer"
	"github.com/postiemail/postie/smtp"
	"github.com/postiemail/postie/transport"
)

// mailpitEnv are the variables .ci/start-mailpit.sh exports.
var mailpitEnv = []string{"POSTIE_MAILPIT_SMTP", "POSTIE_MAILPIT_API", "POSTIE_MAILPIT_USER", "POSTIE_MAILPIT_PASS", "POSTIE_MAILPIT_CA"}

// mailpit returns the Mailpit settings, skipping the test when they are not set, or
// failing it under CI, where .ci/run must have started Mailpit.
func mailpit(t *testing.T) map[string]string {
	t.Helper()
	env := map[string]string{}
	var missing []string
	for _, k := range mailpitEnv {
		if v := os.Getenv(k); v != "" {
			env[k] = v
		} else {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		msg := fmt.Sprintf("Mailpit interop needs %s; start Mailpit with: bash .ci/start-mailpit.sh /tmp/mp/env && source /tmp/mp/env", strings.Join(missing, ", "))
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return env
}

// mailpitOptions are the engine options for Mailpit: STARTTLS verified against the CA
// file, and the credentials.
func mailpitOptions(t *testing.T, env map[string]string) *smtp.Options {
	t.Helper()
	pem, err := os.ReadFile(env["POSTIE_MAILPIT_CA"])
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("no certificate in %s", env["POSTIE_MAILPIT_CA"])
	}
	return &smtp.Options{
		TLS:       smtp.TLSRequired,
		TLSConfig: &tls.Config{RootCAs: pool},
		Username:  env["POSTIE_MAILPIT_USER"],
		Password:  env["POSTIE_MAILPIT_PASS"],
		MaxConns:  2,
	}
}

func mailpitTransport(t *testing.T, env map[string]string, mechanism string) *smtp.Transport {
	t.Helper()
	opts := mailpitOptions(t, env)
	opts.Mechanism = mechanism
	tr, err := smtp.New(env["POSTIE_MAILPIT_SMTP"], opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

// mpAddress, mpAttachment and mpMessage are the parts of Mailpit's
// GET /api/v1/message/{ID} answer that are compared (internal/storage/structs.go, v1.33.1).
type mpAddress struct{ Name, Address string }

type mpAttachment struct {
	FileName, ContentType, ContentID string
	Size                             uint64
	Checksums                        struct{ SHA256 string }
}

type mpMessage struct {
	ID, MessageID, Subject, Text, HTML, Username, ReturnPath string
	From                                                     *mpAddress
	To, Cc, Bcc, ReplyTo                                     []mpAddress
	Inline, Attachments                                      []mpAttachment
}

type mailpitAPI struct {
	base string
	c    *http.Client
}

func (a *mailpitAPI) get(ctx context.Context, t *testing.T, path string) []byte {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, a.base+path, nil)
	resp, err := a.c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %v: %s", path, resp.Status, err, b)
	}
	return b
}

// find returns the database id of the message with messageID. Mailpit has stored the
// message when the final 250 came back, so one look is enough.
func (a *mailpitAPI) find(ctx context.Context, t *testing.T, messageID string) string {
	t.Helper()
	var list struct {
		Messages []struct{ ID, MessageID string }
	}
	if err := json.Unmarshal(a.get(ctx, t, "/api/v1/messages?limit=500"), &list); err != nil {
		t.Fatal(err)
	}
	for _, m := range list.Messages {
		if m.MessageID == messageID {
			return m.ID
		}
	}
	t.Fatalf("Mailpit has no message with Message-ID %s", messageID)
	return ""
}

// TestMailpit sends messages of every common shape through smtp.Transport to Mailpit, a
// real SMTP server (STARTTLS and AUTH required), and compares what Mailpit stored, read
// back through its HTTP API, with what was sent.
func TestMailpit(t *testing.T) {
	env := mailpit(t)
	ctx := t.Context()
	client := mailer.New(mailpitTransport(t, env, ""), nil)
	ht := &http.Transport{}
	t.Cleanup(ht.CloseIdleConnections) // goleak: no keep-alive goroutines left behind
	api := &mailpitAPI{base: strings.TrimRight(env["POSTIE_MAILPIT_API"], "/"), c: &http.Client{Transport: ht, Timeout: 30 * time.Second}}
	run := fmt.Sprintf("%x", time.Now().UnixNano())

	logo := append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{0, 1, 2, 0xfe, 0xff}, 300)...)
	big := make([]byte, 1<<20)
	for i := range big {
		big[i] = byte(i*31 + i>>9)
	}
	from := mail.Address{Name: "Postie Interop", Address: "interop@postie.example"}
	to := []mail.Address{{Name: "Rita Recipient", Address: "rita@example.org"}}

	cases := []struct {
		name string
		msg  mailer.Message
	}{
		{"text", mailer.Message{Text: "Just text.\nSecond line.\n"}},
		{"text and HTML", mailer.Message{Text: "Text part.\n", HTML: "<html><body><p>HTML <b>part</b>.</p></body></html>"}},
		{"attachments", mailer.Message{
			Text: "Two attachments, one of 1 MiB.\n",
			Attachments: []mailer.Attachment{
				mailer.NewAttachment("data.bin", big),
				mailer.NewAttachment("table.csv", []byte("id,name\r\n1,one\r\n")),
			},
		}},
		{"inline image", mailer.Message{
			Text:        "See the logo.\n",
			HTML:        `<p>Logo: <img src="cid:logo@postie.example"></p>`,
			Attachments: []mailer.Attachment{mailer.Inline(mailer.NewAttachment("logo.png", logo), "logo@postie.example")},
		}},
		{"non-ASCII", mailer.Message{
			From:        mail.Address{Name: "Zoë Ümlaut", Address: "interop@postie.example"},
			To:          []mail.Address{{Name: "山田 太郎", Address: "taro@example.org"}},
			Text:        "Grüße aus Köln! 日本語のテキスト 📬\n",
			HTML:        "<p>Grüße! 日本語 📬</p>",
			Attachments: []mailer.Attachment{mailer.NewAttachment("résumé – 日本語.txt", []byte("ünïcödé content"))},
		}},
		{"cc and bcc", mailer.Message{
			To:      []mail.Address{{Address: "to1@example.org"}, {Name: "To Two", Address: "to2@example.org"}},
			Cc:      []mail.Address{{Name: "Carbon Copy", Address: "cc@example.net"}},
			Bcc:     []mail.Address{{Address: "hidden@example.com"}},
			ReplyTo: []mail.Address{{Address: "replies@postie.example"}},
			Text:    "To, Cc and a hidden Bcc.\n",
		}},
		{"dot lines", mailer.Message{
			Text: ".\n..\n.starts with a dot\n...three\nmiddle\n.\nend\n",
			HTML: "<p>\n.\n..\n</p>\n.",
		}},
		{"AUTH LOGIN", mailer.Message{Text: "Authenticated with LOGIN, as Office 365 requires.\n"}},
	}
	login := mailer.New(mailpitTransport(t, env, "LOGIN"), nil)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			client := client
			if tc.name == "AUTH LOGIN" {
				client = login
			}
			m := tc.msg
			if m.From.Address == "" {
				m.From = from
			}
			if len(m.To) == 0 && len(m.Cc) == 0 {
				m.To = to
			}
			m.Subject = "postie interop " + run + ": " + tc.name
			if tc.name == "non-ASCII" {
				m.Subject += " – Grüße 日本語"
			}
			m.Headers = map[string][]string{"X-Postie-Interop": {run}}
			r, err := client.Send(ctx, &m)
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			compareMailpit(ctx, t, api, env, &m, r)
		})
	}
}

// TestMailpitProbe probes Mailpit: STARTTLS, the mechanisms it offers (PLAIN, LOGIN) and
// the outcome of authentication with good and bad credentials.
func TestMailpitProbe(t *testing.T) {
	env := mailpit(t)
	opts := mailpitOptions(t, env)
	res, err := smtp.Probe(t.Context(), env["POSTIE_MAILPIT_SMTP"], opts)
	if err != nil {
		t.Fatalf("Probe: %v (result %+v)", err, res)
	}
	if res.TLS == nil || res.TLS.Mode != "starttls" || res.TLS.Peer == nil || res.Hello != "EHLO" {
		t.Errorf("TLS %+v, hello %q", res.TLS, res.Hello)
	}
	if !slices.Contains(res.AuthMechanisms, "PLAIN") || !slices.Contains(res.AuthMechanisms, "LOGIN") {
		t.Errorf("AUTH mechanisms %q, want PLAIN and LOGIN", res.AuthMechanisms)
	}
	if res.Auth == nil || !res.Auth.OK {
		t.Errorf("auth %+v", res.Auth)
	}

	opts.Password = "not-the-password"
	res, err = smtp.Probe(t.Context(), env["POSTIE_MAILPIT_SMTP"], opts)
	if err == nil || res == nil || res.Auth == nil || res.Auth.OK {
		t.Fatalf("Probe with a wrong password: err %v, result %+v", err, res)
	}
	if c := transport.CodeOf(err); c != transport.PermissionDenied {
		t.Errorf("wrong password: CodeOf = %v, want PermissionDenied (err %v)", c, err)
	}
	if strings.Contains(fmt.Sprintf("%v %+v", err, *res), "not-the-password") {
		t.Error("the probe result or error shows the password")
	}
}

func compareMailpit(ctx context.Context, t *testing.T, api *mailpitAPI, env map[string]string, m *mailer.Message, r *mailer.Receipt) {
	t.Helper()
	id := api.find(ctx, t, r.MessageID)
	var got mpMessage
	if err := json.Unmarshal(api.get(ctx, t, "/api/v1/message/"+id), &got); err != nil {
		t.Fatal(err)
	}
	if got.Subject != m.Subject {
		t.Errorf("Subject %q, want %q", got.Subject, m.Subject)
	}
	if got.Username != env["POSTIE_MAILPIT_USER"] {
		t.Errorf("Username %q: the message did not arrive over the authenticated session", got.Username)
	}
	if got.ReturnPath != m.From.Address {
		t.Errorf("Return-Path %q, want the envelope sender %q", got.ReturnPath, m.From.Address)
	}
	if got.From == nil || got.From.Address != m.From.Address || got.From.Name != m.From.Name {
		t.Errorf("From %+v, want %+v", got.From, m.From)
	}
	sameAddrs(t, "To", got.To, m.To)
	sameAddrs(t, "Cc", got.Cc, m.Cc)
	sameAddrs(t, "Reply-To", got.ReplyTo, m.ReplyTo)
	// Mailpit lists as Bcc the envelope recipients that no header names: so a Bcc here
	// proves the Bcc recipient was in the envelope, and only there.
	sameAddrs(t, "Bcc (envelope-only recipients)", got.Bcc, m.Bcc)
	if norm(got.Text) != norm(m.Text) {
		t.Errorf("Text:\n got %q\nwant %q", got.Text, m.Text)
	}
	if norm(got.HTML) != norm(m.HTML) {
		t.Errorf("HTML:\n got %q\nwant %q", got.HTML, m.HTML)
	}
	var wantInline, wantAttached []mailer.Attachment
	for _, a := range m.Attachments {
		if a.Inline {
			wantInline = append(wantInline, a)
		} else {
			wantAttached = append(wantAttached, a)
		}
	}
	sameAttachments(t, "Inline", got.Inline, wantInline)
	sameAttachments(t, "Attachments", got.Attachments, wantAttached)

	// The raw message, as Mailpit stored it, parsed with the standard library: the text
	// part must come back byte for byte (dot lines included) after transfer decoding.
	raw := api.get(ctx, t, "/api/v1/message/"+id+"/raw")
	pm, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("raw message: %v", err)
	}
	if got := strings.Trim(pm.Header.Get("Message-Id"), "<>"); got != r.MessageID {
		t.Errorf("raw Message-Id %q, want %q", got, r.MessageID)
	}
	if v := pm.Header.Get("X-Postie-Interop"); v != m.Headers["X-Postie-Interop"][0] {
		t.Errorf("X-Postie-Interop %q", v)
	}
	if m.Text != "" {
		if text, ok := findPart(t, pm.Header.Get("Content-Type"), pm.Body, "text/plain"); !ok || norm(text) != norm(m.Text) {
			t.Errorf("raw text/plain part (found %v):\n got %q\nwant %q", ok, text, m.Text)
		}
	}
}

func sameAddrs(t *testing.T, field string, got []mpAddress, want []mail.Address) {
	t.Helper()
	var g, w []string
	for _, a := range got {
		g = append(g, strings.ToLower(a.Address)+" "+a.Name)
	}
	for _, a := range want {
		w = append(w, strings.ToLower(a.Address)+" "+a.Name)
	}
	slices.Sort(g)
	slices.Sort(w)
	if !slices.Equal(g, w) {
		t.Errorf("%s: got %q, want %q", field, g, w)
	}
}

func sameAttachments(t *testing.T, field string, got []mpAttachment, want []mailer.Attachment) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: Mailpit saw %d, want %d: %+v", field, len(got), len(want), got)
		return
	}
	for i, w := range want {
		g := got[i]
		sum := sha256.Sum256(w.Data)
		wantType, _, _ := mime.ParseMediaType(w.ContentType)
		if g.FileName != w.Filename || g.ContentType != wantType || g.Size != uint64(len(w.Data)) || g.Checksums.SHA256 != hex.EncodeToString(sum[:]) {
			t.Errorf("%s[%d]: got %s %s %d bytes sha256 %s; want %s %s %d bytes sha256 %x",
				field, i, g.FileName, g.ContentType, g.Size, g.Checksums.SHA256, w.Filename, wantType, len(w.Data), sum)
		}
		if w.Inline && g.ContentID != w.ContentID {
			t.Errorf("%s[%d]: Content-ID %q, want %q", field, i, g.ContentID, w.ContentID)
		}
	}
}

// findPart walks a MIME tree and returns the decoded body of the first part of type want.
func findPart(t *testing.T, contentType string, body io.Reader, want string) (string, bool) {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		t.Errorf("Content-Type %q: %v", contentType, err)
		return "", false
	}
	if strings.HasPrefix(mt, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if err != nil {
				return "", false
			}
			if s, ok := findPart(t, p.Header.Get("Content-Type"), decoded(p.Header.Get("Content-Transfer-Encoding"), p), want); ok {
				return s, true
			}
		}
	}
	if mt != want {
		return "", false
	}
	b, err := io.ReadAll(body)
	if err != nil {
		t.Errorf("reading %s: %v", want, err)
	}
	return string(b), true
}

func decoded(cte string, r io.Reader) io.Reader {
	switch strings.ToLower(cte) {
	case "quoted-printable":
		return quotedprintable.NewReader(r)
	case "base64":
		return base64.NewDecoder(base64.StdEncoding, r) // skips line breaks
	}
	return r
}

// norm makes texts comparable across line-ending conventions: Mailpit may hand back LF
// or CRLF, and a trailing line break may be added or kept.
func norm(s string) string {
	return strings.TrimRight(strings.ReplaceAll(s, "\r\n", "\n"), "\n")
}
