package libs

import (
	"io"
	"net/mail"
	"sync"

	"github.com/postiemail/postie/mailer"
	"github.com/postiemail/postie/smtp/mime"

	"github.com/postiemail/postie/bench/internal/fixture"
)

// PostieMessage builds f as a mailer.Message. The attachment shares f's bytes, or is
// opened with open when that is not nil (the streaming form).
func PostieMessage(f *fixture.Fixture, open func() (io.ReadCloser, error), size int64) *mailer.Message {
	m := &mailer.Message{
		From:    f.From,
		To:      append([]mail.Address(nil), f.To...),
		Subject: f.Subject,
		Text:    f.Text,
		HTML:    f.HTML,
	}
	switch {
	case open != nil:
		m.Attachments = []mailer.Attachment{{Filename: f.AttachName, ContentType: f.AttachType, Open: open, Size: size}}
	case f.AttachData != nil:
		m.Attachments = []mailer.Attachment{{Filename: f.AttachName, ContentType: f.AttachType, Data: f.AttachData}}
	}
	return m
}

var preparer = sync.OnceValue(func() *mailer.Client {
	// Prepare never calls the transport.
	return mailer.New(nopTransport{}, nil)
})

// PostieWrite builds f as a mailer.Message, prepares it as mailer.Client.Send would
// (validation, Date, Message-ID, envelope) and renders it with smtp/mime.Write.
// With open set, the attachment of size bytes streams from it.
func PostieWrite(w io.Writer, f *fixture.Fixture, open func() (io.ReadCloser, error), size int64) error {
	m := PostieMessage(f, open, size)
	tm, err := preparer().Prepare(m)
	if err != nil {
		return err
	}
	return mime.Write(w, tm, nil)
}
