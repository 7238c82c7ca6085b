package mailer

import (
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net/mail"
	"net/textproto"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/postiemail/postie/transport"
)

// Message is one email as an application describes it.
type Message struct {
	From    mail.Address
	To      []mail.Address
	Cc      []mail.Address
	Bcc     []mail.Address // receive the message; never appear in any header
	ReplyTo []mail.Address
	Subject string

	Text string // text/plain body
	HTML string // text/html body; reference inline images as "cid:"+ContentID

	// Alternatives are extra renderings beside Text and HTML, such as a calendar invitation:
	// {ContentType: "text/calendar; method=REQUEST; charset=UTF-8", Body: ics}.
	Alternatives []Alternative

	Attachments []Attachment

	// Headers are extra header fields, such as "List-Unsubscribe". Fields the Client sets
	// itself (From, To, Cc, Bcc, Subject, Date, Message-ID, MIME-Version, Content-*) are
	// refused here: use the Message's fields instead.
	Headers map[string][]string

	// Tags and Metadata are carried by HTTP providers that support them (SendGrid
	// categories, Mailgun tags and variables, ...); SMTP ignores them.
	Tags     []string
	Metadata map[string]string

	// EnvelopeFrom overrides the SMTP reverse-path (bounce address); default From.Address.
	EnvelopeFrom string
	// DSN requests delivery status notifications where the server supports them.
	DSN *transport.DSN
	// RequireTLS asks for REQUIRETLS (RFC 8689) delivery.
	RequireTLS bool

	// MessageID and Date, when set, are used instead of generated ones.
	MessageID string
	Date      time.Time
}

// Alternative is an extra rendering of the body (see Message.Alternatives).
type Alternative = transport.Alternative

// Attachment is a file or an inline part. Build one with NewAttachment, AttachmentFromFile,
// AttachmentFromFS or by hand with an Open func; its content is read again on every send.
type Attachment = transport.Attachment

// NewAttachment returns an attachment holding data, its content type guessed from the
// file name's extension.
func NewAttachment(filename string, data []byte) Attachment {
	if data == nil {
		data = []byte{} // an empty file, not a missing one
	}
	return Attachment{Filename: filename, ContentType: contentTypeOf(filename), Data: data}
}

// AttachmentFromFile returns an attachment that opens path on every send. The file must
// exist now; its size is recorded so the SMTP SIZE extension can be used.
func AttachmentFromFile(path string) (Attachment, error) {
	st, err := os.Stat(path)
	if err != nil {
		return Attachment{}, invalid("attachment", fmt.Sprintf("cannot read %q: %v", path, err), "pass the path of an existing, readable file")
	}
	if !st.Mode().IsRegular() {
		return Attachment{}, invalid("attachment", fmt.Sprintf("%q is not a regular file", path), "pass the path of a file, not a directory")
	}
	name := filepath.Base(path)
	return Attachment{
		Filename:    name,
		ContentType: contentTypeOf(name),
		Open:        func() (io.ReadCloser, error) { return os.Open(path) },
		Size:        st.Size(),
	}, nil
}

// AttachmentFromFS returns an attachment that opens name in fsys on every send (an
// embed.FS of logos, say).
func AttachmentFromFS(fsys fs.FS, name string) (Attachment, error) {
	st, err := fs.Stat(fsys, name)
	if err != nil {
		return Attachment{}, invalid("attachment", fmt.Sprintf("cannot read %q: %v", name, err), "pass a path that exists in the file system")
	}
	base := path.Base(name)
	return Attachment{
		Filename:    base,
		ContentType: contentTypeOf(base),
		Open:        func() (io.ReadCloser, error) { return fsys.Open(name) },
		Size:        st.Size(),
	}, nil
}

// Inline marks a as an inline part the HTML references as "cid:"+contentID.
func Inline(a Attachment, contentID string) Attachment {
	a.Inline = true
	a.ContentID = strings.Trim(contentID, "<>")
	return a
}

func contentTypeOf(name string) string {
	if t := mime.TypeByExtension(strings.ToLower(filepath.Ext(name))); t != "" {
		return t
	}
	return "application/octet-stream"
}

// reserved are header fields the Client writes itself.
var reserved = map[string]string{
	"From": "From", "To": "To", "Cc": "Cc", "Bcc": "Bcc", "Reply-To": "ReplyTo",
	"Subject": "Subject", "Date": "Date", "Message-Id": "MessageID", "Mime-Version": "",
	"Content-Type": "", "Content-Transfer-Encoding": "", "Content-Disposition": "", "Content-Id": "",
}

