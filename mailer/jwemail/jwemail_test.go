package jwemail_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/mail"
	"net/textproto"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jordan-wright/email"

	"github.com/postiemail/postie/mailer"
	"github.com/postiemail/postie/mailer/jwemail"
	"github.com/postiemail/postie/smtp/mime"
	"github.com/postiemail/postie/transport"
	"github.com/postiemail/postie/transport/memmail"
)

var when = time.Date(2025, 3, 4, 5, 6, 7, 0, time.FixedZone("", 3600))

func fullMessage() *mailer.Message {
	return &mailer.Message{
		From:         mail.Address{Name: "Zoë's Shop", Address: "shop@example.com"},
		To:           []mail.Address{{Name: "Ann", Address: "ann@example.org"}, {Address: "bob@example.org"}},
		Cc:           []mail.Address{{Name: "山田 太郎", Address: "taro@example.jp"}},
		Bcc:          []mail.Address{{Address: "audit@example.com"}},
		ReplyTo:      []mail.Address{{Name: "Help", Address: "help@example.com"}},
		Subject:      "Grüße: your order",
		Text:         "Thanks!\n",
		HTML:         `<p>Thanks! <img src="cid:logo@example.com"></p>`,
		Headers:      map[string][]string{"X-Campaign": {"spring", "b"}, "List-Unsubscribe": {"<mailto:u@example.com>"}},
		EnvelopeFrom: "bounces@example.com",
		MessageID:    "order-17@example.com",
		Date:         when,
		Attachments: []mailer.Attachment{
			mailer.NewAttachment("invoice.pdf", []byte("%PDF-1.7 invoice")),
			mailer.Inline(mailer.NewAttachment("logo.png", []byte("\x89PNG logo")), "logo@example.com"),
		},
	}
}

func TestRoundTripFromMailer(t *testing.T) {
	m := fullMessage()
	e, err := jwemail.ToEmail(m)
	if err != nil {
		t.Fatal(err)
	}
	back, err := jwemail.FromEmail(e)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, m) {
		t.Errorf("mailer -> email -> mailer changed the message:\n got %+v\nwant %+v", back, m)
	}
}

func TestRoundTripFromEmail(t *testing.T) {
	e := email.NewEmail()
	e.From = "Shop <shop@example.com>"
	e.To = []string{"ann@example.org, Bob <bob@example.org>"} // one string, two addresses
	e.Cc = []string{"cc@example.org"}
	e.Bcc = []string{"audit@example.com"}
	e.ReplyTo = []string{"help@example.com"}
	e.Subject = "Hello"
	e.Text = []byte("text")
	e.HTML = []byte(`<img src="cid:logo.png">`)
	e.Sender = "Bounces <bounces@example.com>"
	e.Headers.Set("X-Campaign", "spring")
	e.Attachments = []*email.Attachment{
		{Filename: "a.txt", ContentType: "text/plain", Header: textproto.MIMEHeader{}, Content: []byte("a")},
		{Filename: "logo.png", ContentType: "image/png", Header: textproto.MIMEHeader{}, Content: []byte("png"), HTMLRelated: true},
	}
	m, err := jwemail.FromEmail(e)
	if err != nil {
		t.Fatal(err)
	}
	want := &mailer.Message{
		From:         mail.Address{Name: "Shop", Address: "shop@example.com"},
		To:           []mail.Address{{Address: "ann@example.org"}, {Name: "Bob", Address: "bob@example.org"}},
		Cc:           []mail.Address{{Address: "cc@example.org"}},
		Bcc:          []mail.Address{{Address: "audit@example.com"}},
		ReplyTo:      []mail.Address{{Address: "help@example.com"}},
		Subject:      "Hello",
		Text:         "text",
		HTML:         `<img src="cid:logo.png">`,
		EnvelopeFrom: "bounces@example.com",
		Headers:      map[string][]string{"X-Campaign": {"spring"}},
		Attachments: []mailer.Attachment{
			{Filename: "a.txt", ContentType: "text/plain", Data: []byte("a")},
			// email.Email's default Content-ID is the file name.
			{Filename: "logo.png", ContentType: "image/png", Data: []byte("png"), Inline: true, ContentID: "logo.png"},
		},
	}
	if !reflect.DeepEqual(m, want) {
		t.Errorf("FromEmail:\n got %+v\nwant %+v", m, want)
	}
	if err := m.Validate(); err != nil {
		t.Errorf("converted message does not validate: %v", err)
	}

	e2, err := jwemail.ToEmail(m)
	if err != nil {
		t.Fatal(err)
	}
	if e2.From != "\"Shop\" <shop@example.com>" || len(e2.To) != 2 || e2.Sender != "bounces@example.com" ||
		e2.Headers.Get("X-Campaign") != "spring" || !e2.Attachments[1].HTMLRelated || e2.Attachments[1].Header.Get("Content-Id") != "<logo.png>" {
		t.Errorf("ToEmail(FromEmail(e)) = %+v", e2)
	}
}

