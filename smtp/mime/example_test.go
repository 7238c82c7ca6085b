package mime_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/mail"
	"strings"
	"time"

	"github.com/postiemail/postie/smtp/mime"
	"github.com/postiemail/postie/transport"
)

func exampleMessage() *transport.Message {
	return &transport.Message{
		Envelope:  transport.Envelope{From: "shop@example.com", To: []string{"ann@example.org"}},
		From:      mail.Address{Name: "Shop", Address: "shop@example.com"},
		To:        []mail.Address{{Name: "Ann Müller", Address: "ann@example.org"}},
		Subject:   "Your order has shipped",
		Date:      time.Date(2024, 3, 9, 14, 30, 0, 0, time.UTC),
		MessageID: "order-1234@shop.example",
		Text:      "Hi Ann,\nyour order is on its way.\n",
	}
}

func ExampleWrite() {
	var b bytes.Buffer
	if err := mime.Write(&b, exampleMessage(), nil); err != nil {
		log.Fatal(err)
	}
	// The message uses CRLF line breaks; print it with LF for reading.
	fmt.Print(strings.ReplaceAll(b.String(), "\r\n", "\n"))
	// Output:
	// From: Shop <shop@example.com>
	// To: =?UTF-8?Q?Ann_M=C3=BCller?= <ann@example.org>
	// Subject: Your order has shipped
	// Date: Sat, 09 Mar 2024 14:30:00 +0000
	// Message-ID: <order-1234@shop.example>
	// MIME-Version: 1.0
	// Content-Type: text/plain; charset=utf-8
	// Content-Transfer-Encoding: 7bit
	//
	// Hi Ann,
	// your order is on its way.
}

func ExampleWrite_attachment() {
	m := exampleMessage()
	m.HTML = "<p>Hi Ann,</p><p>your order is on its way.</p>"
	m.Attachments = []transport.Attachment{{
		Filename:    "Lieferschein März.pdf",
		ContentType: "application/pdf",
		// Open is called on every render; os.Open(path) fits here too.
		Open: func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader("%PDF-1.7 ...")), nil },
	}}
	var b bytes.Buffer
	if err := mime.Write(&b, m, nil); err != nil {
		log.Fatal(err)
	}
	for _, line := range strings.Split(b.String(), "\r\n") {
		if strings.HasPrefix(line, "Content-Type:") || strings.HasPrefix(line, "Content-Disposition:") || strings.HasPrefix(line, " filename") {
			fmt.Println(line)
		}
	}
	// Output:
	// Content-Type: multipart/mixed; boundary="=_d419b5d45f72f03e381436d2"
	// Content-Type: multipart/alternative; boundary="=_813b5afadd47a5f4dbdbd4c8"
	// Content-Type: text/plain; charset=utf-8
	// Content-Type: text/html; charset=utf-8
	// Content-Type: application/pdf; name="Lieferschein M_rz.pdf"
	// Content-Disposition: attachment; filename="Lieferschein M_rz.pdf";
	//  filename*=UTF-8''Lieferschein%20M%C3%A4rz.pdf
}

func ExampleSize() {
	m := exampleMessage()
	n, err := mime.Size(m, nil) // for SMTP's SIZE=, before the message is sent
	if err != nil {
		log.Fatal(err)
	}
	var b bytes.Buffer
	if err := mime.Write(&b, m, nil); err != nil {
		log.Fatal(err)
	}
	fmt.Println(n, n == int64(b.Len()))
	// Output: 324 true
}

func ExampleNeedsSMTPUTF8() {
	m := exampleMessage()
	fmt.Println(mime.NeedsSMTPUTF8(m)) // a non-ASCII display name is encoded: no
	m.To = []mail.Address{{Address: "jürgen@bücher.example"}}
	fmt.Println(mime.NeedsSMTPUTF8(m))
	// Output:
	// false
	// true
}

func ExampleNeeds8BitMIME() {
	m := exampleMessage()
	m.Text = "Grüße aus Köln\n"
	opts := &mime.Options{Allow8Bit: true} // the caller allows it and the server offers 8BITMIME
	fmt.Println(mime.Needs8BitMIME(m, nil), mime.Needs8BitMIME(m, opts))
	// Output: false true
}

func ExampleValidate() {
	m := exampleMessage()
	m.Headers = []transport.Field{{Name: "X-Campaign", Value: "spring\r\nBcc: everyone@example.com"}}
	// Check before starting to send, rather than fail halfway through a transaction.
	err := mime.Validate(m, nil)
	fmt.Println(transport.CodeOf(err))
	fmt.Println(err)
	// Output:
	// InvalidArgument
	// InvalidArgument: mime: Headers[0] (X-Campaign) contains CR or LF: header values are one line, long ones are folded for you
}

// WriteContext stops a render when ctx ends, here one whose ctx was cancelled first.
func ExampleWriteContext() {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := mime.WriteContext(ctx, io.Discard, exampleMessage(), nil)
	fmt.Println(errors.Is(err, context.Canceled))
	// Output: true
}