// Validate reports the first problem that would stop m from being sent, as an
// InvalidArgument *transport.Error naming the field and how to fix it.
func (m *Message) Validate() error {
	if m.From.Address == "" {
		return invalid("From", "is empty", `set From to the sender, e.g. mail.Address{Name: "Shop", Address: "no-reply@shop.example"}`)
	}
	if reason, fix := addressProblem(m.From); reason != "" {
		return invalid("From", reason, fix)
	}
	if len(m.To)+len(m.Cc)+len(m.Bcc) == 0 {
		return invalid("To", "no recipient in To, Cc or Bcc", "add at least one recipient")
	}
	for _, l := range []struct {
		name  string
		addrs []mail.Address
	}{{"To", m.To}, {"Cc", m.Cc}, {"Bcc", m.Bcc}, {"ReplyTo", m.ReplyTo}} {
		for i, a := range l.addrs {
			if reason, fix := addressProblem(a); reason != "" {
				return invalid(l.name+"["+strconv.Itoa(i)+"]", reason, fix)
			}
		}
	}
	if m.EnvelopeFrom != "" {
		if reason, fix := addressProblem(mail.Address{Address: m.EnvelopeFrom}); reason != "" {
			return invalid("EnvelopeFrom", reason, fix)
		}
	}
	if hasCRLF(m.Subject) {
		return invalid("Subject", "contains CR or LF", "a subject is one line: remove line breaks")
	}
	if hasCRLF(m.MessageID) || strings.ContainsAny(m.MessageID, "<> ") {
		return invalid("MessageID", "contains CR, LF, a space or angle brackets", `pass a bare id such as "abc123@example.com"`)
	}
	for name, values := range m.Headers {
		if !validFieldName(name) {
			return invalid("Headers", fmt.Sprintf("%q is not a valid header name", name), "use printable ASCII without spaces or colons, e.g. X-Campaign")
		}
		canon := textproto.CanonicalMIMEHeaderKey(name)
		if f, ok := reserved[canon]; ok {
			fix := "the Client sets it itself; remove it"
			if f != "" {
				fix = "set Message." + f + " instead"
			}
			return invalid("Headers", fmt.Sprintf("%q may not be set as an extra header", name), fix)
		}
		for _, v := range values {
			if hasCRLF(v) {
				return invalid("Headers", fmt.Sprintf("value of %q contains CR or LF", name), "header values are one line: remove line breaks (long values are folded for you)")
			}
		}
	}
	for i, a := range m.Alternatives {
		if !validMediaType(a.ContentType) {
			return invalid(fmt.Sprintf("Alternatives[%d].ContentType", i), fmt.Sprintf("%q is not a media type", a.ContentType), `use e.g. "text/calendar; method=REQUEST; charset=UTF-8"`)
		}
	}
	for i, a := range m.Attachments {
		field := "Attachments[" + strconv.Itoa(i) + "]"
		switch {
		case a.Data == nil && a.Open == nil:
			return invalid(field, "has neither Data nor Open", "build it with NewAttachment, AttachmentFromFile or AttachmentFromFS")
		case hasCRLF(a.Filename):
			return invalid(field+".Filename", "contains CR or LF", "remove line breaks from the file name")
		case hasCRLF(a.ContentType):
			return invalid(field+".ContentType", "contains CR or LF", "remove line breaks")
		case a.ContentType != "" && !validMediaType(a.ContentType):
			return invalid(field+".ContentType", fmt.Sprintf("%q is not a media type", a.ContentType), `use e.g. "application/pdf" or leave it empty`)
		case a.Inline && a.ContentID == "":
			return invalid(field+".ContentID", "is empty on an inline part", `set a ContentID such as "logo" and reference it in the HTML as src="cid:logo"`)
		case hasCRLF(a.ContentID) || strings.ContainsAny(a.ContentID, "<> "):
			return invalid(field+".ContentID", "contains CR, LF, a space or angle brackets", `use a bare id such as "logo@shop.example"`)
		}
	}
	for _, t := range m.Tags {
		if hasCRLF(t) {
			return invalid("Tags", "a tag contains CR or LF", "remove line breaks")
		}
	}
	for k, v := range m.Metadata {
		if hasCRLF(k) || hasCRLF(v) {
			return invalid("Metadata", fmt.Sprintf("entry %q contains CR or LF", k), "remove line breaks")
		}
	}
	return nil
}

