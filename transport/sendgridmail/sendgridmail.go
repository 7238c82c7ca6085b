// Package sendgridmail sends mail through Twilio SendGrid's v3 Mail Send API
// (POST /v3/mail/send), as a transport.Transport.
//
// The API key comes from Options.APIKey or $SENDGRID_API_KEY and is sent only in the
// Authorization header: never in errors, logs or String. EU-pinned subusers set
// Options.BaseURL to EUBaseURL. The URL form, for mailer.OpenMailer, is
//
//	sendgrid://[?region=eu][&sandbox=true]
//
// Mapping: Text and HTML become content entries (text/plain first, as SendGrid requires),
// Alternatives further entries; attachments and inline parts (disposition "inline" with a
// content_id) become attachments; Reply-To becomes reply_to, or reply_to_list for several;
// extra headers go in headers; Tags become categories and Metadata custom_args. Bcc
// recipients go in personalizations[0].bcc and so never appear in a header.
//
// Refused with InvalidArgument before anything is sent, because SendGrid cannot carry
// them: an envelope sender other than From, DSN, RequireTLS, a message with no To
// recipient, an empty subject or an empty body, a recipient name containing ";" or ",",
// a header given twice or one SendGrid reserves, an Alternative whose media type has
// parameters (SendGrid refuses ";" in a content type) or whose body is not UTF-8, more
// than 10 tags or a tag over 255 characters, custom args of 10,000 bytes or more.
// Over 1000 recipients is InvalidArgument too, and a request of 30 MB or more is
// ResourceExhausted.
//
// SendGrid offers no idempotency key, so a request that was sent but got no answer fails
// wrapping transport.ErrMaybeDelivered. Errors wrap *ErrorResponse, SendGrid's error body.
// Transport.As reaches the Doer (and the *http.Client when the Doer is one).
package sendgridmail

import (
	"context"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"net/mail"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/wire"
	"github.com/postiemail/postie/mailer"
	"github.com/postiemail/postie/transport"
	"github.com/postiemail/postie/transport/internal/httpmail"
)

// Scheme is the URL scheme this package registers with mailer.DefaultURLMux.
const Scheme = "sendgrid"

// Base URLs of the v3 API.
const (
	DefaultBaseURL = "https://api.sendgrid.com"
	EUBaseURL      = "https://api.eu.sendgrid.com" // for subusers pinned to the EU region
)

// Limits of the Mail Send endpoint (SendGrid "Mail Send" limitations), checked before
// sending. MaxSize is read in decimal megabytes, the conservative reading of "30MB".
const (
	MaxRecipients = 1000
	MaxSize       = 30_000_000
	MaxCategories = 10
	MaxCategory   = 255
	MaxCustomArgs = 10_000
)

const provider = "sendgridmail"

// Doer sends HTTP requests: an *http.Client, or one instrumented with otelhttp.
type Doer interface {
	Do(*http.Request) (*http.Response, error)
}

// Options configures a Transport. The zero value and nil mean defaults.
type Options struct {
	// APIKey authenticates requests; default $SENDGRID_API_KEY.
	APIKey string
	// BaseURL is the API's base URL; default DefaultBaseURL. Tests point it at a fake.
	BaseURL string
	// SandboxMode asks SendGrid to validate each message without delivering it.
	SandboxMode bool
}

// Set is the Wire provider set for this package: it provides *Transport from a Doer and
// *Options. It binds no interface; the application decides what transport.Transport is.
var Set = wire.NewSet(New)

// Transport sends through the Mail Send API. It is safe for concurrent use.
type Transport struct {
	ep      *httpmail.Endpoint
	sandbox bool
	maxSize int // MaxSize; tests lower it
}

