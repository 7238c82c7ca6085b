package mimebench

import (
	"bytes"
	"encoding/base64"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"testing"

	"github.com/postiemail/postie/bench/internal/fixture"
)

// checkMessage renders with write, parses the result with net/mail and mime/multipart
// and checks the subject, the recipients, the text, the HTML and the attachment bytes.
func checkMessage(t *testing.T, f *fixture.Fixture, write func(io.Writer) error) {
	t.Helper()
	var buf bytes.Buffer
	if err := write(&buf); err != nil {
		t.Fatalf("render: %v", err)
	}
	msg, err := mail.ReadMessage(&buf)
	if err != nil {
		t.Fatalf("net/mail cannot parse: %v", err)
	}
	dec := new(mime.WordDecoder)
	if subj, err := dec.DecodeHeader(msg.Header.Get("Subject")); err != nil || subj != f.Subject {
		t.Errorf("Subject = %q (%v), want %q", subj, err, f.Subject)
	}
	to, err := msg.Header.AddressList("To")
	if err != nil || len(to) != len(f.To) {
		t.Errorf("To = %v (%v), want %d addresses", to, err, len(f.To))
	}
	parts := map[string][]byte{}
	collect(t, msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), msg.Body, parts)
	if got := normalize(parts["text/plain"]); got != normalize([]byte(f.Text)) {
		t.Errorf("text part differs:\n%q\nwant\n%q", got, f.Text)
	}
	if f.HTML != "" && normalize(parts["text/html"]) != normalize([]byte(f.HTML)) {
		t.Errorf("HTML part differs")
	}
	if f.AttachData != nil && !bytes.Equal(parts[f.AttachType], f.AttachData) {
		t.Errorf("attachment: %d bytes back, want the %d sent", len(parts[f.AttachType]), len(f.AttachData))
	}
}

func normalize(b []byte) string {
	return strings.TrimRight(strings.ReplaceAll(string(b), "\r\n", "\n"), "\n")
}

func collect(t *testing.T, ctype, cte string, body io.Reader, parts map[string][]byte) {
	t.Helper()
	mt, params, err := mime.ParseMediaType(ctype)
	if err != nil {
		t.Fatalf("Content-Type %q: %v", ctype, err)
	}
	if strings.HasPrefix(mt, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if err == io.EOF {
				return
			}
			if err != nil {
				t.Fatalf("multipart: %v", err)
			}
			collect(t, p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p, parts)
		}
	}
	var r io.Reader = body
	switch strings.ToLower(cte) {
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, body)
	case "quoted-printable":
		r = quotedprintable.NewReader(body)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("%s body (%s): %v", mt, cte, err)
	}
	parts[mt] = b
}
