package transport

import (
	"bytes"
	"io"
	"net/mail"
	"strings"
	"time"
)

// Message is the normalized message a Transport receives. package mailer builds it once per
// logical send: validated, with Date and Message-ID set, the envelope computed and Bcc kept out
// of every header. Transports and middleware must treat it as read-only; use Clone to derive a
// changed copy (retry narrows Envelope.To that way).
type Message struct {
	// Envelope is what the SMTP MAIL FROM and RCPT TO commands carry.
	Envelope Envelope

	From    mail.Address
	To      []mail.Address
	Cc      []mail.Address
	Bcc     []mail.Address // never written into a header; HTTP providers pass it as its own field
	ReplyTo []mail.Address
	Subject string

	// Date and MessageID are set once by mailer.Client so retries reuse them.
	// MessageID is the bare id without angle brackets: "abc@example.com".
	Date      time.Time
	MessageID string

	// Headers holds extra header fields in the order they are written. Names are canonical
	// (textproto.CanonicalMIMEHeaderKey); values never contain CR or LF.
	Headers []Field

	Text string // text/plain body; empty means none
	HTML string // text/html body; empty means none

	// Alternatives are further renderings of the body placed beside Text and HTML in the
	// multipart/alternative, such as a text/calendar invitation.
	Alternatives []Alternative

	// Attachments holds files and inline (Content-ID referenced) parts.
	Attachments []Attachment

	// Tags and Metadata are carried by HTTP providers that support them; SMTP ignores them.
	Tags     []string
	Metadata map[string]string
}

// Envelope is the SMTP envelope: bare addr-specs, no display names.
type Envelope struct {
	From string   // the reverse-path; "" is the null sender <>
	To   []string // To+Cc+Bcc, de-duplicated

	// DSN asks for delivery status notifications (RFC 3461) where the server supports them.
	DSN *DSN
	// RequireTLS asks for the REQUIRETLS extension (RFC 8689); a server lacking it fails the send.
	RequireTLS bool
}

// AddrKey is the key under which two envelope addresses are the same recipient: the local
// part compared exactly (RFC 5321 lets it be case-sensitive), the domain case-insensitively.
// package mailer de-duplicates Envelope.To with it.
func AddrKey(addr string) string {
	i := strings.LastIndexByte(addr, '@')
	if i < 0 {
		return addr
	}
	return addr[:i] + "@" + strings.ToLower(addr[i+1:])
}

// DSN holds the delivery status notification parameters of RFC 3461.
type DSN struct {
	Return string   // "FULL" or "HDRS"; empty leaves it to the server
	EnvID  string   // envelope identifier, sent as xtext
	Notify []string // any of "NEVER", "SUCCESS", "FAILURE", "DELAY"
}

// Field is one header field.
type Field struct {
	Name  string
	Value string
}

// Alternative is an extra rendering of the body, such as
// {ContentType: "text/calendar; method=REQUEST; charset=UTF-8", Body: ics}.
type Alternative struct {
	ContentType string
	Body        []byte
}

// Attachment is a file attached to a message, or an inline part that the HTML references as
// "cid:"+ContentID. Its content must be readable more than once (retries, DKIM's two passes),
// so it is either Data or an Open function, never a one-shot io.Reader.
type Attachment struct {
	Filename    string
	ContentType string // full media type; empty means application/octet-stream
	Inline      bool
	ContentID   string // without angle brackets; required when Inline

	Data []byte
	Open func() (io.ReadCloser, error) // used when Data is nil
	// Size is the content length in bytes when Open is used and the length is known in
	// advance; 0 means unknown (it is then measured by reading when an exact size is needed).
	Size int64
}

// Reader opens the attachment's content for one read.
func (a *Attachment) Reader() (io.ReadCloser, error) {
	if a.Open != nil && a.Data == nil {
		return a.Open()
	}
	return io.NopCloser(bytes.NewReader(a.Data)), nil
}

// Len returns the content length when it is known without reading, and false otherwise.
func (a *Attachment) Len() (int64, bool) {
	if a.Open == nil || a.Data != nil {
		return int64(len(a.Data)), true
	}
	if a.Size > 0 {
		return a.Size, true
	}
	return 0, false
}

// Clone returns a copy of m whose slices and maps may be changed without touching m.
// Attachment contents are shared: they are read-only.
func (m *Message) Clone() *Message {
	c := *m
	c.Envelope.To = append([]string(nil), m.Envelope.To...)
	if m.Envelope.DSN != nil {
		d := *m.Envelope.DSN
		d.Notify = append([]string(nil), d.Notify...)
		c.Envelope.DSN = &d
	}
	c.To = append([]mail.Address(nil), m.To...)
	c.Cc = append([]mail.Address(nil), m.Cc...)
	c.Bcc = append([]mail.Address(nil), m.Bcc...)
	c.ReplyTo = append([]mail.Address(nil), m.ReplyTo...)
	c.Headers = append([]Field(nil), m.Headers...)
	c.Alternatives = append([]Alternative(nil), m.Alternatives...)
	c.Attachments = append([]Attachment(nil), m.Attachments...)
	c.Tags = append([]string(nil), m.Tags...)
	if m.Metadata != nil {
		c.Metadata = make(map[string]string, len(m.Metadata))
		for k, v := range m.Metadata {
			c.Metadata[k] = v
		}
	}
	return &c
}

// Header returns the value of the first extra header named name (case-insensitive).
func (m *Message) Header(name string) (string, bool) {
	for _, f := range m.Headers {
		if strings.EqualFold(f.Name, name) {
			return f.Value, true
		}
	}
	return "", false
}

// Receipt reports what a Transport achieved.
type Receipt struct {
	// MessageID is the Message-ID header of what was sent (no angle brackets).
	MessageID string
	// ID is the backend's own identifier: the SMTP queue id from the final reply, or the
	// provider's message id.
	ID string
	// Accepted lists the recipients the backend accepted, in envelope order.
	Accepted []string
	// Rejected lists the recipients the backend refused, each with a classified *Error.
	Rejected []RecipientError
	// Reply is the server's final reply to the message body (SMTP only).
	Reply *Reply
}

// Merge folds a later attempt's receipt (for a subset of recipients) into r: recipients it
// accepted leave r.Rejected and join r.Accepted, and its rejections replace earlier ones.
func (r *Receipt) Merge(later *Receipt) {
	if later == nil {
		return
	}
	if later.ID != "" {
		r.ID = later.ID
	}
	if later.Reply != nil {
		r.Reply = later.Reply
	}
	if r.MessageID == "" {
		r.MessageID = later.MessageID
	}
	touched := make(map[string]bool, len(later.Accepted)+len(later.Rejected))
	for _, a := range later.Accepted {
		touched[AddrKey(a)] = true
	}
	for _, re := range later.Rejected {
		touched[AddrKey(re.Recipient)] = true
	}
	kept := r.Rejected[:0:0]
	for _, re := range r.Rejected {
		if !touched[AddrKey(re.Recipient)] {
			kept = append(kept, re)
		}
	}
	r.Accepted = append(r.Accepted, later.Accepted...)
	r.Rejected = append(kept, later.Rejected...)
}
