package mime_test

import (
	"bytes"
	"errors"
	stdmime "mime"
	"net/mail"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/postiemail/postie/smtp/mime"
	"github.com/postiemail/postie/transport"
)

var encodedWord = regexp.MustCompile(`=\?[^?]+\?[QqBb]\?[^?]*\?=`)

// checkHeaderLines checks the header section: lines of at most 78 characters (76 when
// they hold an encoded word), encoded words of at most 75, nothing but ASCII unless an
// address needs SMTPUTF8.
func checkHeaderLines(t *testing.T, raw []byte, allowUTF8 bool) {
	t.Helper()
	for _, line := range strings.Split(strings.TrimSuffix(headerBlock(raw), "\r\n"), "\r\n") {
		limit := 78
		words := encodedWord.FindAllString(line, -1)
		if len(words) > 0 {
			limit = 76
		}
		if len(line) > limit {
			t.Errorf("header line of %d characters (limit %d): %q", len(line), limit, line)
		}
		for _, w := range words {
			if len(w) > 75 {
				t.Errorf("encoded word of %d characters: %q", len(w), w)
			}
		}
		for i := 0; i < len(line); i++ {
			if c := line[i]; c >= 0x80 && !allowUTF8 || c < ' ' && c != '\t' || c == 0x7f {
				t.Errorf("header byte %#x in %q", c, line)
				break
			}
		}
	}
}

func TestSubjectEncoding(t *testing.T) {
	subjects := []string{
		"Plain",
		"A plain subject that is long enough to need folding at seventy-eight characters, twice over, yes",
		"Grüße",
		"Ünïcödé everywhere: ÄÖÜäöüß ÄÖÜäöüß ÄÖÜäöüß ÄÖÜäöüß ÄÖÜäöüß ÄÖÜäöüß ÄÖÜäöüß ÄÖÜäöüß",
		"日本語の件名はとても長いことがありますので、エンコードされた単語に分割する必要があります。日本語の件名",
		"Emoji 🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉",
		"Looks encoded =?UTF-8?Q?x?= but is not",
		"  leading and trailing  ",
		"tab\tinside and  double  spaces",
		"under_score and ?question= marks",
		strings.Repeat("x", 2000),
		strings.Repeat("word ", 400),
		"ctl\x01char\x7f",
		"bad utf-8 \xff\xfe here",
	}
	var dec stdmime.WordDecoder
	for _, s := range subjects {
		m := base()
		m.Subject = s
		m.Text = "x"
		raw := render(t, m, nil)
		checkLines(t, raw)
		checkHeaderLines(t, raw, false)
		msg, _ := parseMessage(t, raw)
		got, err := dec.DecodeHeader(msg.Header.Get("Subject"))
		if err != nil || got != s {
			t.Errorf("Subject %q came back as %q (%v); header:\n%s", s, got, err, headerBlock(raw))
		}
	}
}

func TestSubjectPlainWhenPossible(t *testing.T) {
	m := base()
	m.Subject = "Your order #1234 has shipped"
	raw := string(render(t, m, nil))
	if !strings.Contains(raw, "\r\nSubject: Your order #1234 has shipped\r\n") {
		t.Errorf("plain ASCII subject not written as is:\n%s", headerBlock([]byte(raw)))
	}
	m.Subject = "Grüße"
	raw = string(render(t, m, nil))
	if !strings.Contains(raw, "\r\nSubject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?=\r\n") {
		t.Errorf("short non-ASCII subject should be one Q word:\n%s", headerBlock([]byte(raw)))
	}
}

