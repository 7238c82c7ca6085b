package sendgridmail

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/mail"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/postiemail/postie/transport"
	"github.com/postiemail/postie/transport/internal/fakeapi"
	"github.com/postiemail/postie/transport/transporttest"
)

const testKey = "SG.test-key-never-printed"

// fakeSendGrid checks requests the way POST /v3/mail/send does, from SendGrid's
// documentation ("Mail Send", "Errors", "Limitations") rather than from this package's
// types, and answers as SendGrid does: 202 with X-Message-Id, or {"errors":[...]}.
type fakeSendGrid struct{}

// The request body as SendGrid documents it; decoding is strict, so a field this package
// misspells is a 400, as the real API's schema validation would make it.
type (
	sgAddr struct {
		Email string `json:"email"`
		Name  string `json:"name"`
	}
	sgRequest struct {
		Personalizations []struct {
			To            []sgAddr          `json:"to"`
			Cc            []sgAddr          `json:"cc"`
			Bcc           []sgAddr          `json:"bcc"`
			Subject       string            `json:"subject"`
			Headers       map[string]string `json:"headers"`
			CustomArgs    map[string]string `json:"custom_args"`
			SendAt        int64             `json:"send_at"`
			Substitutions map[string]string `json:"substitutions"`
		} `json:"personalizations"`
		From        sgAddr    `json:"from"`
		ReplyTo     *sgAddr   `json:"reply_to"`
		ReplyToList []sgAddr  `json:"reply_to_list"`
		Subject     string    `json:"subject"`
		Content     []sgEntry `json:"content"`
		Attachments []struct {
			Content     string `json:"content"`
			Type        string `json:"type"`
			Filename    string `json:"filename"`
			Disposition string `json:"disposition"`
			ContentID   string `json:"content_id"`
		} `json:"attachments"`
		TemplateID       string            `json:"template_id"`
		Headers          map[string]string `json:"headers"`
		Categories       []string          `json:"categories"`
		CustomArgs       map[string]string `json:"custom_args"`
		SendAt           int64             `json:"send_at"`
		BatchID          string            `json:"batch_id"`
		IPPoolName       string            `json:"ip_pool_name"`
		MailSettings     map[string]any    `json:"mail_settings"`
		TrackingSettings map[string]any    `json:"tracking_settings"`
	}
	sgEntry struct {
		Type  string `json:"type"`
		Value string `json:"value"`
	}
)

func sgError(status int, field, msg string) *fakeapi.Reply {
	e := map[string]any{"message": msg, "field": nil, "help": nil}
	if field != "" {
		e["field"] = field
		e["help"] = "http://sendgrid.com/docs/API_Reference/Web_API_v3/Mail/errors.html#message." + field
	}
	return fakeapi.JSON(status, map[string]any{"errors": []any{e}})
}