// New returns a Transport that sends through client, or through a default *http.Client
// with a 60-second timeout when client is nil.
func New(client Doer, opts *Options) (*Transport, error) {
	if opts == nil {
		opts = &Options{}
	}
	key, err := httpmail.Secret(provider, "APIKey", opts.APIKey, "SENDGRID_API_KEY")
	if err != nil {
		return nil, err
	}
	base, err := httpmail.BaseURL(provider, opts.BaseURL, DefaultBaseURL)
	if err != nil {
		return nil, err
	}
	ep := httpmail.NewEndpoint(provider, base, client, func(h http.Header) { h.Set("Authorization", "Bearer "+key) })
	return &Transport{ep: ep, sandbox: opts.SandboxMode, maxSize: MaxSize}, nil
}

// OpenMailer returns a mailer.Client over a new Transport.
func OpenMailer(ctx context.Context, client Doer, opts *Options) (*mailer.Client, error) {
	t, err := New(client, opts)
	if err != nil {
		return nil, err
	}
	return mailer.New(t, nil), nil
}

// String describes the transport without its API key.
func (t *Transport) String() string { return t.ep.String() }

// Close makes later sends fail with FailedPrecondition. It closes the idle connections of
// the default client, not those of a Doer the caller passed.
func (t *Transport) Close() error { return t.ep.Close() }

// As exposes the HTTP client: target may be a *Doer, or a **http.Client when the Doer is
// an *http.Client.
func (t *Transport) As(target any) bool { return httpmail.As[Doer](t.ep, target) }

// Send sends m with one Mail Send request. SendGrid accepts or refuses a message whole, so
// on success every envelope recipient is Accepted; Receipt.ID is SendGrid's X-Message-Id.
func (t *Transport) Send(ctx context.Context, m *transport.Message) (*transport.Receipt, error) {
	if err := t.ep.Begin(ctx); err != nil {
		return nil, err
	}
	body, rcpts, err := t.build(m)
	if err != nil {
		return nil, err
	}
	req := &httpmail.Request{Path: "/v3/mail/send", ContentType: "application/json", Body: body}
	resp, err := t.ep.Post(ctx, req)
	if err != nil {
		return nil, err
	}
	if !resp.OK() {
		return nil, classify(req, resp, time.Now())
	}
	return &transport.Receipt{ID: resp.Header.Get("X-Message-Id"), Accepted: rcpts}, nil
}

// The request body, as documented for POST /v3/mail/send.
type (
	address struct {
		Email string `json:"email"`
		Name  string `json:"name,omitempty"`
	}
	personalization struct {
		To  []address `json:"to"`
		Cc  []address `json:"cc,omitempty"`
		Bcc []address `json:"bcc,omitempty"`
	}
	content struct {
		Type  string `json:"type"`
		Value string `json:"value"`
	}
	attachment struct {
		Content     []byte `json:"content"` // encoding/json writes []byte as standard base64
		Type        string `json:"type,omitempty"`
		Filename    string `json:"filename"`
		Disposition string `json:"disposition,omitempty"`
		ContentID   string `json:"content_id,omitempty"`
	}
	toggle struct {
		Enable bool `json:"enable"`
	}
	mailSettings struct {
		SandboxMode *toggle `json:"sandbox_mode,omitempty"`
	}
	mailSend struct {
		Personalizations []personalization `json:"personalizations"`
		From             address           `json:"from"`
		ReplyTo          *address          `json:"reply_to,omitempty"`
		ReplyToList      []address         `json:"reply_to_list,omitempty"`
		Subject          string            `json:"subject"`
		Content          []content         `json:"content"`
		Attachments      []attachment      `json:"attachments,omitempty"`
		Headers          map[string]string `json:"headers,omitempty"`
		Categories       []string          `json:"categories,omitempty"`
		CustomArgs       map[string]string `json:"custom_args,omitempty"`
		MailSettings     *mailSettings     `json:"mail_settings,omitempty"`
	}
)

// reserved are the headers SendGrid refuses in the headers object.
var reserved = []string{"x-sg-id", "x-sg-eid", "received", "dkim-signature", "content-transfer-encoding",
	"from", "to", "cc", "bcc", "subject", "content-type", "reply-to"}