func TestAddresses(t *testing.T) {
	cases := []struct {
		addr mail.Address
		want string // the To line, or "" to only check the round trip
	}{
		{mail.Address{Address: "ann@example.org"}, "To: ann@example.org"},
		{mail.Address{Name: "Ann Example", Address: "ann@example.org"}, "To: Ann Example <ann@example.org>"},
		{mail.Address{Name: "Example, Ann", Address: "ann@example.org"}, `To: "Example, Ann" <ann@example.org>`},
		{mail.Address{Name: `Ann "the boss" O\Brien`, Address: "ann@example.org"}, `To: "Ann \"the boss\" O\\Brien" <ann@example.org>`},
		{mail.Address{Name: "Ann J. Example", Address: "ann@example.org"}, `To: "Ann J. Example" <ann@example.org>`},
		{mail.Address{Name: "Ann  Two Spaces", Address: "ann@example.org"}, `To: "Ann  Two Spaces" <ann@example.org>`},
		{mail.Address{Name: "Jörg", Address: "joerg@example.org"}, "To: =?UTF-8?Q?J=C3=B6rg?= <joerg@example.org>"},
		{mail.Address{Name: "=?UTF-8?Q?fake?=", Address: "a@example.org"}, ""},
		{mail.Address{Address: "first.last+tag@example.org"}, "To: first.last+tag@example.org"},
		{mail.Address{Address: "john doe@example.org"}, `To: "john doe"@example.org`},
		{mail.Address{Address: `"odd"@example.org`}, `To: "\"odd\""@example.org`},
		{mail.Address{Address: "a..b@example.org"}, `To: "a..b"@example.org`},
		{mail.Address{Address: "user@[192.0.2.1]"}, "To: user@[192.0.2.1]"},
		{mail.Address{Name: "Ünïcödé " + strings.Repeat("Näme ", 30), Address: "long@example.org"}, ""},
		{mail.Address{Name: strings.Repeat("Long Ascii Name ", 10), Address: "long@example.org"}, ""},
	}
	for _, c := range cases {
		m := base()
		m.To = []mail.Address{c.addr}
		raw := render(t, m, nil)
		checkHeaderLines(t, raw, false)
		if c.want != "" && !strings.Contains(string(raw), "\r\n"+c.want+"\r\n") {
			t.Errorf("%v: want line %q in\n%s", c.addr, c.want, headerBlock(raw))
		}
		msg, _ := parseMessage(t, raw)
		got, err := msg.Header.AddressList("To")
		if err != nil || len(got) != 1 || got[0].Name != c.addr.Name || got[0].Address != c.addr.Address {
			t.Errorf("%v: came back as %v (%v) from %q", c.addr, got, err, msg.Header.Get("To"))
		}
	}
}

func TestAddressListFolding(t *testing.T) {
	m := base()
	m.To = nil
	for i := range 40 {
		m.To = append(m.To, mail.Address{Name: "Recipient Number " + strings.Repeat("x", i%7), Address: "r" + strings.Repeat("y", i) + "@example.org"})
	}
	m.To = append(m.To, mail.Address{Name: "Zoë Ünicode", Address: "zoe@example.org"})
	raw := render(t, m, nil)
	checkHeaderLines(t, raw, false)
	msg, _ := parseMessage(t, raw)
	got, err := msg.Header.AddressList("To")
	if err != nil || len(got) != len(m.To) {
		t.Fatalf("To came back as %d addresses (%v)", len(got), err)
	}
	for i := range got {
		if *got[i] != m.To[i] {
			t.Errorf("To[%d] = %v, want %v", i, got[i], m.To[i])
		}
	}
}

func TestNonASCIIAddress(t *testing.T) {
	m := base()
	m.To = []mail.Address{{Name: "Jürgen", Address: "jürgen@bücher.example"}}
	m.Envelope.To = []string{"jürgen@bücher.example"}
	if !mime.NeedsSMTPUTF8(m) {
		t.Error("NeedsSMTPUTF8 = false for a UTF-8 address")
	}
	raw := render(t, m, nil)
	checkHeaderLines(t, raw, true)
	msg, _ := parseMessage(t, raw)
	got, err := msg.Header.AddressList("To")
	if err != nil || got[0].Address != "jürgen@bücher.example" || got[0].Name != "Jürgen" {
		t.Errorf("To = %v (%v)", got, err)
	}
	if mime.NeedsSMTPUTF8(base()) {
		t.Error("NeedsSMTPUTF8 = true for ASCII addresses")
	}
	m = base()
	m.From.Name = "Bäckerei" // names are encoded words: no SMTPUTF8 needed
	if mime.NeedsSMTPUTF8(m) {
		t.Error("NeedsSMTPUTF8 = true for a non-ASCII display name")
	}
	m.Envelope.From = "bounce@bäckerei.example"
	if !mime.NeedsSMTPUTF8(m) {
		t.Error("NeedsSMTPUTF8 = false for a UTF-8 envelope sender")
	}
}

