package resendmail

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/mail"
	"path"
	"slices"
	"strings"
	"sync"

	"github.com/postiemail/postie/transport"
	"github.com/postiemail/postie/transport/internal/fakeapi"
	"github.com/postiemail/postie/transport/transporttest"
)

const testKey = "re_test_key_never_printed"

// fakeResend checks requests the way POST /emails does, from Resend's API reference and
// error list (not from this package's types), answers {"id":...} or
// {"statusCode","name","message"}, and keeps Resend's idempotency promise: a repeated
// Idempotency-Key with the same body gets the first answer and sends nothing; with another
// body it is a 409 invalid_idempotent_request.
type fakeResend struct {
	mu   sync.Mutex
	keys map[string]seenKey
}

type seenKey struct {
	body []byte
	id   string
}

func newFake() *fakeResend { return &fakeResend{keys: map[string]seenKey{}} }

type rsRequest struct {
	From        string            `json:"from"`
	To          []string          `json:"to"`
	Subject     string            `json:"subject"`
	Bcc         []string          `json:"bcc"`
	Cc          []string          `json:"cc"`
	ScheduledAt string            `json:"scheduled_at"`
	ReplyTo     []string          `json:"reply_to"`
	HTML        string            `json:"html"`
	Text        string            `json:"text"`
	Headers     map[string]string `json:"headers"`
	Attachments []struct {
		Content     string `json:"content"`
		Filename    string `json:"filename"`
		Path        string `json:"path"`
		ContentType string `json:"content_type"`
		ContentID   string `json:"content_id"`
	} `json:"attachments"`
	Tags []struct {
		Name  string  `json:"name"`
		Value *string `json:"value"`
	} `json:"tags"`
}

func rsError(status int, name, msg string) *fakeapi.Reply {
	return fakeapi.JSON(status, map[string]any{"statusCode": status, "name": name, "message": msg})
}

func validation(msg string) *fakeapi.Reply { return rsError(422, "validation_error", msg) }

// idempotent answers a request that carries a key Resend has seen, or nil.
func (f *fakeResend) idempotent(r *http.Request, body []byte) *fakeapi.Reply {
	key := r.Header.Get("Idempotency-Key")
	if key == "" {
		return nil
	}
	if len(key) > 256 {
		return rsError(400, "invalid_idempotency_key", "The key must be between 1-256 chars.")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	prev, ok := f.keys[key]
	switch {
	case !ok:
		return nil
	case !bytes.Equal(prev.body, body):
		return rsError(409, "invalid_idempotent_request", "Same idempotency key used with a different request payload. Change your idempotency key or payload.")
	}
	return fakeapi.JSON(200, map[string]string{"id": prev.id})
}

func (f *fakeResend) Accept(r *http.Request, body []byte) (transporttest.Delivery, *fakeapi.Reply) {
	var d transporttest.Delivery
	switch {
	case r.URL.Path != "/emails":
		return d, rsError(404, "not_found", "The requested endpoint does not exist.")
	case r.Method != http.MethodPost:
		return d, rsError(405, "method_not_allowed", "Method is not allowed for the requested path.")
	case r.Header.Get("Authorization") == "":
		return d, rsError(401, "missing_api_key", "Missing API key in the authorization header.")
	case !fakeapi.Bearer(r, testKey):
		return d, rsError(403, "invalid_api_key", "API key is invalid.")
	case fakeapi.MediaType(r) != "application/json":
		return d, validation("Invalid content type: use application/json.")
	}
	if replay := f.idempotent(r, body); replay != nil {
		return d, replay
	}
	var req rsRequest
	if err := fakeapi.StrictJSON(body, &req); err != nil {
		return d, validation("Invalid request body: " + err.Error())
	}
	m := &transport.Message{Subject: req.Subject, Text: req.Text, HTML: req.HTML}
	from, err := mail.ParseAddress(req.From)
	if err != nil {
		return d, rsError(422, "invalid_from_address", "Invalid `from` field. The email address needs to follow the `email@example.com` or `Name <email@example.com>` format.")
	}
	m.From, d.Envelope.From = *from, from.Address
	switch {
	case len(req.To) == 0:
		return d, rsError(422, "missing_required_field", "Missing `to` field.")
	case req.Subject == "":
		return d, rsError(422, "missing_required_field", "Missing `subject` field.")
	case len(req.To) > MaxTo:
		return d, validation("Too many recipients: `to` takes at most 50 addresses.")
	case req.HTML == "" && req.Text == "":
		return d, rsError(422, "missing_required_field", "Missing `html` or `text` field.")
	case len(body) > MaxSize:
		return d, rsError(422, "invalid_attachment", "Attachments exceed the 40MB limit.")
	}
	for _, l := range []struct {
		in   []string
		out  *[]mail.Address
		rcpt bool
	}{{req.To, &m.To, true}, {req.Cc, &m.Cc, true}, {req.Bcc, &m.Bcc, true}, {req.ReplyTo, &m.ReplyTo, false}} {
		for _, s := range l.in {
			a, err := mail.ParseAddress(s)
			if err != nil {
				return d, validation("Invalid address: " + s)
			}
			*l.out = append(*l.out, *a)
			if l.rcpt {
				d.Envelope.To = append(d.Envelope.To, a.Address)
			}
		}
	}
	names := make([]string, 0, len(req.Headers))
	for k := range req.Headers {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		m.Headers = append(m.Headers, transport.Field{Name: k, Value: req.Headers[k]})
	}
	for _, a := range req.Attachments {
		data, err := base64.StdEncoding.DecodeString(a.Content)
		if err != nil || a.Filename == "" {
			return d, rsError(422, "invalid_attachment", "Attachment must have a filename and base64 content.")
		}
		if slices.Contains(refused, strings.TrimPrefix(path.Ext(a.Filename), ".")) {
			return d, rsError(422, "invalid_attachment", "This file type is not supported: "+a.Filename)
		}
		m.Attachments = append(m.Attachments, transport.Attachment{Filename: a.Filename, ContentType: a.ContentType, Data: data,
			Inline: a.ContentID != "", ContentID: a.ContentID})
	}
	for _, t := range req.Tags {
		if t.Value == nil {
			m.Tags = append(m.Tags, t.Name)
			continue
		}
		if m.Metadata == nil {
			m.Metadata = map[string]string{}
		}
		m.Metadata[t.Name] = *t.Value
	}
	d.Message = m
	return d, nil
}

func (f *fakeResend) Accepted(r *http.Request, body []byte, d transporttest.Delivery, n int) *fakeapi.Reply {
	id := fmt.Sprintf("49a3999c-0ce1-4ea6-ab68-%012d", n)
	if key := r.Header.Get("Idempotency-Key"); key != "" {
		f.mu.Lock()
		f.keys[key] = seenKey{body: body, id: id}
		f.mu.Unlock()
	}
	return fakeapi.JSON(200, map[string]string{"id": id})
}

func (f *fakeResend) Refusal(ft transporttest.Fault) *fakeapi.Reply {
	switch ft.Kind {
	case transporttest.AuthFailed:
		return rsError(401, "missing_api_key", "Missing API key in the authorization header.").With("Content-Type", "application/json")
	case transporttest.RateLimited:
		return rsError(429, "rate_limit_exceeded", "Too many requests. You can only make 2 requests per second.").
			With("ratelimit-limit", "2").With("ratelimit-remaining", "0").With("ratelimit-reset", "1").With("retry-after", "1")
	case transporttest.ServiceUnavailable:
		return rsError(503, "internal_server_error", "Service temporarily unavailable.")
	}
	return nil // Resend refuses no single recipient at send time
}
