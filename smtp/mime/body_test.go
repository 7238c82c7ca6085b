package mime_test

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/postiemail/postie/smtp/mime"
	"github.com/postiemail/postie/transport"
)

func TestTransferEncoding(t *testing.T) {
	cases := []struct {
		name  string
		text  string
		allow bool
		want  string
	}{
		{"ascii", "Hello\nworld\n", false, "7bit"},
		{"ascii 998", strings.Repeat("a", 998) + "\n", false, "7bit"},
		{"ascii 999", strings.Repeat("a", 999) + "\n", false, "quoted-printable"},
		{"long line after CR normalization", "a\r" + strings.Repeat("b", 998), false, "7bit"},
		{"non-ASCII", "Grüße\n", false, "quoted-printable"},
		{"non-ASCII, 8bit allowed", "Grüße\n", true, "8bit"},
		{"non-ASCII long line, 8bit allowed", strings.Repeat("ü", 600), true, "quoted-printable"},
		{"invalid UTF-8, 8bit allowed", "bad \xff byte", true, "quoted-printable"},
		{"NUL", "a\x00b", true, "quoted-printable"},
		{"control", "bell\x07", false, "quoted-printable"},
		{"DEL", "del\x7f", false, "quoted-printable"},
		{"boundary-like line", "text\n--=_0123456789abcdef01234567--\nmore", false, "quoted-printable"},
		{"dashes are fine", "--\n-- \n--=", false, "7bit"},
		{"trailing white space", "trailing   \nspace\t\n", false, "7bit"},
		{"dots", ".\n..\n.leading dot\n", false, "7bit"},
		{"ascii, 8bit allowed", "plain", true, "7bit"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			opts := &mime.Options{Allow8Bit: c.allow}
			for _, multi := range []bool{false, true} {
				m := base()
				m.Text = c.text
				if multi {
					m.HTML = c.text
				}
				raw := render(t, m, opts)
				checkLines(t, raw)
				_, root := parseMessage(t, raw)
				for _, e := range root.leaves() {
					if e.cte != c.want {
						t.Errorf("multipart=%v: %s is %s, want %s", multi, e.mediaType, e.cte, c.want)
					}
					if got, want := string(e.body), expectText(c.text, e, !multi); got != want {
						t.Errorf("multipart=%v: %s = %q, want %q", multi, e.mediaType, got, want)
					}
				}
				if got := mime.Needs8BitMIME(m, opts); got != (c.want == "8bit") {
					t.Errorf("Needs8BitMIME = %v", got)
				}
				if mime.Needs8BitMIME(m, nil) {
					t.Error("Needs8BitMIME without Allow8Bit = true")
				}
				if n, err := mime.Size(m, opts); err != nil || n != int64(len(raw)) {
					t.Errorf("Size = %d (%v), Write wrote %d", n, err, len(raw))
				}
			}
		})
	}
}

func TestLineBreaksNormalized(t *testing.T) {
	m := base()
	m.Text = "unix\nmac\rdos\r\nmixed\n\r\r\n"
	m.HTML = "<p>a</p>\n<p>b</p>"
	raw := render(t, m, nil)
	checkLines(t, raw)
	_, root := parseMessage(t, raw)
	if got := string(root.parts[0].body); got != "unix\r\nmac\r\ndos\r\nmixed\r\n\r\n\r\n" {
		t.Errorf("text = %q", got)
	}
	if got := string(root.parts[1].body); got != "<p>a</p>\r\n<p>b</p>" {
		t.Errorf("html = %q", got)
	}
}