func (fakeSendGrid) Accept(r *http.Request, body []byte) (transporttest.Delivery, *fakeapi.Reply) {
	var d transporttest.Delivery
	switch {
	case r.URL.Path != "/v3/mail/send":
		return d, sgError(404, "", "resource not found")
	case r.Method != http.MethodPost:
		return d, sgError(405, "", "method not allowed")
	case r.Header.Get("Authorization") == "":
		return d, sgError(401, "", "authorization required")
	case !fakeapi.Bearer(r, testKey):
		return d, sgError(401, "", "The provided authorization grant is invalid, expired, or revoked")
	case fakeapi.MediaType(r) != "application/json":
		return d, sgError(415, "", "Content-Type should be application/json.")
	case len(body) >= MaxSize:
		return d, sgError(413, "", "The JSON payload you have included in your request is too large.")
	}
	var req sgRequest
	if err := fakeapi.StrictJSON(body, &req); err != nil {
		return d, sgError(400, "", "Bad Request: "+err.Error())
	}
	if len(req.Personalizations) != 1 {
		return d, sgError(400, "personalizations", "this fake expects the one personalization Postie sends")
	}
	p := req.Personalizations[0]
	if len(p.To) == 0 {
		return d, sgError(400, "personalizations.0.to", "The to parameter is required for all personalization objects.")
	}
	m := &transport.Message{Subject: req.Subject, Tags: req.Categories, Metadata: req.CustomArgs}
	seen := map[string]bool{}
	for _, l := range []struct {
		name string
		in   []sgAddr
		out  *[]mail.Address
	}{{"to", p.To, &m.To}, {"cc", p.Cc, &m.Cc}, {"bcc", p.Bcc, &m.Bcc}} {
		for i, a := range l.in {
			if _, err := mail.ParseAddress(a.Email); err != nil || !strings.Contains(a.Email, "@") {
				return d, sgError(400, fmt.Sprintf("personalizations.0.%s.%d.email", l.name, i), "Does not contain a valid address.")
			}
			if strings.ContainsAny(a.Name, ";,") {
				return d, sgError(400, fmt.Sprintf("personalizations.0.%s.%d.name", l.name, i), "The name cannot contain ; or , characters.")
			}
			if seen[strings.ToLower(a.Email)] {
				return d, sgError(400, "personalizations", "Each email address in the personalization block should be unique between to, cc, and bcc. We found the first duplicate instance of ["+a.Email+"] in the personalizations.0."+l.name+" field.")
			}
			seen[strings.ToLower(a.Email)] = true
			*l.out = append(*l.out, mail.Address{Name: a.Name, Address: a.Email})
			d.Envelope.To = append(d.Envelope.To, a.Email)
		}
	}
	if len(d.Envelope.To) > MaxRecipients {
		return d, sgError(400, "personalizations", "There is a limit of 1000 total recipients (to + cc + bcc) per request.")
	}
	if req.From.Email == "" {
		return d, sgError(400, "from.email", "The from object must be provided for every email send. It is an object that requires the email parameter, but may also contain a name parameter.")
	}
	m.From = mail.Address{Name: req.From.Name, Address: req.From.Email}
	d.Envelope.From = req.From.Email
	if req.Subject == "" && p.Subject == "" {
		return d, sgError(400, "subject", "The subject is required. You can get around this requirement if you use a template with a subject defined or if every single personalization has a subject defined.")
	}
	if req.ReplyTo != nil && len(req.ReplyToList) > 0 {
		return d, sgError(400, "reply_to", "reply_to and reply_to_list cannot both be used")
	}
	if req.ReplyTo != nil {
		m.ReplyTo = []mail.Address{{Name: req.ReplyTo.Name, Address: req.ReplyTo.Email}}
	}
	for _, a := range req.ReplyToList {
		m.ReplyTo = append(m.ReplyTo, mail.Address{Name: a.Name, Address: a.Email})
	}
	if len(req.Content) == 0 {
		return d, sgError(400, "content", "Unless a valid template_id is provided, the content parameter is required. There must be at least one defined content block.")
	}
	for i, c := range req.Content {
		switch {
		case c.Value == "":
			return d, sgError(400, fmt.Sprintf("content.%d.value", i), "The content value must be a string at least one character in length.")
		case strings.ContainsAny(c.Type, ";\r\n"):
			return d, sgError(400, fmt.Sprintf("content.%d.type", i), "The content type cannot contain ';', or CRLF characters.")
		case c.Type == "text/plain" && i != 0:
			return d, sgError(400, fmt.Sprintf("content.%d.type", i), "If present, text/plain must be first, followed by text/html, followed by any other content.")
		case c.Type == "text/plain":
			m.Text = c.Value
		case c.Type == "text/html":
			if m.HTML != "" || (i > 0 && req.Content[i-1].Type != "text/plain") {
				return d, sgError(400, fmt.Sprintf("content.%d.type", i), "If present, text/plain must be first, followed by text/html, followed by any other content.")
			}
			m.HTML = c.Value
		default:
			m.Alternatives = append(m.Alternatives, transport.Alternative{ContentType: c.Type, Body: []byte(c.Value)})
		}
	}
	for i, a := range req.Attachments {
		data, err := base64.StdEncoding.DecodeString(a.Content)
		switch {
		case err != nil:
			return d, sgError(400, fmt.Sprintf("attachments.%d.content", i), "The attachment content must be base64 encoded.")
		case a.Filename == "":
			return d, sgError(400, fmt.Sprintf("attachments.%d.filename", i), "The attachment filename parameter is required.")
		case a.Disposition == "inline" && a.ContentID == "":
			return d, sgError(400, fmt.Sprintf("attachments.%d.content_id", i), "The content_id parameter is required if disposition is set to inline.")
		case a.Disposition != "" && a.Disposition != "inline" && a.Disposition != "attachment":
			return d, sgError(400, fmt.Sprintf("attachments.%d.disposition", i), "disposition must be inline or attachment")
		}
		m.Attachments = append(m.Attachments, transport.Attachment{Filename: a.Filename, ContentType: a.Type, Data: data,
			Inline: a.Disposition == "inline", ContentID: a.ContentID})
	}
	if len(req.Categories) > MaxCategories {
		return d, sgError(400, "categories", "The categories parameter is limited to 10 categories.")
	}
	names := make([]string, 0, len(req.Headers))
	for k := range req.Headers {
		if slices.Contains(reserved, strings.ToLower(k)) {
			return d, sgError(400, "headers", "The header "+k+" is reserved and cannot be set.")
		}
		names = append(names, k)
	}
	slices.Sort(names) // an object has no order; Postie writes headers sorted by name
	for _, k := range names {
		m.Headers = append(m.Headers, transport.Field{Name: k, Value: req.Headers[k]})
	}
	d.Message = m
	return d, nil
}

func (fakeSendGrid) Accepted(_ *http.Request, _ []byte, _ transporttest.Delivery, n int) *fakeapi.Reply {
	return &fakeapi.Reply{Status: 202, Header: http.Header{"X-Message-Id": {"sg-msg-" + strconv.Itoa(n)}}}
}

func (fakeSendGrid) Refusal(f transporttest.Fault) *fakeapi.Reply {
	switch f.Kind {
	case transporttest.AuthFailed:
		return sgError(401, "", "The provided authorization grant is invalid, expired, or revoked")
	case transporttest.RateLimited:
		r := sgError(429, "", "too many requests")
		r = r.With("X-RateLimit-Limit", "600").With("X-RateLimit-Remaining", "0")
		return r.With("X-RateLimit-Reset", strconv.FormatInt(time.Now().Add(7*time.Second).Unix(), 10))
	case transporttest.ServiceUnavailable:
		return sgError(503, "", "The SendGrid v3 Web API is not available.")
	}
	// SendGrid refuses no recipient at send time (an invalid address is a 400 for the whole
	// request, InvalidArgument); bounces arrive later through its Event Webhook.
	return nil
}
