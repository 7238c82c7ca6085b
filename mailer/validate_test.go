package mailer_test

import (
	"context"
	"errors"
	"io"
	"net/mail"
	"strings"
	"testing"

	"github.com/postiemail/postie/mailer"
	"github.com/postiemail/postie/transport"
	"github.com/postiemail/postie/transport/memmail"
)

func validMessage() *mailer.Message {
	return &mailer.Message{
		From:    mail.Address{Name: "Shop", Address: "no-reply@shop.example"},
		To:      []mail.Address{{Name: "Ann", Address: "ann@example.org"}},
		Subject: "Your order",
		Text:    "Thanks!",
	}
}

func TestValidate(t *testing.T) {
	opener := func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader("x")), nil }
	for _, c := range []struct {
		name   string
		change func(m *mailer.Message)
		field  string
	}{
		{"no From", func(m *mailer.Message) { m.From = mail.Address{Name: "Shop"} }, "From"},
		{"no recipient", func(m *mailer.Message) { m.To = nil }, "To"},
		{"malformed From", func(m *mailer.Message) { m.From.Address = "no-reply" }, "From"},
		{"From with name inside", func(m *mailer.Message) { m.From.Address = "Shop <no-reply@shop.example>" }, "From"},
		{"malformed To", func(m *mailer.Message) { m.To = append(m.To, mail.Address{Address: "bob@"}) }, "To[1]"},
		// Forms net/mail parses as an address but that are not a bare addr-spec.
		{"To with a comment", func(m *mailer.Message) { m.To[0].Address = "ann@example.org (Ann)" }, "To[0]"},
		{"To as a group", func(m *mailer.Message) { m.To[0].Address = "team: ann@example.org;" }, "To[0]"},
		{"To with spaces around", func(m *mailer.Message) { m.To[0].Address = " ann@example.org " }, "To[0]"},
		{"To in angle brackets", func(m *mailer.Message) { m.To[0].Address = "<ann@example.org>" }, "To[0]"},
		{"malformed Cc", func(m *mailer.Message) { m.Cc = []mail.Address{{Address: "a@b@c"}} }, "Cc[0]"},
		{"malformed Bcc", func(m *mailer.Message) { m.Bcc = []mail.Address{{Address: "two words@example.org"}} }, "Bcc[0]"},
		{"malformed ReplyTo", func(m *mailer.Message) { m.ReplyTo = []mail.Address{{Address: "nowhere"}} }, "ReplyTo[0]"},
		{"malformed EnvelopeFrom", func(m *mailer.Message) { m.EnvelopeFrom = "bounces" }, "EnvelopeFrom"},
		{"LF in Subject", func(m *mailer.Message) { m.Subject = "Hi\nBcc: victim@example.org" }, "Subject"},
		{"CR in Subject", func(m *mailer.Message) { m.Subject = "Hi\r" }, "Subject"},
		{"CRLF in From name", func(m *mailer.Message) { m.From.Name = "Shop\r\nBcc: x@example.org" }, "From"},
		{"LF in To name", func(m *mailer.Message) { m.To[0].Name = "Ann\n" }, "To[0]"},
		{"LF in To address", func(m *mailer.Message) { m.To[0].Address = "ann@example.org\n" }, "To[0]"},
		{"CR in Bcc address", func(m *mailer.Message) { m.Bcc = []mail.Address{{Address: "b\r@example.org"}} }, "Bcc[0]"},
		{"CRLF in header name", func(m *mailer.Message) { m.Headers = map[string][]string{"X-A\r\nBcc": {"v"}} }, "Headers"},
		{"space in header name", func(m *mailer.Message) { m.Headers = map[string][]string{"X A": {"v"}} }, "Headers"},
		{"colon in header name", func(m *mailer.Message) { m.Headers = map[string][]string{"X-A:": {"v"}} }, "Headers"},
		{"empty header name", func(m *mailer.Message) { m.Headers = map[string][]string{"": {"v"}} }, "Headers"},
		{"LF in header value", func(m *mailer.Message) { m.Headers = map[string][]string{"X-A": {"ok", "v\nBcc: x@example.org"}} }, "Headers"},
		{"CR in header value", func(m *mailer.Message) { m.Headers = map[string][]string{"X-A": {"v\r"}} }, "Headers"},
		{"reserved Bcc header", func(m *mailer.Message) { m.Headers = map[string][]string{"bcc": {"x@example.org"}} }, "Headers"},
		{"reserved Subject header", func(m *mailer.Message) { m.Headers = map[string][]string{"SUBJECT": {"x"}} }, "Headers"},
		{"reserved Message-ID header", func(m *mailer.Message) { m.Headers = map[string][]string{"Message-ID": {"<x@y>"}} }, "Headers"},
		{"reserved Content-Type header", func(m *mailer.Message) { m.Headers = map[string][]string{"content-type": {"text/plain"}} }, "Headers"},
		{"reserved Date header", func(m *mailer.Message) { m.Headers = map[string][]string{"Date": {"now"}} }, "Headers"},
		{"MessageID with brackets", func(m *mailer.Message) { m.MessageID = "<a@b>" }, "MessageID"},
		{"MessageID with LF", func(m *mailer.Message) { m.MessageID = "a@b\n" }, "MessageID"},
		{"bad alternative type", func(m *mailer.Message) {
			m.Alternatives = []mailer.Alternative{{ContentType: "calendar", Body: []byte("x")}}
		}, "Alternatives[0].ContentType"},
		{"CRLF in alternative type", func(m *mailer.Message) {
			m.Alternatives = []mailer.Alternative{{ContentType: "text/calendar\r\nBcc: x@example.org", Body: []byte("x")}}
		}, "Alternatives[0].ContentType"},
		{"attachment type without subtype", func(m *mailer.Message) {
			m.Attachments = []mailer.Attachment{{Filename: "a", ContentType: "pdf", Data: []byte{}}}
		}, "Attachments[0].ContentType"},
		{"attachment without content", func(m *mailer.Message) { m.Attachments = []mailer.Attachment{{Filename: "a.txt"}} }, "Attachments[0]"},
		{"LF in attachment name", func(m *mailer.Message) {
			m.Attachments = []mailer.Attachment{mailer.NewAttachment("ok.txt", nil), {Filename: "a\n.txt", Open: opener}}
		}, "Attachments[1].Filename"},
		{"bad attachment type", func(m *mailer.Message) {
			m.Attachments = []mailer.Attachment{{Filename: "a", ContentType: "not a type", Data: []byte{}}}
		}, "Attachments[0].ContentType"},
		{"CRLF in attachment type", func(m *mailer.Message) {
			m.Attachments = []mailer.Attachment{{Filename: "a", ContentType: "text/plain\r\nX: y", Data: []byte{}}}
		}, "Attachments[0].ContentType"},
		{"inline without Content-ID", func(m *mailer.Message) {
			m.Attachments = []mailer.Attachment{{Filename: "a.png", Inline: true, Data: []byte{1}}}
		}, "Attachments[0].ContentID"},
		{"Content-ID with space", func(m *mailer.Message) {
			m.Attachments = []mailer.Attachment{{Filename: "a.png", ContentID: "a b", Data: []byte{1}}}
		}, "Attachments[0].ContentID"},
		{"LF in tag", func(m *mailer.Message) { m.Tags = []string{"ok", "a\nb"} }, "Tags"},
		{"LF in metadata", func(m *mailer.Message) { m.Metadata = map[string]string{"k": "v\n"} }, "Metadata"},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := validMessage()
			c.change(m)
			err := m.Validate()
			assertInvalid(t, err, c.field)

			// The Client refuses it before the transport sees anything.
			client, tr := memmail.NewMailer(nil)
			r, err := client.Send(context.Background(), m)
			assertInvalid(t, err, c.field)
			if r != nil || tr.Attempts() != 0 {
				t.Errorf("invalid message reached the transport (receipt %v, %d attempts)", r, tr.Attempts())
			}
		})
	}
}