func TestQuotedPrintable(t *testing.T) {
	texts := []string{
		"Grüße " + strings.Repeat("x", 200) + " end",
		strings.Repeat("=", 100),
		strings.Repeat("ü", 100),
		"space at end \nand tab at end\t\nand at the very end ",
		"soft break right before a space: " + strings.Repeat("a", 42) + " b" + "é",
		strings.Repeat("a", 75) + "é\n" + strings.Repeat("b", 74) + " \n" + strings.Repeat("c", 76) + "\n",
		"\x00\x01\x02\x7f\xff",
		"",
	}
	for _, s := range texts {
		m := base()
		m.Text, m.HTML = s, s+"é"
		raw := render(t, m, nil)
		checkLines(t, raw)
		_, root := parseMessage(t, raw) // parseMessage checks QP strictly
		for _, e := range root.leaves() {
			want := s
			if e.mediaType == "text/html" {
				want += "é"
			}
			if want != "" && e.cte != "quoted-printable" && e.cte != "7bit" {
				t.Errorf("%q: cte %s", s, e.cte)
			}
			if got := string(e.body); got != crlf(want) {
				t.Errorf("%s: %q came back as %q", e.mediaType, want, got)
			}
		}
	}
}

func TestSinglePartQPIsExact(t *testing.T) {
	m := base()
	m.Text = "Grüße ohne Zeilenende"
	raw := render(t, m, nil)
	if !bytes.HasSuffix(raw, []byte("=\r\n")) {
		t.Errorf("single-part QP body without a final line break should end in a soft break: %q", raw[len(raw)-20:])
	}
	_, root := parseMessage(t, raw)
	if string(root.body) != m.Text {
		t.Errorf("body = %q", root.body)
	}
}

func TestTextAttachmentVerbatim(t *testing.T) {
	m := base()
	m.Text = "x"
	m.Attachments = []transport.Attachment{
		{Filename: "crlf.txt", ContentType: "text/plain", Data: []byte("line one\r\nline two\r\n")},
		{Filename: "lf.txt", ContentType: "text/plain", Data: []byte("line one\nline two\n")},
		{Filename: "utf8.csv", ContentType: "text/csv; charset=utf-8", Data: []byte("name\r\nJörg\r\n")},
		{Filename: "bin.txt", ContentType: "application/octet-stream", Data: []byte("ascii but not text\r\n")},
	}
	want := map[string]string{"crlf.txt": "7bit", "lf.txt": "base64", "utf8.csv": "base64", "bin.txt": "base64"}
	raw := render(t, m, nil)
	_, root := parseMessage(t, raw)
	checkContent(t, m, root)
	for _, e := range root.parts[1:] {
		name := e.params["name"]
		if e.cte != want[name] {
			t.Errorf("%s: %s, want %s", name, e.cte, want[name])
		}
	}
}

type countingCloser struct {
	io.Reader
	closed *int
}

func (c countingCloser) Close() error { *c.closed++; return nil }

func TestOpenAttachment(t *testing.T) {
	data := pseudo(300000, 11)
	opens, closes := 0, 0
	m := base()
	m.Text = "x"
	m.Attachments = []transport.Attachment{{Filename: "a.bin", Size: int64(len(data)), Open: func() (io.ReadCloser, error) {
		opens++
		return countingCloser{iotestHalfReader{bytes.NewReader(data)}, &closes}, nil
	}}}
	raw := render(t, m, nil)
	if opens != 1 || closes != 1 {
		t.Errorf("Write opened %d and closed %d times, want 1 and 1", opens, closes)
	}
	_, root := parseMessage(t, raw)
	checkContent(t, m, root)
	n, err := mime.Size(m, nil)
	if err != nil || n != int64(len(raw)) {
		t.Errorf("Size = %d (%v), want %d", n, err, len(raw))
	}
	if opens != 2 { // checkContent opened it once; Size with a known Size must not
		t.Errorf("Size opened an attachment whose Size is known")
	}
	m.Attachments[0].Size = 0
	n, err = mime.Size(m, nil)
	if err != nil || n != int64(len(raw)) {
		t.Errorf("Size (unknown length) = %d (%v), want %d", n, err, len(raw))
	}
	if opens != 3 || closes != 3 {
		t.Errorf("Size with an unknown length opened %d / closed %d times in all, want 3 / 3", opens, closes)
	}
}

