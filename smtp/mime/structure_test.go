package mime_test

import (
	"bytes"
	stdmime "mime"
	"net/mail"
	"slices"
	"strings"
	"testing"

	"github.com/jordan-wright/email"

	"github.com/postiemail/postie/smtp/mime"
	"github.com/postiemail/postie/transport"
)

func render(t testing.TB, m *transport.Message, opts *mime.Options) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := mime.Write(&b, m, opts); err != nil {
		t.Fatalf("Write: %v", err)
	}
	return b.Bytes()
}

// TestStructures parses every layout back with the standard library and with
// jordan-wright/email and compares every header and body with what went in.
func TestStructures(t *testing.T) {
	for _, c := range structures() {
		t.Run(c.name, func(t *testing.T) {
			raw := render(t, c.m, nil)
			checkLines(t, raw)
			msg, root := parseMessage(t, raw)
			if got := root.shape(); got != c.shape {
				t.Fatalf("structure = %s, want %s", got, c.shape)
			}
			checkHeaders(t, c.m, msg.Header, raw)
			checkContent(t, c.m, root)
			checkJordanWright(t, c.m, raw, root.parts == nil)
		})
	}
}

func checkHeaders(t *testing.T, m *transport.Message, h mail.Header, raw []byte) {
	t.Helper()
	var dec stdmime.WordDecoder
	addrs := func(name string, want []mail.Address) {
		t.Helper()
		if len(want) == 0 {
			if _, ok := h[name]; ok {
				t.Errorf("%s written for an empty list", name)
			}
			return
		}
		got, err := h.AddressList(name)
		if err != nil {
			t.Fatalf("%s: %v (%q)", name, err, h.Get(name))
		}
		if len(got) != len(want) {
			t.Fatalf("%s = %v, want %v", name, got, want)
		}
		for i := range got {
			if got[i].Name != want[i].Name || got[i].Address != want[i].Address {
				t.Errorf("%s[%d] = %q <%s>, want %q <%s>", name, i, got[i].Name, got[i].Address, want[i].Name, want[i].Address)
			}
		}
	}
	addrs("From", []mail.Address{m.From})
	addrs("To", m.To)
	addrs("Cc", m.Cc)
	addrs("Reply-To", m.ReplyTo)
	if _, ok := h["Bcc"]; ok {
		t.Error("Bcc header written")
	}
	for _, b := range m.Bcc {
		if bytes.Contains(raw, []byte(b.Address)) || (b.Name != "" && bytes.Contains(raw, []byte(b.Name))) {
			t.Errorf("Bcc recipient %v appears in the output", b)
		}
	}
	subj, err := dec.DecodeHeader(h.Get("Subject"))
	if err != nil || subj != m.Subject {
		t.Errorf("Subject = %q (%v), want %q", subj, err, m.Subject)
	}
	d, err := h.Date()
	if err != nil || !d.Equal(m.Date) {
		t.Errorf("Date = %v (%v), want %v", d, err, m.Date)
	}
	if got := h.Get("Message-Id"); got != "<"+m.MessageID+">" {
		t.Errorf("Message-ID = %q", got)
	}
	if got := h.Get("Mime-Version"); got != "1.0" {
		t.Errorf("MIME-Version = %q", got)
	}
	for _, f := range m.Headers {
		got, want := h.Get(f.Name), strings.Trim(f.Value, " \t")
		if !printableText(f.Value) {
			// Values that are not printable ASCII are written as RFC 2047 encoded words.
			got, err = dec.DecodeHeader(got)
			want = f.Value
		}
		if err != nil || got != want {
			t.Errorf("%s = %q (%v), want %q", f.Name, got, err, want)
		}
	}
	names := fieldNames(headerBlock(raw))
	want := []string{"From", "To", "Cc", "Reply-To", "Subject", "Date", "Message-ID", "MIME-Version"}
	want = slices.DeleteFunc(want, func(n string) bool { _, ok := h[textprotoKey(n)]; return !ok })
	if got := names[:len(want)]; !slices.Equal(got, want) {
		t.Errorf("header order = %v, want it to start %v", names, want)
	}
}