// build checks m against what SendGrid can carry and returns the request body and the
// recipients it goes to.
func (t *Transport) build(m *transport.Message) ([]byte, []string, error) {
	if err := httpmail.CheckLines(provider, m); err != nil {
		return nil, nil, err
	}
	if err := httpmail.CheckEnvelope(provider, m, false); err != nil {
		return nil, nil, err
	}
	rc, err := httpmail.SplitRecipients(provider, m)
	if err != nil {
		return nil, nil, err
	}
	switch {
	case rc.Len() > MaxRecipients:
		return nil, nil, httpmail.TooMany(provider, "recipients (to+cc+bcc)", rc.Len(), MaxRecipients, "split the recipients over several messages")
	case len(rc.To) == 0:
		return nil, nil, httpmail.Unsupported(provider, "a message with no To recipient", "SendGrid requires one: put a recipient in To")
	case m.Subject == "":
		return nil, nil, httpmail.Unsupported(provider, "an empty subject", "SendGrid requires a subject: set Subject")
	case m.Text == "" && m.HTML == "" && len(m.Alternatives) == 0:
		return nil, nil, httpmail.Unsupported(provider, "a message with no body", "SendGrid requires content: set Text or HTML")
	}
	p := personalization{}
	for _, l := range []struct {
		in  []mail.Address
		out *[]address
	}{{rc.To, &p.To}, {rc.Cc, &p.Cc}, {rc.Bcc, &p.Bcc}} {
		for _, a := range l.in {
			if strings.ContainsAny(a.Name, ";,") {
				return nil, nil, httpmail.Unsupported(provider, fmt.Sprintf("the recipient name %q (it contains ; or ,)", a.Name), "SendGrid refuses those characters in names: remove them")
			}
			*l.out = append(*l.out, address{Email: a.Address, Name: a.Name})
		}
	}
	req := mailSend{
		Personalizations: []personalization{p},
		From:             address{Email: m.From.Address, Name: m.From.Name},
		Subject:          m.Subject,
	}
	switch len(m.ReplyTo) {
	case 0:
	case 1:
		req.ReplyTo = &address{Email: m.ReplyTo[0].Address, Name: m.ReplyTo[0].Name}
	default:
		for _, a := range m.ReplyTo {
			req.ReplyToList = append(req.ReplyToList, address{Email: a.Address, Name: a.Name})
		}
	}
	if m.Text != "" {
		req.Content = append(req.Content, content{Type: "text/plain", Value: m.Text})
	}
	if m.HTML != "" {
		req.Content = append(req.Content, content{Type: "text/html", Value: m.HTML})
	}
	for i, alt := range m.Alternatives {
		mt, params, err := mime.ParseMediaType(alt.ContentType)
		switch {
		case err != nil || len(params) > 0:
			return nil, nil, httpmail.Unsupported(provider, fmt.Sprintf("Alternatives[%d] with media type %q", i, alt.ContentType), "SendGrid refuses parameters in a content type: use a bare type such as text/calendar")
		case !utf8.Valid(alt.Body):
			return nil, nil, httpmail.Unsupported(provider, fmt.Sprintf("Alternatives[%d] with a body that is not UTF-8", i), "SendGrid carries content as JSON text: attach binary data instead")
		case mt == "text/plain" || mt == "text/html":
			return nil, nil, httpmail.Unsupported(provider, fmt.Sprintf("Alternatives[%d] of type %s", i, mt), "SendGrid takes one of each: use Text or HTML")
		}
		req.Content = append(req.Content, content{Type: mt, Value: string(alt.Body)})
	}
	if req.Headers, err = httpmail.MergeHeaders(provider, m); err != nil {
		return nil, nil, err
	}
	for name := range req.Headers {
		if slices.Contains(reserved, strings.ToLower(name)) {
			return nil, nil, httpmail.Unsupported(provider, fmt.Sprintf("the header %q", name), "SendGrid reserves it: remove it")
		}
	}
	if len(m.Tags) > MaxCategories {
		return nil, nil, httpmail.TooMany(provider, "tags (categories)", len(m.Tags), MaxCategories, "keep at most 10 tags")
	}
	for _, tag := range m.Tags {
		if utf8.RuneCountInString(tag) > MaxCategory {
			return nil, nil, httpmail.TooMany(provider, fmt.Sprintf("characters in tag %.20q...", tag), utf8.RuneCountInString(tag), MaxCategory, "shorten the tag")
		}
		if slices.Contains(req.Categories, tag) {
			return nil, nil, httpmail.Unsupported(provider, fmt.Sprintf("the tag %q given twice", tag), "give each tag once")
		}
		req.Categories = append(req.Categories, tag)
	}
	if len(m.Metadata) > 0 {
		req.CustomArgs = m.Metadata
		if b, _ := json.Marshal(m.Metadata); len(b) >= MaxCustomArgs {
			return nil, nil, httpmail.TooMany(provider, "bytes of metadata (custom_args)", len(b), MaxCustomArgs-1, "keep metadata small: store large data on your side, keyed by an id")
		}
	}
	if t.sandbox {
		req.MailSettings = &mailSettings{SandboxMode: &toggle{Enable: true}}
	}
	parts, err := httpmail.ReadAttachments(provider, m, int64(t.maxSize), nil)
	if err != nil {
		return nil, nil, err
	}
	for _, p := range parts {
		att := attachment{Content: p.Data, Type: p.ContentType, Filename: p.Name, Disposition: "attachment"}
		if p.Inline {
			att.Disposition, att.ContentID = "inline", p.ContentID
		}
		req.Attachments = append(req.Attachments, att)
	}
	body, err := httpmail.JSON(provider, req, t.maxSize-1)
	if err != nil {
		return nil, nil, err
	}
	return body, rc.Addrs(), nil
}

