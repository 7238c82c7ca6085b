package httpmail

import (
	"fmt"
	"net/mail"
	"strings"

	"github.com/postiemail/postie/transport"
)

// CheckLines refuses a message with a CR or LF in a field that a send API writes into a
// header: an address or display name, the envelope, Subject, MessageID, an extra header's
// name or value, an attachment's file name, media type or Content-ID, an Alternative's
// media type, a tag, a metadata key or value. Sent as JSON, such a line break reaches the
// provider intact, and a provider that builds the header without checking would turn the
// text after it into a header of its own (a Bcc, say). mailer.Client refuses these
// messages already, as smtp/mime does; this guards an adapter used directly.
func CheckLines(provider string, m *transport.Message) error {
	bad := func(field string) error {
		return transport.Errorf(transport.InvalidArgument, false,
			"%s: %s contains CR or LF: header fields are one line (long values are folded for you); remove the line breaks", provider, field)
	}
	addr := func(field string, a mail.Address) error {
		if hasLineBreak(a.Name) || hasLineBreak(a.Address) {
			return bad(field)
		}
		return nil
	}
	if err := addr("From", m.From); err != nil {
		return err
	}
	for _, l := range []struct {
		name  string
		addrs []mail.Address
	}{{"To", m.To}, {"Cc", m.Cc}, {"Bcc", m.Bcc}, {"ReplyTo", m.ReplyTo}} {
		for i, a := range l.addrs {
			if err := addr(fmt.Sprintf("%s[%d]", l.name, i), a); err != nil {
				return err
			}
		}
	}
	if hasLineBreak(m.Envelope.From) {
		return bad("Envelope.From")
	}
	for i, to := range m.Envelope.To {
		if hasLineBreak(to) {
			return bad(fmt.Sprintf("Envelope.To[%d]", i))
		}
	}
	switch {
	case hasLineBreak(m.Subject):
		return bad("Subject")
	case hasLineBreak(m.MessageID):
		return bad("MessageID")
	}
	for i, f := range m.Headers {
		if hasLineBreak(f.Name) || hasLineBreak(f.Value) {
			return bad(fmt.Sprintf("Headers[%d] (%.40q)", i, f.Name))
		}
	}
	for i, a := range m.Attachments {
		if hasLineBreak(a.Filename) || hasLineBreak(a.ContentType) || hasLineBreak(a.ContentID) {
			return bad(fmt.Sprintf("Attachments[%d] (its Filename, ContentType or ContentID)", i))
		}
	}
	for i, a := range m.Alternatives {
		if hasLineBreak(a.ContentType) {
			return bad(fmt.Sprintf("Alternatives[%d].ContentType", i))
		}
	}
	for i, t := range m.Tags {
		if hasLineBreak(t) {
			return bad(fmt.Sprintf("Tags[%d]", i))
		}
	}
	for k, v := range m.Metadata {
		if hasLineBreak(k) || hasLineBreak(v) {
			return bad(fmt.Sprintf("Metadata entry %.40q", k))
		}
	}
	return nil
}

func hasLineBreak(s string) bool { return strings.ContainsAny(s, "\r\n") }
