package httpmail_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/postiemail/postie/transport"
	"github.com/postiemail/postie/transport/mailgunmail"
	"github.com/postiemail/postie/transport/postmarkmail"
	"github.com/postiemail/postie/transport/resendmail"
	"github.com/postiemail/postie/transport/sendgridmail"
	"github.com/postiemail/postie/transport/sesmail"
)

// Every adapter refuses, before sending anything, a message with a line break in a field
// its provider writes into a header: the transport may be used without mailer.Client,
// which would have refused the message.
func TestAdaptersRefuseLineBreaks(t *testing.T) {
	for _, k := range []string{"AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"} {
		t.Setenv(k, t.TempDir()+"/none")
	}
	var requests atomic.Int32
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":"1","MessageId":"1","MessageID":"1"}`)
	}))
	defer sink.Close()
	adapters := map[string]func() (transport.Transport, error){
		"sendgridmail": func() (transport.Transport, error) {
			return sendgridmail.New(nil, &sendgridmail.Options{APIKey: "k", BaseURL: sink.URL})
		},
		"postmarkmail": func() (transport.Transport, error) {
			return postmarkmail.New(nil, &postmarkmail.Options{ServerToken: "k", BaseURL: sink.URL})
		},
		"resendmail": func() (transport.Transport, error) {
			return resendmail.New(nil, &resendmail.Options{APIKey: "k", BaseURL: sink.URL})
		},
		"mailgunmail": func() (transport.Transport, error) {
			return mailgunmail.New(nil, &mailgunmail.Options{APIKey: "k", Domain: "mg.example.com", BaseURL: sink.URL})
		},
		"sesmail": func() (transport.Transport, error) {
			return sesmail.Open(context.Background(), &sesmail.Options{Region: "eu-west-1", BaseEndpoint: sink.URL,
				Credentials: credentials.NewStaticCredentialsProvider("AKID", "secret", "")})
		},
	}
	edits := map[string]func(m *transport.Message){
		"From name":  func(m *transport.Message) { m.From.Name = "Shop\r\nBcc: victim@example.net" },
		"To name":    func(m *transport.Message) { m.To[0].Name = "Ann\nBcc: victim@example.net" },
		"To address": func(m *transport.Message) { m.To[0].Address = "ann@example.org\r\nBcc: v@example.net" },
		"ReplyTo": func(m *transport.Message) {
			m.ReplyTo = []mail.Address{{Name: "x\r\nBcc: v@example.net", Address: "r@example.com"}}
		},
		"envelope": func(m *transport.Message) { m.Envelope.To[0] += "\r\nv@example.net" },
		"Subject":  func(m *transport.Message) { m.Subject = "Hi\r\nBcc: victim@example.net" },
		"header value": func(m *transport.Message) {
			m.Headers = []transport.Field{{Name: "X-Tag", Value: "a\r\nBcc: victim@example.net"}}
		},
		"header name": func(m *transport.Message) {
			m.Headers = []transport.Field{{Name: "X-Tag\r\nBcc", Value: "victim@example.net"}}
		},
		"attachment name": func(m *transport.Message) { m.Attachments[0].Filename = "a.txt\r\nBcc: victim@example.net" },
		"attachment type": func(m *transport.Message) { m.Attachments[0].ContentType = "text/plain\r\nBcc: victim@example.net" },
		"metadata value":  func(m *transport.Message) { m.Metadata = map[string]string{"k": "v\r\nBcc: victim@example.net"} },
		"tag":             func(m *transport.Message) { m.Tags = []string{"t\r\nBcc: victim@example.net"} },
		"Message-ID":      func(m *transport.Message) { m.MessageID = "id@example.com\r\nBcc: victim@example.net" },
		"inline content id": func(m *transport.Message) {
			m.Attachments[0].Inline, m.Attachments[0].ContentID = true, "logo\r\nBcc: victim@example.net"
		},
	}
	for name, open := range adapters {
		tr, err := open()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		defer tr.Close()
		// The unedited message goes through: the refusals below are about the line breaks.
		if _, err := tr.Send(context.Background(), lineMessage()); err != nil {
			t.Fatalf("%s: the plain message fails: %v", name, err)
		}
		for what, edit := range edits {
			before := requests.Load()
			m := lineMessage()
			edit(m)
			_, err := tr.Send(context.Background(), m)
			if transport.CodeOf(err) != transport.InvalidArgument {
				t.Errorf("%s, %s: got %v, want InvalidArgument", name, what, err)
			}
			if n := requests.Load() - before; n != 0 {
				t.Errorf("%s, %s: %d request(s) reached the provider", name, what, n)
			}
		}
	}
}

func lineMessage() *transport.Message {
	return &transport.Message{
		Envelope:    transport.Envelope{From: "shop@example.com", To: []string{"ann@example.org"}},
		From:        mail.Address{Name: "Shop", Address: "shop@example.com"},
		To:          []mail.Address{{Name: "Ann", Address: "ann@example.org"}},
		Subject:     "Hello",
		MessageID:   "id1@example.com",
		Date:        time.Date(2024, 3, 9, 12, 0, 0, 0, time.UTC),
		Text:        "Hi.",
		Attachments: []transport.Attachment{{Filename: "a.txt", ContentType: "text/plain", Data: []byte("x")}},
	}
}
