package mime_test

import (
	"bytes"
	"errors"
	stdmime "mime"
	"slices"
	"strings"
	"testing"

	"github.com/postiemail/postie/smtp/mime"
	"github.com/postiemail/postie/transport"
)

// writeOrReject writes m and returns the bytes, or nil when Write refused the message,
// after checking that a refusal is an InvalidArgument error with nothing written.
func writeOrReject(t *testing.T, m *transport.Message, opts *mime.Options) []byte {
	t.Helper()
	var b bytes.Buffer
	err := mime.Write(&b, m, opts)
	if err != nil {
		var te *transport.Error
		if !errors.As(err, &te) || te.Code != transport.InvalidArgument {
			t.Fatalf("Write failed with %v, want an InvalidArgument *transport.Error", err)
		}
		if b.Len() != 0 {
			t.Fatalf("Write refused the message after writing %d bytes", b.Len())
		}
		return nil
	}
	return b.Bytes()
}

func hasCRLF(s ...string) bool {
	return slices.ContainsFunc(s, func(v string) bool { return strings.ContainsAny(v, "\r\n") })
}

// FuzzEncodeHeader checks the header encoders: a subject, a display name, an address, an
// extra field value and a file name must come back exactly, no line may pass 998 characters, and a CR
// or LF in any of them must be refused rather than start a new header field.
func FuzzEncodeHeader(f *testing.F) {
	f.Add("Hello", "Ann", "ann@example.org", "value", "a.pdf")
	f.Add("Grüße aus Köln", "Jörg Müller", "jörg@müller.example", "Grüße", "Rechnung März.pdf")
	f.Add("=?UTF-8?Q?fake?=", `"quoted" \name`, `"odd local"@example.org`, "=?x?=", `"q".txt`)
	f.Add("a\r\nBcc: victim@example.com", "x\nTo: y@z", "a@b\r\nBcc: c@d", "1\r\n2", "a\n.pdf")
	f.Add(strings.Repeat("x", 1100), strings.Repeat("é", 90), strings.Repeat("l", 200)+"@example.org", strings.Repeat("v ", 600), strings.Repeat("长", 100))
	f.Add("  spaced  out  ", " lead", "a..b@[192.0.2.1]", "\ttab", " .dot")
	f.Add("bad \xff utf-8", "\xff\xfe", "\xff@example.org", "\x00\x01", "\xff.bin")
	f.Add("x", "a,b;c:d<e>f@g[h]i\\j", `a\"b@example.org`, "a  b", "%41;b=c")
	f.Fuzz(func(t *testing.T, subject, name, addr, value, filename string) {
		m := base()
		m.Subject = subject
		m.From.Name = name
		m.To[0].Address = addr
		m.Text = "body"
		m.Headers = []transport.Field{{Name: "X-Fuzz", Value: value}}
		m.Attachments = []transport.Attachment{{Filename: filename, ContentType: "application/octet-stream", Data: []byte("data")}}
		raw := writeOrReject(t, m, nil)
		if raw == nil {
			return
		}
		if hasCRLF(subject, name, addr, value, filename) {
			t.Fatalf("a CR or LF in a header value was accepted:\n%s", headerBlock(raw))
		}
		if err := lineError(raw); err != nil {
			t.Fatal(err)
		}
		msg, root := parseMessage(t, raw)
		want := []string{"Cc", "Content-Type", "Date", "From", "Message-Id", "Mime-Version", "To", "X-Fuzz"}
		if subject != "" {
			want = append(want, "Subject")
		}
		slices.Sort(want)
		got := make([]string, 0, len(msg.Header))
		for k := range msg.Header {
			got = append(got, k)
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Fatalf("header fields %v, want %v:\n%s", got, want, headerBlock(raw))
		}
		var dec stdmime.WordDecoder
		if s, err := dec.DecodeHeader(msg.Header.Get("Subject")); err != nil || s != subject {
			t.Errorf("Subject %q came back as %q (%v)", subject, s, err)
		}
		from, err := msg.Header.AddressList("From")
		if err != nil || len(from) != 1 || from[0].Name != name || from[0].Address != m.From.Address {
			t.Errorf("From name %q came back as %v (%v) from %q", name, from, err, msg.Header.Get("From"))
		}
		// net/mail refuses RFC 5321's "[IPv6:...]" literals (it wants a bare IP).
		if to, err := msg.Header.AddressList("To"); !strings.Contains(addr, "@[IPv6:") &&
			(err != nil || len(to) != 1 || to[0].Address != addr || to[0].Name != m.To[0].Name) {
			t.Errorf("To address %q came back as %v (%v) from %q", addr, to, err, msg.Header.Get("To"))
		}
		gv, wv := msg.Header.Get("X-Fuzz"), strings.Trim(value, " \t")
		err = nil
		if !printableText(value) {
			gv, err = dec.DecodeHeader(gv)
			wv = value
		}
		if err != nil || gv != wv {
			t.Errorf("X-Fuzz %q came back as %q (%v)", value, gv, err)
		}
		if len(root.parts) != 2 {
			t.Fatalf("structure %s", root.shape())
		}
		_, ps, err := stdmime.ParseMediaType(first(root.parts[1].header, "Content-Disposition"))
		if filename != "" && (err != nil || ps["filename"] != filename) {
			t.Errorf("filename %q came back as %q (%v)", filename, ps["filename"], err)
		}
	})
}

