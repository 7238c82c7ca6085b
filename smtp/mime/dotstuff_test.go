package mime_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/postiemail/postie/smtp/mime"
	"github.com/postiemail/postie/transport"
)

// stuffRef is SMTP's transparency rule done the plain way: one more "." before every
// line that starts with ".".
func stuffRef(raw []byte) []byte {
	var b bytes.Buffer
	for len(raw) > 0 {
		line := raw
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			line = raw[:i+1]
		}
		if line[0] == '.' {
			b.WriteByte('.')
		}
		b.Write(line)
		raw = raw[len(line):]
	}
	return b.Bytes()
}

// checkDotStuff checks that Write with DotStuff gives exactly raw (written without it)
// dot-stuffed, and that Size still counts raw.
func checkDotStuff(t *testing.T, m *transport.Message, opts *mime.Options, raw []byte) {
	t.Helper()
	o := mime.Options{DotStuff: true}
	if opts != nil {
		o.Allow8Bit = opts.Allow8Bit
	}
	var b bytes.Buffer
	if err := mime.Write(&b, m, &o); err != nil {
		t.Fatalf("Write with DotStuff: %v", err)
	}
	if want := stuffRef(raw); !bytes.Equal(b.Bytes(), want) {
		i := diffAt(b.Bytes(), want)
		t.Fatalf("DotStuff output differs from the plain output stuffed, at byte %d:\n got %q\nwant %q", i, around(b.Bytes(), i), around(want, i))
	}
	if n, err := mime.Size(m, &o); err != nil || n != int64(len(raw)) {
		t.Fatalf("Size with DotStuff = %d (%v), want %d: SIZE counts the message before stuffing", n, err, len(raw))
	}
}

// TestDotStuff covers every place a line can start with ".": header field names, 7bit,
// 8bit and verbatim bodies (stuffed), quoted-printable (where a leading "." is encoded,
// also after a soft break) and base64 (which cannot hold one).
func TestDotStuff(t *testing.T) {
	dots := ".\r\n..\n.lead\rmid.dle\r\n.\r\n"
	long := strings.Repeat("x", 75) + "." + strings.Repeat("y", 74) + "=.\n" + strings.Repeat("z", 1000) + "\n."
	cases := []struct {
		name string
		edit func(m *transport.Message)
		opts *mime.Options
	}{
		{"7bit text", func(m *transport.Message) { m.Text = dots }, nil},
		{"7bit text and html", func(m *transport.Message) { m.Text, m.HTML = dots, "<p>\n.</p>\n." }, nil},
		{"8bit text", func(m *transport.Message) { m.Text = "Grüße\n" + dots }, &mime.Options{Allow8Bit: true}},
		{"quoted-printable text", func(m *transport.Message) { m.Text = "Grüße\n" + dots }, nil},
		{"quoted-printable soft breaks", func(m *transport.Message) { m.Text = long }, nil},
		{"header name", func(m *transport.Message) {
			m.Text = "x"
			m.Headers = []transport.Field{{Name: ".X-Dot", Value: "a"}, {Name: "..", Value: strings.Repeat("folded value ", 20)}}
		}, nil},
		{"verbatim text attachment", func(m *transport.Message) {
			m.Text = "see attached"
			m.Attachments = []transport.Attachment{{Filename: "a.txt", ContentType: "text/plain", Data: []byte(".a\r\n..b\r\nc.\r\n.")}}
		}, nil},
		{"verbatim alternative", func(m *transport.Message) {
			m.Text = "t"
			m.Alternatives = []transport.Alternative{{ContentType: "application/x-dots", Body: []byte(".\r\n.x\r\n")}}
		}, nil},
		{"single verbatim part", func(m *transport.Message) {
			m.Alternatives = []transport.Alternative{{ContentType: "application/x-dots", Body: []byte(".\r\n.x\r\n")}}
		}, nil},
		{"base64 and opened attachment", func(m *transport.Message) {
			m.Text = dots
			m.Attachments = []transport.Attachment{
				{Filename: "d.bin", ContentType: "application/octet-stream", Data: pseudo(10000, 3)},
				{Filename: "o.txt", ContentType: "text/plain", Open: opener([]byte(".a\r\n.b\r\n"), nil)},
			}
		}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := base()
			c.edit(m)
			raw := render(t, m, c.opts)
			checkDotStuff(t, m, c.opts, raw)
			_, root := parseMessage(t, raw)
			checkContent(t, m, root)
			for _, e := range root.leaves() {
				if e.cte != "quoted-printable" && e.cte != "base64" {
					continue
				}
				for _, line := range strings.Split(string(e.raw), "\r\n") {
					if strings.HasPrefix(line, ".") {
						t.Errorf("a %s line starts with \".\": %q", e.cte, line)
					}
				}
			}
		})
	}
}
