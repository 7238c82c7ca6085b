// Package jwemail converts between github.com/jordan-wright/email's *email.Email and
// *mailer.Message, so a code base built on that library can move to Postie one call site
// at a time: build the email.Email as before, convert it with FromEmail, send it through a
// mailer.Mailer. This is the only Postie package that imports jordan-wright/email.
//
// What maps to what:
//
//	email.Email             mailer.Message
//	From, To, Cc, Bcc,      From, To, Cc, Bcc, ReplyTo (parsed; one string may hold a list)
//	ReplyTo
//	Sender                  EnvelopeFrom
//	Subject, Text, HTML     Subject, Text, HTML
//	Headers                 Headers, except Message-Id and Date (MessageID, Date), the
//	                        address and Subject fields (which override the struct fields, as
//	                        in email.Email.Bytes) and MIME-Version/Content-* (dropped)
//	ReadReceipt             Headers["Disposition-Notification-To"]
//	Attachments             Attachments; HTMLRelated is Inline, its Content-ID header (or,
//	                        as email.Email does by default, the file name) is ContentID
//
// Alternatives, Tags, Metadata, DSN and RequireTLS have no place in email.Email: ToEmail
// refuses a message with Alternatives and leaves the others out.
package jwemail

import (
	"fmt"
	"io"
	"mime"
	"net/mail"
	"net/textproto"
	"strings"
	"time"

	"github.com/jordan-wright/email"

	"github.com/postiemail/postie/mailer"
	"github.com/postiemail/postie/transport"
)

var addrParser = mail.AddressParser{WordDecoder: new(mime.WordDecoder)}

// FromEmail converts e to a mailer.Message. Attachment contents are shared, not copied.
// It fails only when an address cannot be parsed; the mailer.Client validates the rest
// when the message is sent.
func FromEmail(e *email.Email) (*mailer.Message, error) {
	if e == nil {
		return nil, invalid("email", "is nil", "pass an *email.Email")
	}
	m := &mailer.Message{Subject: e.Subject}
	if len(e.Text) > 0 {
		m.Text = string(e.Text)
	}
	if len(e.HTML) > 0 {
		m.HTML = string(e.HTML)
	}
	h := textproto.MIMEHeader{}
	for k, vs := range e.Headers {
		h[textproto.CanonicalMIMEHeaderKey(k)] = vs
	}
	// As in email.Email.Bytes, a header field overrides the struct field.
	field := func(name string, v []string) []string {
		if hv, ok := h[name]; ok {
			delete(h, name)
			return hv
		}
		return v
	}
	var err error
	from := field("From", []string{e.From})
	if len(from) > 0 && strings.TrimSpace(from[0]) != "" {
		var l []mail.Address
		if l, err = parseList("email.From", from[:1]); err != nil {
			return nil, err
		}
		if len(l) != 1 {
			return nil, invalid("email.From", fmt.Sprintf("%q holds %d addresses, want one", from[0], len(l)), addrFix)
		}
		m.From = l[0]
	}
	if m.To, err = parseList("email.To", field("To", e.To)); err != nil {
		return nil, err
	}
	if m.Cc, err = parseList("email.Cc", field("Cc", e.Cc)); err != nil {
		return nil, err
	}
	if m.Bcc, err = parseList("email.Bcc", field("Bcc", e.Bcc)); err != nil {
		return nil, err
	}
	if m.ReplyTo, err = parseList("email.ReplyTo", field("Reply-To", e.ReplyTo)); err != nil {
		return nil, err
	}
	if s := field("Subject", nil); s != nil {
		m.Subject = s[0]
		if d, err := addrParser.WordDecoder.DecodeHeader(s[0]); err == nil {
			m.Subject = d
		}
	}
	if e.Sender != "" {
		a, err := addrParser.Parse(e.Sender)
		if err != nil {
			return nil, invalid("email.Sender", fmt.Sprintf("%q is not an address: %v", e.Sender, err), addrFix)
		}
		m.EnvelopeFrom = a.Address
	}
	if id := field("Message-Id", nil); id != nil {
		m.MessageID = strings.Trim(strings.TrimSpace(id[0]), "<>")
	}
	if d := field("Date", nil); d != nil {
		t, err := mail.ParseDate(d[0])
		if err != nil {
			return nil, invalid("email.Headers[Date]", fmt.Sprintf("%q is not a date: %v", d[0], err), "use the RFC 5322 form, e.g. time.RFC1123Z, or leave Date out")
		}
		m.Date = t
	}
	for _, k := range []string{"Mime-Version", "Content-Type", "Content-Transfer-Encoding", "Content-Disposition", "Content-Id", "Bcc"} {
		delete(h, k)
	}
	if len(e.ReadReceipt) > 0 {
		h["Disposition-Notification-To"] = append(h["Disposition-Notification-To"], strings.Join(e.ReadReceipt, ", "))
	}
	if len(h) > 0 {
		m.Headers = map[string][]string(h)
	}
	for _, a := range e.Attachments {
		if a == nil {
			continue
		}
		att := mailer.Attachment{Filename: a.Filename, ContentType: a.ContentType, Data: a.Content}
		if att.Data == nil {
			att.Data = []byte{}
		}
		if a.HTMLRelated {
			att.Inline = true
			att.ContentID = strings.Trim(strings.TrimSpace(a.Header.Get("Content-Id")), "<>")
			if att.ContentID == "" {
				att.ContentID = a.Filename // email.Email's default
			}
		}
		m.Attachments = append(m.Attachments, att)
	}
	return m, nil
}

