// Package stdmime writes a fixture as MIME with nothing but the standard library
// (mime/multipart, mime/quotedprintable, encoding/base64): what a net/smtp user writes by
// hand, and the body net/smtp sends in the benchmark.
package stdmime

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/textproto"
	"time"

	"github.com/postiemail/postie/bench/internal/fixture"
)

// Write renders f to w, streaming: the attachment is base64-encoded straight into w.
func Write(w io.Writer, f *fixture.Fixture, date time.Time, msgID string) error {
	var att io.Reader
	if f.AttachData != nil {
		att = bytes.NewReader(f.AttachData)
	}
	return WriteAttachment(w, f, date, msgID, att)
}

// WriteAttachment is Write with the attachment's content read from att (nil: none)
// instead of f.AttachData.
func WriteAttachment(w io.Writer, f *fixture.Fixture, date time.Time, msgID string, att io.Reader) error {
	bw := bufio.NewWriterSize(w, 32<<10)
	fmt.Fprintf(bw, "From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: <%s>\r\nMIME-Version: 1.0\r\n",
		f.From.String(), f.ToHeader(), mime.QEncoding.Encode("utf-8", f.Subject), date.Format(time.RFC1123Z), msgID)
	var err error
	switch {
	case att != nil:
		mw := multipart.NewWriter(bw)
		fmt.Fprintf(bw, "Content-Type: multipart/mixed; boundary=%s\r\n\r\n", mw.Boundary())
		if err = textPart(mw, "text/plain", f.Text); err != nil {
			return err
		}
		h := textproto.MIMEHeader{}
		h.Set("Content-Type", mime.FormatMediaType(f.AttachType, map[string]string{"name": f.AttachName}))
		h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": f.AttachName}))
		h.Set("Content-Transfer-Encoding", "base64")
		pw, err := mw.CreatePart(h)
		if err != nil {
			return err
		}
		if err = Base64Lines(pw, att); err != nil {
			return err
		}
		err = mw.Close()
	case f.HTML != "":
		mw := multipart.NewWriter(bw)
		fmt.Fprintf(bw, "Content-Type: multipart/alternative; boundary=%s\r\n\r\n", mw.Boundary())
		if err = textPart(mw, "text/plain", f.Text); err != nil {
			return err
		}
		if err = textPart(mw, "text/html", f.HTML); err != nil {
			return err
		}
		err = mw.Close()
	default:
		bw.WriteString("Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n")
		qw := quotedprintable.NewWriter(bw)
		io.WriteString(qw, f.Text)
		err = qw.Close()
	}
	if err != nil {
		return err
	}
	return bw.Flush()
}

func textPart(mw *multipart.Writer, typ, body string) error {
	h := textproto.MIMEHeader{}
	h.Set("Content-Type", typ+"; charset=utf-8")
	h.Set("Content-Transfer-Encoding", "quoted-printable")
	pw, err := mw.CreatePart(h)
	if err != nil {
		return err
	}
	qw := quotedprintable.NewWriter(pw)
	if _, err := io.WriteString(qw, body); err != nil {
		return err
	}
	return qw.Close()
}

// Base64Lines encodes r as base64 in 76-character CRLF lines, in 57-byte groups.
func Base64Lines(w io.Writer, r io.Reader) error {
	in := make([]byte, 57*256)
	out := make([]byte, 0, 78*256)
	for {
		n, err := io.ReadFull(r, in)
		if n > 0 {
			out = out[:0]
			for i := 0; i < n; i += 57 {
				chunk := in[i:min(i+57, n)]
				out = base64.StdEncoding.AppendEncode(out, chunk)
				out = append(out, '\r', '\n')
			}
			if _, werr := w.Write(out); werr != nil {
				return werr
			}
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