func assertInvalid(t *testing.T, err error, field string) {
	t.Helper()
	if code := mailer.CodeOf(err); code != transport.InvalidArgument {
		t.Fatalf("CodeOf(%v) = %v, want InvalidArgument", err, code)
	}
	if mailer.IsTemporary(err) {
		t.Errorf("validation error %v is temporary", err)
	}
	var fe *mailer.FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("%v does not wrap a *mailer.FieldError", err)
	}
	if fe.Field != field {
		t.Errorf("FieldError.Field = %q, want %q (%v)", fe.Field, field, err)
	}
	if fe.Reason == "" || fe.Fix == "" || !strings.Contains(err.Error(), fe.Fix) {
		t.Errorf("error %q should say what is wrong and how to fix it", err)
	}
	if strings.ContainsAny(err.Error(), "\r\n") {
		t.Errorf("error text %q contains a line break", err)
	}
}

func TestValidateAccepts(t *testing.T) {
	for _, c := range []struct {
		name   string
		change func(m *mailer.Message)
	}{
		{"plain", func(*mailer.Message) {}},
		{"Bcc only", func(m *mailer.Message) { m.To = nil; m.Bcc = []mail.Address{{Address: "b@example.org"}} }},
		{"Cc only", func(m *mailer.Message) { m.To = nil; m.Cc = []mail.Address{{Address: "c@example.org"}} }},
		{"non-ASCII names and subject", func(m *mailer.Message) { m.From.Name = "Zoë"; m.To[0].Name = "山田"; m.Subject = "Grüße 📬" }},
		{"extra headers", func(m *mailer.Message) {
			m.Headers = map[string][]string{"List-Unsubscribe": {"<https://shop.example/u>"}, "X-Campaign": {"a", "b"}}
		}},
		{"inline part", func(m *mailer.Message) {
			m.HTML = `<img src="cid:logo">`
			m.Attachments = []mailer.Attachment{mailer.Inline(mailer.NewAttachment("logo.png", []byte{1}), "<logo>")}
		}},
		{"empty attachment", func(m *mailer.Message) { m.Attachments = []mailer.Attachment{mailer.NewAttachment("e.txt", nil)} }},
		{"calendar alternative", func(m *mailer.Message) {
			m.Alternatives = []mailer.Alternative{{ContentType: "text/calendar; method=REQUEST; charset=UTF-8", Body: []byte("BEGIN:VCALENDAR")}}
		}},
		{"own MessageID", func(m *mailer.Message) { m.MessageID = "order-17@shop.example" }},
		{"unusual addr-specs", func(m *mailer.Message) {
			m.To = []mail.Address{{Address: "bob+tag@[192.0.2.1]"}, {Address: "o'neil@Example.ORG"}}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := validMessage()
			c.change(m)
			if err := m.Validate(); err != nil {
				t.Errorf("Validate: %v", err)
			}
		})
	}
}

func TestPrepareNil(t *testing.T) {
	client, _ := memmail.NewMailer(nil)
	_, err := client.Send(context.Background(), nil)
	assertInvalid(t, err, "message")
}