func parseList(fieldName string, vs []string) ([]mail.Address, error) {
	var out []mail.Address
	for _, v := range vs {
		if strings.TrimSpace(v) == "" {
			continue
		}
		l, err := addrParser.ParseList(v)
		if err != nil {
			return nil, invalid(fieldName, fmt.Sprintf("%q is not an address list: %v", v, err), addrFix)
		}
		for _, a := range l {
			out = append(out, *a)
		}
	}
	return out, nil
}

// ToEmail converts m to an *email.Email, for code that still hands messages to that
// library. m is validated first, so nothing that mailer.Client would refuse (CR or LF in a
// header, say) reaches email.Email, which does not check. Attachments with an Open func
// are read now.
func ToEmail(m *mailer.Message) (*email.Email, error) {
	if m == nil {
		return nil, invalid("message", "is nil", "pass a *mailer.Message")
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	if len(m.Alternatives) > 0 {
		return nil, &transport.Error{Code: transport.Unimplemented, Err: &mailer.FieldError{
			Field: "Alternatives", Reason: "cannot be carried by email.Email", Fix: "send it through a mailer.Mailer instead"}}
	}
	e := email.NewEmail()
	e.From = m.From.String()
	e.To = formatList(m.To)
	e.Cc = formatList(m.Cc)
	e.Bcc = formatList(m.Bcc)
	e.ReplyTo = formatList(m.ReplyTo)
	e.Subject = m.Subject
	e.Sender = m.EnvelopeFrom
	if m.Text != "" {
		e.Text = []byte(m.Text)
	}
	if m.HTML != "" {
		e.HTML = []byte(m.HTML)
	}
	for k, vs := range m.Headers {
		e.Headers[textproto.CanonicalMIMEHeaderKey(k)] = append([]string(nil), vs...)
	}
	if m.MessageID != "" {
		e.Headers.Set("Message-Id", "<"+m.MessageID+">")
	}
	if !m.Date.IsZero() {
		e.Headers.Set("Date", m.Date.Format(time.RFC1123Z))
	}
	for i := range m.Attachments {
		a := &m.Attachments[i]
		data, err := readAll(a)
		if err != nil {
			return nil, &transport.Error{Code: transport.InvalidArgument, Err: &mailer.FieldError{
				Field: fmt.Sprintf("Attachments[%d]", i), Reason: err.Error(), Fix: "make the attachment readable"}}
		}
		at := &email.Attachment{
			Filename: a.Filename, ContentType: a.ContentType, Header: textproto.MIMEHeader{},
			Content: data, HTMLRelated: a.Inline,
		}
		if at.ContentType == "" {
			at.ContentType = mime.TypeByExtension(strings.ToLower(filenameExt(a.Filename)))
		}
		if a.Inline {
			at.Header.Set("Content-Id", "<"+a.ContentID+">")
		}
		e.Attachments = append(e.Attachments, at)
	}
	return e, nil
}

func readAll(a *mailer.Attachment) ([]byte, error) {
	rc, err := a.Reader()
	if err != nil {
		return nil, fmt.Errorf("cannot open %q: %v", a.Filename, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return nil, fmt.Errorf("cannot read %q: %v", a.Filename, err)
	}
	return b, nil
}

func filenameExt(name string) string {
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		return name[i:]
	}
	return ""
}

func formatList(l []mail.Address) []string {
	if len(l) == 0 {
		return nil
	}
	out := make([]string, len(l))
	for i, a := range l {
		out[i] = a.String()
	}
	return out
}

const addrFix = `use addresses such as "Ann <ann@example.org>"`

func invalid(field, reason, fix string) error {
	return &transport.Error{Code: transport.InvalidArgument, Err: &mailer.FieldError{Field: field, Reason: reason, Fix: "jwemail: " + fix}}
}
