package mime_test

import (
	"bytes"
	"io"
	"net/mail"
	"strings"
	"time"

	"github.com/postiemail/postie/transport"
)

var (
	fixedDate = time.Date(2024, 3, 9, 14, 30, 0, 0, time.FixedZone("CET", 3600))
	fixedID   = "0123456789abcdef@postie.example"
)

// base returns a valid message with no body, fixed Date and Message-ID.
func base() *transport.Message {
	return &transport.Message{
		Envelope:  transport.Envelope{From: "shop@example.com", To: []string{"ann@example.org", "bob@example.net", "hidden@example.org"}},
		From:      mail.Address{Name: "Shop", Address: "shop@example.com"},
		To:        []mail.Address{{Name: "Ann Example", Address: "ann@example.org"}},
		Cc:        []mail.Address{{Address: "bob@example.net"}},
		Bcc:       []mail.Address{{Name: "Hidden Person", Address: "hidden@example.org"}},
		Subject:   "Your order #1234",
		Date:      fixedDate,
		MessageID: fixedID,
	}
}

// pseudo returns n deterministic pseudo-random bytes (binary, every byte value).
func pseudo(n int, seed uint32) []byte {
	b := make([]byte, n)
	x := seed | 1
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}

// opener returns an Open func serving data, and counts how often it was opened.
func opener(data []byte, opens *int) func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) {
		if opens != nil {
			*opens++
		}
		return io.NopCloser(bytes.NewReader(data)), nil
	}
}

const (
	textBody = "Hello Ann,\n\nthank you for your order.\n.\nA line with a leading dot stays as it is; the SMTP layer stuffs it.\n"
	htmlBody = "<html><body><p>Hello Ann,</p><p>thank you for your order.</p><img src=\"cid:logo@shop\"></body></html>"
	icsBody  = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nMETHOD:REQUEST\r\nBEGIN:VEVENT\r\nUID:1@shop\r\nSUMMARY:Delivery\r\nDTSTART:20240310T090000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
)

var (
	logoPNG = append([]byte("\x89PNG\r\n\x1a\n"), pseudo(300, 7)...)
	pdf     = append([]byte("%PDF-1.7\n"), pseudo(5000, 9)...)
)

func logo() transport.Attachment {
	return transport.Attachment{Filename: "logo.png", ContentType: "image/png", Inline: true, ContentID: "logo@shop", Data: logoPNG}
}

func invoice() transport.Attachment {
	return transport.Attachment{Filename: "invoice.pdf", ContentType: "application/pdf", Data: pdf}
}

func calendar() transport.Alternative {
	return transport.Alternative{ContentType: "text/calendar; method=REQUEST; charset=UTF-8", Body: []byte(icsBody)}
}

type structCase struct {
	name  string
	m     *transport.Message
	shape string
}

// structures covers every layout Write produces.
func structures() []structCase {
	mk := func(f func(m *transport.Message)) *transport.Message {
		m := base()
		f(m)
		return m
	}
	return []structCase{
		{"text", mk(func(m *transport.Message) { m.Text = textBody }), "text/plain"},
		{"html", mk(func(m *transport.Message) { m.HTML = htmlBody }), "text/html"},
		{"empty", mk(func(m *transport.Message) {}), "text/plain"},
		{"text-html", mk(func(m *transport.Message) { m.Text, m.HTML = textBody, htmlBody }),
			"alternative(text/plain,text/html)"},
		{"html-inline", mk(func(m *transport.Message) {
			m.HTML = htmlBody
			m.Attachments = []transport.Attachment{logo()}
		}), "related(text/html,image/png)"},
		{"text-html-inline", mk(func(m *transport.Message) {
			m.Text, m.HTML = textBody, htmlBody
			m.Attachments = []transport.Attachment{logo()}
		}), "alternative(text/plain,related(text/html,image/png))"},
		{"text-attachment", mk(func(m *transport.Message) {
			m.Text = textBody
			m.Attachments = []transport.Attachment{invoice()}
		}), "mixed(text/plain,application/pdf)"},
		{"text-html-attachment", mk(func(m *transport.Message) {
			m.Text, m.HTML = textBody, htmlBody
			m.Attachments = []transport.Attachment{invoice()}
		}), "mixed(alternative(text/plain,text/html),application/pdf)"},
		{"html-inline-attachment", mk(func(m *transport.Message) {
			m.HTML = htmlBody
			m.Attachments = []transport.Attachment{invoice(), logo()}
		}), "mixed(related(text/html,image/png),application/pdf)"},
		{"full", mk(func(m *transport.Message) {
			m.Text, m.HTML = textBody, htmlBody
			m.Alternatives = []transport.Alternative{calendar()}
			big := transport.Attachment{Filename: "data.bin", ContentType: "application/octet-stream",
				Open: opener(pseudo(6000, 3), nil), Size: 6000}
			notes := transport.Attachment{Filename: "notes.txt", ContentType: "text/plain; charset=utf-8", Data: []byte("plain notes\r\nsecond line\r\n")}
			m.Attachments = []transport.Attachment{invoice(), logo(), big, notes}
		}), "mixed(alternative(text/plain,related(text/html,image/png),text/calendar),application/pdf,application/octet-stream,text/plain)"},
		{"calendar", mk(func(m *transport.Message) {
			m.Subject = "Invitation: Delivery"
			m.Text, m.HTML = "You are invited.\n", "<p>You are invited.</p>"
			m.Alternatives = []transport.Alternative{calendar()}
		}), "alternative(text/plain,text/html,text/calendar)"},
		{"alternatives-only", mk(func(m *transport.Message) {
			m.Alternatives = []transport.Alternative{calendar()}
		}), "text/calendar"},
		{"attachment-only", mk(func(m *transport.Message) {
			m.Attachments = []transport.Attachment{invoice()}
		}), "mixed(application/pdf)"},
		{"inline-without-html", mk(func(m *transport.Message) {
			m.Text = textBody
			m.Attachments = []transport.Attachment{logo()}
		}), "mixed(text/plain,image/png)"},
		{"international", mk(func(m *transport.Message) {
			m.From = mail.Address{Name: "Bäckerei Müller", Address: "info@bäckerei.example"}
			m.To = []mail.Address{{Name: "Jürgen \"Jo\" Weiß", Address: "jürgen@example.org"}, {Name: "李小龍", Address: "li@example.cn"}}
			m.Cc = nil
			m.Subject = "Ihre Bestellung: Brötchen, Croissants und 🥐 — Lieferung am Samstag früh zwischen sieben und acht Uhr"
			m.Text = "Grüße aus Köln!\nПривет!\n"
			m.HTML = "<p>Grüße aus Köln! " + strings.Repeat("Sehr lange Zeile ", 80) + "</p>"
			m.Attachments = []transport.Attachment{{Filename: "Rechnung März 2024 — Bäckerei Müller GmbH & Co. KG, Köln-Ehrenfeld.pdf",
				ContentType: "application/pdf", Data: pdf}}
		}), "mixed(alternative(text/plain,text/html),application/pdf)"},
	}
}