func TestFromEmailHeaders(t *testing.T) {
	e := email.NewEmail()
	e.From = "ignored@example.com"
	e.To = []string{"ignored@example.org"}
	e.Subject = "ignored"
	e.ReadReceipt = []string{"receipts@example.com"}
	for k, v := range map[string]string{
		"from":                      "=?utf-8?q?Zo=C3=AB?= <zoe@example.com>",
		"To":                        "real@example.org",
		"Subject":                   "=?utf-8?q?Gr=C3=BC=C3=9Fe?=",
		"Message-Id":                "<abc@example.com>",
		"Date":                      "Tue, 04 Mar 2025 05:06:07 +0100",
		"Mime-Version":              "1.0",
		"Content-Type":              "multipart/mixed; boundary=x",
		"Content-Transfer-Encoding": "7bit",
		"X-Kept":                    "yes",
	} {
		e.Headers[k] = []string{v}
	}
	m, err := jwemail.FromEmail(e)
	if err != nil {
		t.Fatal(err)
	}
	if m.From != (mail.Address{Name: "Zoë", Address: "zoe@example.com"}) || len(m.To) != 1 || m.To[0].Address != "real@example.org" || m.Subject != "Grüße" {
		t.Errorf("header fields should override the struct, as in email.Email.Bytes: %+v", m)
	}
	if m.MessageID != "abc@example.com" || !m.Date.Equal(when) {
		t.Errorf("MessageID %q Date %v", m.MessageID, m.Date)
	}
	want := map[string][]string{"X-Kept": {"yes"}, "Disposition-Notification-To": {"receipts@example.com"}}
	if !reflect.DeepEqual(m.Headers, want) {
		t.Errorf("Headers = %v, want %v", m.Headers, want)
	}
	if err := m.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
}