// iotestHalfReader returns at most half of what is asked, to exercise short reads.
type iotestHalfReader struct{ r io.Reader }

func (h iotestHalfReader) Read(p []byte) (int, error) {
	if len(p) > 1 {
		p = p[:(len(p)+1)/2]
	}
	return h.r.Read(p)
}

func TestAttachmentErrors(t *testing.T) {
	boom := errors.New("boom")
	mk := func(a transport.Attachment) *transport.Message {
		m := base()
		m.Text = "x"
		m.Attachments = []transport.Attachment{a}
		return m
	}
	t.Run("open", func(t *testing.T) {
		m := mk(transport.Attachment{Filename: "a", Open: func() (io.ReadCloser, error) { return nil, boom }})
		if err := mime.Write(io.Discard, m, nil); !errors.Is(err, boom) || !strings.Contains(err.Error(), `"a"`) {
			t.Errorf("Write = %v, want the open error naming the attachment", err)
		}
		if _, err := mime.Size(m, nil); !errors.Is(err, boom) {
			t.Errorf("Size = %v, want the open error", err)
		}
	})
	t.Run("read", func(t *testing.T) {
		closes := 0
		m := mk(transport.Attachment{Filename: "a", Open: func() (io.ReadCloser, error) {
			return countingCloser{io.MultiReader(bytes.NewReader(make([]byte, 100000)), errReader{boom}), &closes}, nil
		}})
		if err := mime.Write(io.Discard, m, nil); !errors.Is(err, boom) {
			t.Errorf("Write = %v, want the read error", err)
		}
		if closes != 1 {
			t.Errorf("closed %d times after a read error", closes)
		}
	})
	t.Run("size mismatch", func(t *testing.T) {
		m := mk(transport.Attachment{Filename: "a", Size: 10, Open: opener([]byte("eleven byte"), nil)})
		var te *transport.Error
		if err := mime.Write(io.Discard, m, nil); !errors.As(err, &te) || te.Code != transport.InvalidArgument {
			t.Errorf("Write = %v, want InvalidArgument for a wrong Size", err)
		}
	})
	t.Run("writer", func(t *testing.T) {
		m := mk(transport.Attachment{Filename: "a", Data: make([]byte, 1<<20)})
		w := &limitWriter{n: 100000}
		if err := mime.Write(w, m, nil); !errors.Is(err, errFull) {
			t.Errorf("Write = %v, want the writer's error", err)
		}
	})
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

var errFull = errors.New("disk full")

type limitWriter struct{ n int }

func (w *limitWriter) Write(p []byte) (int, error) {
	if len(p) > w.n {
		k := w.n
		w.n = 0
		return k, errFull
	}
	w.n -= len(p)
	return len(p), nil
}

func TestBase64Lines(t *testing.T) {
	for _, n := range []int{0, 1, 2, 3, 56, 57, 58, 113, 114, 115, 57 * 1024, 57*1024 + 1, 57*1024*2 - 1, 200003} {
		data := pseudo(n, uint32(n))
		for _, open := range []bool{false, true} {
			m := base()
			m.Text = "x"
			a := transport.Attachment{Filename: "f.bin", Data: data}
			if open {
				a = transport.Attachment{Filename: "f.bin", Open: opener(data, nil)}
			}
			m.Attachments = []transport.Attachment{a}
			raw := render(t, m, nil)
			_, root := parseMessage(t, raw) // strict: full 76-character lines
			if !bytes.Equal(root.parts[1].body, data) {
				t.Errorf("n=%d open=%v: content differs", n, open)
			}
			if s, err := mime.Size(m, nil); err != nil || s != int64(len(raw)) {
				t.Errorf("n=%d open=%v: Size = %d (%v), want %d", n, open, s, err, len(raw))
			}
		}
	}
}