// addressProblem says what is wrong with a and how to fix it; "" when a is valid. The
// caller names the field only on failure, so a valid message costs no formatting.
func addressProblem(a mail.Address) (reason, fix string) {
	if hasCRLF(a.Name) {
		return "display name contains CR or LF", "remove line breaks from the name"
	}
	if hasCRLF(a.Address) {
		return "address contains CR or LF", "remove line breaks from the address"
	}
	// A bare addr-spec parses on net/mail's first try; only what is not one is parsed again,
	// as an angle-addr, whose error explains best what is wrong with it.
	if p, err := mail.ParseAddress(a.Address); err == nil && p.Address == a.Address && strings.Contains(a.Address, "@") {
		return "", ""
	}
	reason = "not a valid address"
	if _, err := mail.ParseAddress("<" + a.Address + ">"); err != nil {
		reason += " (" + strings.TrimPrefix(err.Error(), "mail: ") + ")"
	}
	return fmt.Sprintf("%q is %s", a.Address, reason), `use a bare address such as "user@example.com" and put the name in Name`
}

func hasCRLF(s string) bool { return strings.ContainsAny(s, "\r\n") }

// validMediaType reports whether ct is a type/subtype with well-formed parameters
// (mime.ParseMediaType alone accepts a bare "calendar").
func validMediaType(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && !hasCRLF(ct) && strings.Count(mt, "/") == 1 && !strings.HasPrefix(mt, "/") && !strings.HasSuffix(mt, "/")
}

func validFieldName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 33 || c > 126 || c == ':' {
			return false
		}
	}
	return true
}

// FieldError is the cause inside the InvalidArgument error Validate returns.
type FieldError struct {
	Field  string // the Message field at fault, e.g. "To[1]"
	Reason string // what is wrong
	Fix    string // how to fix it
}

func (e *FieldError) Error() string {
	return "mailer: invalid message: " + e.Field + " " + e.Reason + ": " + e.Fix
}

func invalid(field, reason, fix string) error {
	return &transport.Error{Code: transport.InvalidArgument, Err: &FieldError{Field: field, Reason: reason, Fix: fix}}
}

// normalize builds the transport message; m must be valid.
func (m *Message) normalize() *transport.Message {
	tm := &transport.Message{
		From:         m.From,
		To:           slices.Clone(m.To),
		Cc:           slices.Clone(m.Cc),
		Bcc:          slices.Clone(m.Bcc),
		ReplyTo:      slices.Clone(m.ReplyTo),
		Subject:      m.Subject,
		Date:         m.Date,
		MessageID:    m.MessageID,
		Text:         m.Text,
		HTML:         m.HTML,
		Alternatives: slices.Clone(m.Alternatives),
		Attachments:  slices.Clone(m.Attachments),
		Tags:         slices.Clone(m.Tags),
	}
	if m.Metadata != nil {
		tm.Metadata = make(map[string]string, len(m.Metadata))
		for k, v := range m.Metadata {
			tm.Metadata[k] = v
		}
	}
	for i := range tm.Attachments {
		if tm.Attachments[i].ContentType == "" {
			tm.Attachments[i].ContentType = contentTypeOf(tm.Attachments[i].Filename)
		}
	}
	names := make([]string, 0, len(m.Headers))
	for k := range m.Headers {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		canon := textproto.CanonicalMIMEHeaderKey(k)
		for _, v := range m.Headers[k] {
			tm.Headers = append(tm.Headers, transport.Field{Name: canon, Value: v})
		}
	}
	from := m.EnvelopeFrom
	if from == "" {
		from = m.From.Address
	}
	tm.Envelope = transport.Envelope{From: from, To: envelopeRecipients(m), RequireTLS: m.RequireTLS}
	if m.DSN != nil {
		d := *m.DSN
		d.Notify = slices.Clone(d.Notify)
		tm.Envelope.DSN = &d
	}
	return tm
}

// envelopeRecipients returns To+Cc+Bcc in order, de-duplicated by transport.AddrKey.
func envelopeRecipients(m *Message) []string {
	n := len(m.To) + len(m.Cc) + len(m.Bcc)
	seen := make(map[string]struct{}, n)
	out := make([]string, 0, n)
	for _, l := range [][]mail.Address{m.To, m.Cc, m.Bcc} {
		for _, a := range l {
			k := transport.AddrKey(a.Address)
			if _, dup := seen[k]; dup {
				continue
			}
			seen[k] = struct{}{}
			out = append(out, a.Address)
		}
	}
	return out
}