func TestFilenames(t *testing.T) {
	cases := []struct {
		name     string
		fallback string // the filename= the raw header must carry ("" = the name itself)
		ext      bool   // whether filename*= must be present
	}{
		{"invoice.pdf", "", false},
		{"my invoice (final).pdf", "", false},
		{`quote"and\backslash.txt`, "", false},
		{"Rechnung März.pdf", "Rechnung M_rz.pdf", true},
		{"报告.docx", "__.docx", true},
		{strings.Repeat("very-long-ascii-name-", 6) + ".tar.gz", "", true},
		{strings.Repeat("ä", 200) + ".txt", "", true},
		{"tab\there.txt", "tab_here.txt", true},
	}
	for _, c := range cases {
		m := base()
		m.Text = "see attachment"
		m.Attachments = []transport.Attachment{{Filename: c.name, ContentType: "application/octet-stream", Data: []byte("data")}}
		raw := render(t, m, nil)
		checkLines(t, raw)
		_, root := parseMessage(t, raw)
		att := root.parts[1]
		part := raw[bytes.Index(raw, []byte("Content-Type: application/octet-stream")):]
		checkHeaderLines(t, part, false)
		_, ps, err := stdmime.ParseMediaType(first(att.header, "Content-Disposition"))
		if err != nil || ps["filename"] != c.name {
			t.Errorf("%q: filename came back as %q (%v): %q", c.name, ps["filename"], err, first(att.header, "Content-Disposition"))
		}
		_, cps, err := stdmime.ParseMediaType(first(att.header, "Content-Type"))
		if err != nil || cps["name"] == "" {
			t.Errorf("%q: Content-Type has no name (%v): %q", c.name, err, first(att.header, "Content-Type"))
		}
		hasExt := strings.Contains(first(att.header, "Content-Disposition"), "filename*")
		if hasExt != c.ext {
			t.Errorf("%q: filename* present = %v, want %v", c.name, hasExt, c.ext)
		}
		if hasExt {
			fb := plainParam(first(att.header, "Content-Disposition"), "filename")
			if c.fallback != "" && fb != c.fallback {
				t.Errorf("%q: fallback filename = %q, want %q", c.name, fb, c.fallback)
			}
			if fb == "" || !isPrintableASCII(fb) {
				t.Errorf("%q: no ASCII fallback filename= (%q)", c.name, fb)
			}
		}
	}
}

