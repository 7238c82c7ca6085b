package postmarkmail

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/mail"
	"strings"

	"github.com/postiemail/postie/transport"
	"github.com/postiemail/postie/transport/internal/fakeapi"
	"github.com/postiemail/postie/transport/transporttest"
)

const testToken = "pm-server-token-never-printed"

// fakePostmark checks requests the way POST /email does, from Postmark's API reference
// (not from this package's types), and answers as Postmark does: 200 with MessageID, or
// {"ErrorCode":n,"Message":"..."}.
type fakePostmark struct{}

type pmRequest struct {
	From          string            `json:"From"`
	To            string            `json:"To"`
	Cc            string            `json:"Cc"`
	Bcc           string            `json:"Bcc"`
	Subject       string            `json:"Subject"`
	Tag           string            `json:"Tag"`
	HTMLBody      string            `json:"HtmlBody"`
	TextBody      string            `json:"TextBody"`
	ReplyTo       string            `json:"ReplyTo"`
	Headers       []pmHeader        `json:"Headers"`
	TrackOpens    bool              `json:"TrackOpens"`
	TrackLinks    string            `json:"TrackLinks"`
	Metadata      map[string]string `json:"Metadata"`
	Attachments   []pmAttachment    `json:"Attachments"`
	MessageStream string            `json:"MessageStream"`
}

type pmHeader struct {
	Name  string `json:"Name"`
	Value string `json:"Value"`
}

type pmAttachment struct {
	Name        string `json:"Name"`
	Content     string `json:"Content"`
	ContentType string `json:"ContentType"`
	ContentID   string `json:"ContentID"`
}

func pmError(status, code int, msg string) *fakeapi.Reply {
	return fakeapi.JSON(status, map[string]any{"ErrorCode": code, "Message": msg})
}

func invalid(msg string) *fakeapi.Reply { return pmError(422, 300, msg) }

func (fakePostmark) Accept(r *http.Request, body []byte) (transporttest.Delivery, *fakeapi.Reply) {
	var d transporttest.Delivery
	switch {
	case r.URL.Path != "/email":
		return d, &fakeapi.Reply{Status: 404}
	case r.Method != http.MethodPost:
		return d, &fakeapi.Reply{Status: 405}
	case r.Header.Get("X-Postmark-Server-Token") != testToken:
		return d, pmError(401, 10, "Request does not contain a valid Server token.")
	case fakeapi.MediaType(r) != "application/json" || r.Header.Get("Accept") != "application/json":
		return d, pmError(415, 409, "Received request without 'Content-Type: application/json' and 'Accept: application/json' headers.")
	case len(body) > MaxSize:
		return d, invalid("The message size exceeds the 10 MB limit.")
	}
	var req pmRequest
	if err := fakeapi.StrictJSON(body, &req); err != nil {
		return d, pmError(422, 402, "Received invalid JSON input: "+err.Error())
	}
	m := &transport.Message{Subject: req.Subject, Text: req.TextBody, HTML: req.HTMLBody, Metadata: req.Metadata}
	from, err := mail.ParseAddress(req.From)
	if err != nil {
		return d, invalid("Invalid 'From' address: '" + req.From + "'.")
	}
	m.From, d.Envelope.From = *from, from.Address
	if req.To == "" {
		return d, invalid("Zero recipients specified")
	}
	for _, f := range []struct {
		name string
		in   string
		out  *[]mail.Address
		rcpt bool
	}{{"To", req.To, &m.To, true}, {"Cc", req.Cc, &m.Cc, true}, {"Bcc", req.Bcc, &m.Bcc, true}, {"ReplyTo", req.ReplyTo, &m.ReplyTo, false}} {
		if f.in == "" {
			continue
		}
		l, err := mail.ParseAddressList(f.in)
		if err != nil {
			return d, invalid(fmt.Sprintf("Invalid '%s' address: '%s'.", f.name, f.in))
		}
		for _, a := range l {
			*f.out = append(*f.out, *a)
			if f.rcpt {
				d.Envelope.To = append(d.Envelope.To, a.Address)
			}
		}
	}
	if len(d.Envelope.To) > MaxRecipients {
		return d, invalid("You may not have more than 50 recipients per message.")
	}
	if req.TextBody == "" && req.HTMLBody == "" {
		return d, invalid("Provide either email TextBody or HtmlBody or both.")
	}
	if len(req.TextBody) > MaxBody || len(req.HTMLBody) > MaxBody {
		return d, invalid("The TextBody or HtmlBody exceeds 5 MB.")
	}
	if req.Tag != "" {
		m.Tags = []string{req.Tag}
	}
	for _, h := range req.Headers {
		m.Headers = append(m.Headers, transport.Field{Name: h.Name, Value: h.Value})
	}
	for _, a := range req.Attachments {
		data, err := base64.StdEncoding.DecodeString(a.Content)
		if err != nil || a.Name == "" {
			return d, invalid("Attachment '" + a.Name + "' has invalid content or no name.")
		}
		if strings.HasSuffix(strings.ToLower(a.Name), ".exe") {
			return d, pmError(422, 411, "Forbidden attachment type: "+a.Name)
		}
		if strings.ContainsAny(a.ContentID, " ") || !strings.Contains(a.ContentType, "/") {
			return d, invalid("Attachment '" + a.Name + "' has an invalid ContentType or ContentID.")
		}
		m.Attachments = append(m.Attachments, transport.Attachment{Filename: a.Name, ContentType: a.ContentType, Data: data,
			Inline: a.ContentID != "", ContentID: a.ContentID})
	}
	d.Message = m
	return d, nil
}

func (fakePostmark) Accepted(_ *http.Request, _ []byte, d transporttest.Delivery, n int) *fakeapi.Reply {
	return fakeapi.JSON(200, map[string]any{"To": strings.Join(d.Envelope.To, ", "), "SubmittedAt": "2024-03-09T12:00:00.0000000Z",
		"MessageID": "b7bc2f4a-e38e-4336-af7d-e6c39" + fmt.Sprintf("%07d", n), "ErrorCode": 0, "Message": "OK"})
}

func (fakePostmark) Refusal(f transporttest.Fault) *fakeapi.Reply {
	switch f.Kind {
	case transporttest.AuthFailed:
		return pmError(401, 10, "Request does not contain a valid Server token.")
	case transporttest.RateLimited:
		return pmError(429, 429, "Rate limit exceeded.")
	case transporttest.ServiceUnavailable:
		return pmError(503, 100, "Maintenance: Postmark is offline for maintenance.")
	case transporttest.PermRejectRecipient:
		return pmError(422, 406, "You tried to send to recipient(s) that have been marked as inactive. Found inactive addresses: "+
			f.Recipient+". Inactive recipients are ones that have generated a hard bounce, a spam complaint, or a manual suppression.")
	}
	return nil // Postmark refuses no recipient temporarily
}