// ErrorResponse is SendGrid's error body, {"errors":[{"message","field","help"}]}, with
// the status it came with. Send errors wrap it: reach it with errors.As.
type ErrorResponse struct {
	StatusCode int        `json:"-"`
	Errors     []APIError `json:"errors"`
	// Body is the raw response body, kept when it was not the documented JSON.
	Body []byte `json:"-"`
}

// APIError is one entry of ErrorResponse.Errors.
type APIError struct {
	Message string `json:"message"`
	Field   string `json:"field"`
	Help    any    `json:"help"`
}

func (e *ErrorResponse) Error() string {
	var b strings.Builder
	b.WriteString(provider + ": " + httpmail.Status(e.StatusCode))
	for i, ae := range e.Errors {
		if i == 3 {
			fmt.Fprintf(&b, "; and %d more", len(e.Errors)-3)
			break
		}
		b.WriteString(": ")
		if ae.Field != "" {
			b.WriteString(ae.Field + ": ")
		}
		b.WriteString(ae.Message)
	}
	if len(e.Errors) == 0 && len(e.Body) > 0 {
		b.WriteString(": " + httpmail.Snippet(e.Body))
	}
	return b.String()
}

// classify maps a refusal to the common model: ClassifyHTTP for the status and
// Retry-After, with X-RateLimit-Reset (Unix seconds, sent on every SendGrid response) as
// the delay when a 429 carries no Retry-After.
func classify(req *httpmail.Request, resp *httpmail.Response, now time.Time) error {
	er := &ErrorResponse{StatusCode: resp.Status}
	if json.Unmarshal(resp.Body, er) != nil || len(er.Errors) == 0 {
		er.Errors, er.Body = nil, resp.Body
	}
	e := httpmail.StatusError(req, resp, er)
	if resp.Status == http.StatusTooManyRequests && e.RetryAfter == 0 {
		e.RetryAfter = httpmail.ResetAfter(resp.Header.Get("X-RateLimit-Reset"), now)
	}
	return e
}

var _ transport.Transport = (*Transport)(nil)