// plainParam returns the value of key= (not key*=) in a header value, quotes removed.
func plainParam(v, key string) string {
	re := regexp.MustCompile(`(?:^|;)\s*` + regexp.QuoteMeta(key) + `="((?:[^"\\]|\\.)*)"`)
	sub := re.FindStringSubmatch(v)
	if sub == nil {
		return ""
	}
	return strings.NewReplacer(`\"`, `"`, `\\`, `\`).Replace(sub[1])
}

func isPrintableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

func TestHeaderOrder(t *testing.T) {
	m := base()
	m.Text = "x"
	m.ReplyTo = []mail.Address{{Address: "support@example.com"}}
	m.Headers = []transport.Field{
		{Name: "X-Campaign", Value: "spring"},
		{Name: "Sender", Value: "robot@example.com"},
		{Name: "List-Unsubscribe", Value: "<https://example.com/u/1>, <mailto:u@example.com>"},
		{Name: "DKIM-Signature", Value: "v=1; a=rsa-sha256; d=example.com; s=sel; h=From:To:Subject; bh=abc=; b=def="},
		{Name: "Auto-Submitted", Value: "auto-generated"},
	}
	raw := render(t, m, nil)
	got := fieldNames(headerBlock(raw))
	want := []string{"DKIM-Signature", "From", "Sender", "To", "Cc", "Reply-To", "Subject", "Date", "Message-ID",
		"MIME-Version", "X-Campaign", "List-Unsubscribe", "Auto-Submitted", "Content-Type", "Content-Transfer-Encoding"}
	if !slices.Equal(got, want) {
		t.Errorf("header order\n got %v\nwant %v", got, want)
	}
	msg, _ := parseMessage(t, raw)
	for _, f := range m.Headers {
		if g := msg.Header.Get(f.Name); g != f.Value {
			t.Errorf("%s = %q, want %q", f.Name, g, f.Value)
		}
	}
}

func TestExtraHeaderValues(t *testing.T) {
	long := "<https://example.com/unsubscribe/" + strings.Repeat("a", 100) + ">, <mailto:unsubscribe@example.com?subject=" + strings.Repeat("b", 60) + ">"
	m := base()
	m.Text = "x"
	m.Headers = []transport.Field{
		{Name: "List-Unsubscribe", Value: long},
		{Name: "X-Note", Value: "Grüße aus Köln"},
		{Name: "X-Empty", Value: ""},
		{Name: "X-Tab", Value: "a\tb"},
	}
	raw := render(t, m, nil)
	checkLines(t, raw)
	msg, _ := parseMessage(t, raw)
	if got := msg.Header.Get("List-Unsubscribe"); got != long {
		t.Errorf("List-Unsubscribe = %q", got)
	}
	var dec stdmime.WordDecoder
	if got, _ := dec.DecodeHeader(msg.Header.Get("X-Note")); got != "Grüße aus Köln" {
		t.Errorf("X-Note = %q", got)
	}
	if _, ok := msg.Header["X-Empty"]; !ok || msg.Header.Get("X-Empty") != "" {
		t.Errorf("X-Empty = %q", msg.Header.Get("X-Empty"))
	}
	if got := msg.Header.Get("X-Tab"); got != "a\tb" {
		t.Errorf("X-Tab = %q", got)
	}
}

// failWriter fails the test if anything is written to it.
type failWriter struct{ t *testing.T }

func (w failWriter) Write(p []byte) (int, error) {
	w.t.Errorf("Write wrote %d bytes for an invalid message: %q", len(p), p)
	return len(p), nil
}

func TestInvalidMessages(t *testing.T) {
	mod := func(f func(m *transport.Message)) *transport.Message {
		m := base()
		m.Text = "body"
		m.HTML = "<p>body</p>"
		m.Attachments = []transport.Attachment{invoice(), logo()}
		f(m)
		return m
	}
	cases := map[string]*transport.Message{
		"CR in subject":         mod(func(m *transport.Message) { m.Subject = "a\rb" }),
		"LF in subject":         mod(func(m *transport.Message) { m.Subject = "a\nBcc: victim@example.com" }),
		"LF in display name":    mod(func(m *transport.Message) { m.To[0].Name = "Ann\nBcc: x@y" }),
		"CR in address":         mod(func(m *transport.Message) { m.Cc[0].Address = "bob@example.net\r" }),
		"LF in From":            mod(func(m *transport.Message) { m.From.Address = "a@b\n.c" }),
		"LF in Reply-To":        mod(func(m *transport.Message) { m.ReplyTo = []mail.Address{{Name: "x\n", Address: "r@example.com"}} }),
		"CRLF in extra value":   mod(func(m *transport.Message) { m.Headers = []transport.Field{{Name: "X-A", Value: "1\r\nBcc: x@y"}} }),
		"space in header name":  mod(func(m *transport.Message) { m.Headers = []transport.Field{{Name: "X A", Value: "1"}} }),
		"colon in header name":  mod(func(m *transport.Message) { m.Headers = []transport.Field{{Name: "X:A", Value: "1"}} }),
		"empty header name":     mod(func(m *transport.Message) { m.Headers = []transport.Field{{Name: "", Value: "1"}} }),
		"non-ASCII header name": mod(func(m *transport.Message) { m.Headers = []transport.Field{{Name: "X-Ä", Value: "1"}} }),
		"LF in header name":     mod(func(m *transport.Message) { m.Headers = []transport.Field{{Name: "X-A\n", Value: "1"}} }),
		"Bcc as extra header":   mod(func(m *transport.Message) { m.Headers = []transport.Field{{Name: "Bcc", Value: "x@y"}} }),
		"Content-Type as extra": mod(func(m *transport.Message) { m.Headers = []transport.Field{{Name: "content-type", Value: "text/plain"}} }),
		"Subject as extra":      mod(func(m *transport.Message) { m.Headers = []transport.Field{{Name: "Subject", Value: "x"}} }),
		"two Sender fields": mod(func(m *transport.Message) {
			m.Headers = []transport.Field{{Name: "Sender", Value: "a@b"}, {Name: "Sender", Value: "c@d"}}
		}),
		"unfoldable extra value": mod(func(m *transport.Message) {
			m.Headers = []transport.Field{{Name: "X-Long", Value: strings.Repeat("a", 1200)}}
		}),
		"zero Date":                 mod(func(m *transport.Message) { m.Date = time.Time{} }),
		"empty MessageID":           mod(func(m *transport.Message) { m.MessageID = "" }),
		"MessageID with brackets":   mod(func(m *transport.Message) { m.MessageID = "<a@b>" }),
		"MessageID with LF":         mod(func(m *transport.Message) { m.MessageID = "a@b\nX: y" }),
		"empty From":                mod(func(m *transport.Message) { m.From = mail.Address{} }),
		"address without @":         mod(func(m *transport.Message) { m.To[0].Address = "ann" }),
		"address with empty domain": mod(func(m *transport.Message) { m.To[0].Address = "ann@" }),
		"address with bad domain":   mod(func(m *transport.Message) { m.To[0].Address = "ann@exa mple.org" }),
		"address with NUL":          mod(func(m *transport.Message) { m.To[0].Address = "a\x00n@example.org" }),
		"empty address literal":     mod(func(m *transport.Message) { m.To[0].Address = "a@[]" }),
		"bad address literal":       mod(func(m *transport.Message) { m.To[0].Address = "a@[example]" }),
		"bare IPv6 literal":         mod(func(m *transport.Message) { m.To[0].Address = "a@[::1]" }),
		"invalid UTF-8 address":     mod(func(m *transport.Message) { m.To[0].Address = "\xff@example.org" }),
		"inline without ContentID":  mod(func(m *transport.Message) { m.Attachments[1].ContentID = "" }),
		"LF in filename":            mod(func(m *transport.Message) { m.Attachments[0].Filename = "a\n.pdf" }),
		"LF in content type":        mod(func(m *transport.Message) { m.Attachments[0].ContentType = "application/pdf\nX: y" }),
		"bad content type":          mod(func(m *transport.Message) { m.Attachments[0].ContentType = "not a type" }),
		"multipart attachment":      mod(func(m *transport.Message) { m.Attachments[0].ContentType = "multipart/mixed" }),
		"bad Content-ID":            mod(func(m *transport.Message) { m.Attachments[1].ContentID = "a b" }),
		"LF in Content-ID":          mod(func(m *transport.Message) { m.Attachments[1].ContentID = "a\nb" }),
		"LF in alternative type": mod(func(m *transport.Message) {
			m.Alternatives = []transport.Alternative{{ContentType: "text/calendar\n", Body: []byte("x")}}
		}),
		"empty alternative type": mod(func(m *transport.Message) { m.Alternatives = []transport.Alternative{{Body: []byte("x")}} }),
		"multipart alternative type": mod(func(m *transport.Message) {
			m.Alternatives = []transport.Alternative{{ContentType: "multipart/related", Body: []byte("x")}}
		}),
	}
	for name, m := range cases {
		t.Run(name, func(t *testing.T) {
			err := mime.Write(failWriter{t}, m, nil)
			var te *transport.Error
			if !errors.As(err, &te) || te.Code != transport.InvalidArgument {
				t.Fatalf("Write error = %v, want an InvalidArgument *transport.Error", err)
			}
			if !strings.HasPrefix(te.Err.Error(), "mime: ") {
				t.Errorf("error %q does not say where it comes from", te.Err)
			}
			if _, err := mime.Size(m, nil); err == nil {
				t.Error("Size accepted the message Write refused")
			}
			if mime.Needs8BitMIME(m, &mime.Options{Allow8Bit: true}) {
				t.Error("Needs8BitMIME = true for a message Write refuses")
			}
		})
	}
}

func TestDeterministic(t *testing.T) {
	for _, c := range structures() {
		a := render(t, c.m, nil)
		b := render(t, c.m, nil)
		if !bytes.Equal(a, b) {
			t.Errorf("%s: two renders differ", c.name)
		}
		if _, root := parseMessage(t, a); root.parts == nil {
			continue
		}
		m2 := *c.m
		m2.MessageID = "other@postie.example"
		ba, bo := boundaries(a), boundaries(render(t, &m2, nil))
		if slices.Equal(ba, bo) {
			t.Errorf("%s: boundaries %v do not depend on the Message-ID", c.name, ba)
		}
		if s := slices.Compact(slices.Sorted(slices.Values(ba))); len(s) != len(ba) {
			t.Errorf("%s: nested parts share a boundary: %v", c.name, ba)
		}
	}
}

func boundaries(raw []byte) []string {
	var out []string
	for _, m := range regexp.MustCompile(`boundary="([^"]+)"`).FindAllSubmatch(raw, -1) {
		out = append(out, string(m[1]))
	}
	return out
}