func TestErrors(t *testing.T) {
	for name, e := range map[string]*email.Email{
		"bad From":   {From: "not an address"},
		"two From":   {From: "a@example.com, b@example.com"},
		"bad To":     {From: "a@example.com", To: []string{"<<<"}},
		"bad Cc":     {From: "a@example.com", Cc: []string{"x@"}},
		"bad Bcc":    {From: "a@example.com", Bcc: []string{"@@"}},
		"bad Reply":  {From: "a@example.com", ReplyTo: []string{"<"}},
		"bad Sender": {From: "a@example.com", Sender: "nobody"},
		"bad Date":   {From: "a@example.com", Headers: textproto.MIMEHeader{"Date": {"yesterday"}}},
		"nil":        nil,
	} {
		_, err := jwemail.FromEmail(e)
		var fe *mailer.FieldError
		if mailer.CodeOf(err) != transport.InvalidArgument || !errors.As(err, &fe) || !strings.HasPrefix(fe.Field, "email") {
			t.Errorf("%s: err = %v, want InvalidArgument naming the email.Email field", name, err)
		}
	}

	m := fullMessage()
	m.Subject = "injected\r\nBcc: x@example.org"
	if _, err := jwemail.ToEmail(m); mailer.CodeOf(err) != transport.InvalidArgument {
		t.Errorf("ToEmail of an invalid message: %v", err)
	}
	m = fullMessage()
	m.Alternatives = []mailer.Alternative{{ContentType: "text/calendar", Body: []byte("x")}}
	if _, err := jwemail.ToEmail(m); mailer.CodeOf(err) != transport.Unimplemented {
		t.Errorf("ToEmail with Alternatives: %v", err)
	}
	m = fullMessage()
	m.Attachments = []mailer.Attachment{{Filename: "gone.txt", Open: func() (io.ReadCloser, error) { return nil, errors.New("gone") }}}
	if _, err := jwemail.ToEmail(m); mailer.CodeOf(err) != transport.InvalidArgument || !strings.Contains(err.Error(), "gone.txt") {
		t.Errorf("ToEmail with an unreadable attachment: %v", err)
	}
	if _, err := jwemail.ToEmail(nil); mailer.CodeOf(err) != transport.InvalidArgument {
		t.Errorf("ToEmail(nil): %v", err)
	}
}

func TestOpenAttachmentRead(t *testing.T) {
	m := fullMessage()
	m.Attachments = []mailer.Attachment{{Filename: "report.csv", Open: func() (io.ReadCloser, error) {
		return io.NopCloser(strings.NewReader("a,b\n")), nil
	}}}
	e, err := jwemail.ToEmail(m)
	if err != nil {
		t.Fatal(err)
	}
	if a := e.Attachments[0]; string(a.Content) != "a,b\n" || !strings.HasPrefix(a.ContentType, "text/csv") {
		t.Errorf("attachment = %+v", a)
	}
}

// TestSendConverted sends an email.Email through Postie and reads the rendered MIME back
// with jordan-wright/email's own parser: what arrives is what the email.Email said.
func TestSendConverted(t *testing.T) {
	e := email.NewEmail()
	e.From = "Shop <shop@example.com>"
	e.To = []string{"ann@example.org"}
	e.Bcc = []string{"audit@example.com"}
	e.Subject = "Grüße aus Köln"
	e.Text = []byte("Plain text, with ümlauts.")
	e.HTML = []byte("<p>HTML, with ümlauts.</p>")
	if _, err := e.Attach(bytes.NewReader([]byte("%PDF-1.7")), "invoice.pdf", "application/pdf"); err != nil {
		t.Fatal(err)
	}
	m, err := jwemail.FromEmail(e)
	if err != nil {
		t.Fatal(err)
	}
	client, mem := memmail.NewMailer(nil)
	if _, err := client.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	sent := mem.Messages()[0]
	if len(sent.Envelope.To) != 2 {
		t.Errorf("envelope = %v, want To and Bcc", sent.Envelope.To)
	}
	var raw bytes.Buffer
	if err := mime.Write(&raw, sent, nil); err != nil {
		t.Fatal(err)
	}
	parsed, err := email.NewEmailFromReader(bytes.NewReader(raw.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if parsed.Subject != e.Subject || string(parsed.Text) != string(e.Text) || string(parsed.HTML) != string(e.HTML) {
		t.Errorf("parsed back: subject %q text %q html %q", parsed.Subject, parsed.Text, parsed.HTML)
	}
	if len(parsed.Attachments) != 1 || parsed.Attachments[0].Filename != "invoice.pdf" || string(parsed.Attachments[0].Content) != "%PDF-1.7" {
		t.Errorf("parsed attachments: %+v", parsed.Attachments)
	}
	if len(parsed.Bcc) != 0 || bytes.Contains(raw.Bytes(), []byte("audit@")) {
		t.Error("the Bcc recipient shows in the rendered message")
	}
}