func textprotoKey(n string) string {
	if n == "Message-ID" {
		return "Message-Id"
	}
	if n == "MIME-Version" {
		return "Mime-Version"
	}
	return n
}

// expectText is what a text body decodes to: CRLF line breaks, plus the final CRLF a
// single-part 7bit or 8bit body gets.
func expectText(s string, e *entity, single bool) string {
	s = crlf(s)
	if single && s != "" && !strings.HasSuffix(s, "\r\n") && e.cte != "quoted-printable" {
		s += "\r\n"
	}
	return s
}

func checkContent(t *testing.T, m *transport.Message, root *entity) {
	t.Helper()
	single := root.parts == nil
	leaves := root.leaves()
	seen := 0
	textDone, htmlDone := m.Text == "", m.HTML == ""
	if m.Text == "" && m.HTML == "" && len(m.Alternatives) == 0 && len(m.Attachments) == 0 {
		textDone = false // the empty text/plain part of an empty message
	}
	altNext := 0
	for _, e := range leaves {
		disp, dparams, _ := stdmime.ParseMediaType(first(e.header, "Content-Disposition"))
		switch {
		case disp != "":
			a := findAttachment(m, dparams["filename"], strings.Trim(first(e.header, "Content-Id"), "<>"))
			if a == nil {
				t.Errorf("unexpected attachment %q", dparams["filename"])
				continue
			}
			want := a.Data
			if want == nil {
				r, _ := a.Reader()
				want = readAll(t, r)
			}
			if !bytes.Equal(e.body, want) {
				t.Errorf("attachment %q: %d bytes back, want %d equal bytes", a.Filename, len(e.body), len(want))
			}
			if wantDisp := map[bool]string{true: "inline", false: "attachment"}[a.Inline]; disp != wantDisp {
				t.Errorf("attachment %q: disposition %q, want %q", a.Filename, disp, wantDisp)
			}
			if _, ps, _ := stdmime.ParseMediaType(first(e.header, "Content-Type")); a.Filename != "" && ps["name"] == "" {
				t.Errorf("attachment %q: no name parameter", a.Filename)
			}
			seen++
		case e.mediaType == "text/plain" && !textDone:
			textDone = true
			if got, want := string(e.body), expectText(m.Text, e, single); got != want {
				t.Errorf("text = %q, want %q", got, want)
			}
			checkCharset(t, e)
			seen++
		case e.mediaType == "text/html" && !htmlDone:
			htmlDone = true
			if got, want := string(e.body), expectText(m.HTML, e, single); got != want {
				t.Errorf("html = %q, want %q", got, want)
			}
			checkCharset(t, e)
			seen++
		default:
			if altNext >= len(m.Alternatives) {
				t.Errorf("unexpected part %s", e.mediaType)
				continue
			}
			alt := &m.Alternatives[altNext]
			altNext++
			if mt, _, _ := stdmime.ParseMediaType(alt.ContentType); mt != e.mediaType {
				t.Errorf("alternative %d is %s, want %s", altNext-1, e.mediaType, mt)
			}
			want := string(alt.Body)
			if strings.HasPrefix(e.mediaType, "text/") {
				want = expectText(want, e, single)
			}
			if string(e.body) != want {
				t.Errorf("%s = %q, want %q", e.mediaType, e.body, want)
			}
			_, wantParams, _ := stdmime.ParseMediaType(alt.ContentType)
			for k, v := range wantParams {
				if e.params[k] != v {
					t.Errorf("%s: parameter %s = %q, want %q", e.mediaType, k, e.params[k], v)
				}
			}
			seen++
		}
	}
	if want := len(m.Attachments) + len(m.Alternatives) + nonEmpty(m.Text, m.HTML); seen != want && !(want == 0 && seen == 1) {
		t.Errorf("%d parts checked, want %d", seen, want)
	}
}