// FuzzWrite checks the whole writer: whatever the bodies, attachment and alternative, the
// output parses back (strictly) to the same content, Size matches it, no line passes 998
// characters, and with DotStuff the output is exactly the plain one dot-stuffed.
func FuzzWrite(f *testing.F) {
	f.Add("Hello\n", "<p>Hello</p>", []byte("data"), "text/calendar; method=REQUEST", uint8(0))
	f.Add("Grüße\r\n.\r\n", "", []byte{0, 1, 2, 255}, "application/json", uint8(1))
	f.Add(strings.Repeat("a", 1000), "--=_x\n", []byte("line\r\n"), "text/plain", uint8(6))
	f.Add("trailing \t\n\r", "\x00\x7f", []byte(strings.Repeat("b", 5000)), "image/png", uint8(15))
	f.Add("", "", []byte(nil), "", uint8(8))
	f.Fuzz(func(t *testing.T, text, html string, data []byte, ctype string, flags uint8) {
		m := base()
		m.Text, m.HTML = text, html
		a := transport.Attachment{Filename: "f.bin", ContentType: "application/octet-stream", Data: data}
		if flags&1 != 0 {
			a.Data, a.Open = nil, opener(data, nil)
			if flags&2 != 0 {
				a.Size = int64(len(data))
			}
		}
		if flags&4 != 0 {
			a.Inline, a.ContentID = true, "part@fuzz"
		}
		if flags&8 == 0 {
			m.Attachments = []transport.Attachment{a}
		}
		if ctype != "" {
			m.Alternatives = []transport.Alternative{{ContentType: ctype, Body: data}}
		}
		opts := &mime.Options{Allow8Bit: flags&16 != 0}
		raw := writeOrReject(t, m, opts)
		if raw == nil {
			if validMediaType(ctype) && !strings.HasPrefix(strings.ToLower(ctype), "multipart/") && !hasCRLF(ctype) {
				t.Fatalf("Write refused a valid message")
			}
			return
		}
		if err := lineError(raw); err != nil {
			t.Fatal(err)
		}
		if n, err := mime.Size(m, opts); err != nil || n != int64(len(raw)) {
			t.Fatalf("Size = %d (%v), Write wrote %d", n, err, len(raw))
		}
		checkDotStuff(t, m, opts, raw)
		if !opts.Allow8Bit && bytes.ContainsFunc(raw, func(r rune) bool { return r >= 0x80 }) {
			t.Fatal("8-bit byte in the output without Allow8Bit")
		}
		_, root := parseMessage(t, raw)
		for _, e := range root.leaves() {
			if e.cte == "8bit" && !mime.Needs8BitMIME(m, opts) {
				t.Fatal("an 8bit part, but Needs8BitMIME = false")
			}
		}
		checkContent(t, m, root)
	})
}

func validMediaType(v string) bool {
	mt, _, err := stdmime.ParseMediaType(v)
	typ, sub, ok := strings.Cut(mt, "/")
	return err == nil && ok && typ != "" && sub != ""
}