func checkCharset(t *testing.T, e *entity) {
	t.Helper()
	if cs := strings.ToLower(e.params["charset"]); cs != "utf-8" {
		t.Errorf("%s charset = %q, want utf-8", e.mediaType, cs)
	}
}

func nonEmpty(s ...string) int {
	n := 0
	for _, x := range s {
		if x != "" {
			n++
		}
	}
	return n
}

func findAttachment(m *transport.Message, filename, cid string) *transport.Attachment {
	for i := range m.Attachments {
		a := &m.Attachments[i]
		if a.Filename == filename && (cid == "" || a.ContentID == cid) {
			return a
		}
	}
	return nil
}

// checkJordanWright reads raw with jordan-wright/email, an independent parser.
func checkJordanWright(t *testing.T, m *transport.Message, raw []byte, single bool) {
	t.Helper()
	e, err := email.NewEmailFromReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("jordan-wright/email: %v", err)
	}
	if e.Subject != m.Subject {
		t.Errorf("jw Subject = %q, want %q", e.Subject, m.Subject)
	}
	// jw decodes the whole From field as text, so a display name sent as encoded words
	// comes back unquoted ("a, b <x@y>"), which ParseAddress may refuse or trim: accept
	// that form too.
	from, err := mail.ParseAddress(e.From)
	if !(err == nil && from.Address == m.From.Address && strings.TrimSpace(from.Name) == strings.TrimSpace(m.From.Name) ||
		m.From.Name != "" && strings.HasPrefix(e.From, m.From.Name+" <")) {
		t.Errorf("jw From = %q (%v), want %v", e.From, err, m.From)
	}
	// jw splits address lists at every comma, quoted or not: count only when no name has one.
	if !slices.ContainsFunc(m.To, func(a mail.Address) bool { return strings.Contains(a.Name, ",") }) && len(e.To) != len(m.To) {
		t.Errorf("jw To = %v, want %v", e.To, m.To)
	}
	if len(e.Bcc) != 0 {
		t.Errorf("jw Bcc = %v", e.Bcc)
	}
	plain := func(s string) string {
		if single && s != "" && !strings.HasSuffix(crlf(s), "\r\n") {
			// jw reads a single part raw: the final CRLF Write adds (or the QP soft break) is
			// what a reader sees.
			if bytes.Contains(raw, []byte("Content-Transfer-Encoding: quoted-printable")) {
				return crlf(s)
			}
			return crlf(s) + "\r\n"
		}
		return crlf(s)
	}
	if m.Text != "" && string(e.Text) != plain(m.Text) {
		t.Errorf("jw Text = %q, want %q", e.Text, plain(m.Text))
	}
	if m.HTML != "" && string(e.HTML) != plain(m.HTML) {
		t.Errorf("jw HTML = %q, want %q", e.HTML, plain(m.HTML))
	}
	n := 0
	for i := range m.Attachments {
		a := &m.Attachments[i]
		if a.Inline && m.HTML != "" && a.Filename == "" {
			continue
		}
		n++
		var got *email.Attachment
		for _, ja := range e.Attachments {
			if ja.Filename == a.Filename {
				got = ja
			}
		}
		if got == nil {
			t.Errorf("jw: attachment %q missing (have %d)", a.Filename, len(e.Attachments))
			continue
		}
		want := a.Data
		if want == nil {
			r, _ := a.Reader()
			want = readAll(t, r)
		}
		if !bytes.Equal(got.Content, want) {
			t.Errorf("jw: attachment %q differs (%d bytes, want %d)", a.Filename, len(got.Content), len(want))
		}
	}
	if len(e.Attachments) != n {
		t.Errorf("jw: %d attachments, want %d", len(e.Attachments), n)
	}
}
