// Package postmarkmail sends mail through Postmark's single-message API (POST /email), as
// a transport.Transport.
//
// The server token comes from Options.ServerToken or $POSTMARK_SERVER_TOKEN and is sent
// only in the X-Postmark-Server-Token header: never in errors, logs or String. The URL
// form, for mailer.OpenMailer, is
//
//	postmark://[?stream=outbound]
//
// Mapping: From, To, Cc, Bcc and Reply-To become Postmark's address strings ("Name
// <addr>", comma separated); Text and HTML become TextBody and HtmlBody; attachments and
// inline parts (with ContentID) become Attachments; extra headers become Headers (order and
// repeats kept); the one tag becomes Tag and Metadata becomes Metadata. Bcc recipients go
// only in Bcc.
//
// Refused with InvalidArgument before anything is sent, because Postmark cannot carry
// them: an envelope sender other than From, DSN, RequireTLS, Alternatives, a message with
// no To recipient or no body, more than one tag, two metadata keys that differ only in
// case, a Content-ID with non-ASCII characters. More than 50 recipients is InvalidArgument
// too; a text or HTML body over 5 MB, or a request over 10 MB (Postmark counts after
// base64), is ResourceExhausted.
//
// Postmark's ErrorCode refines the HTTP status: 406 (inactive recipient: it bounced hard
// or complained) is NotFound, 10 (bad token), 400/401 (sender signature) and 412/413
// (account) are PermissionDenied, 405 (no credits) is ResourceExhausted, 100 (maintenance)
// is Unavailable. Postmark offers no idempotency key, so a request that was sent but got
// no answer fails wrapping transport.ErrMaybeDelivered. Errors wrap *ErrorResponse.
// Transport.As reaches the Doer (and the *http.Client when the Doer is one).
package postmarkmail

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/google/wire"
	"github.com/postiemail/postie/mailer"
	"github.com/postiemail/postie/transport"
	"github.com/postiemail/postie/transport/internal/httpmail"
)

// Scheme is the URL scheme this package registers with mailer.DefaultURLMux.
const Scheme = "postmark"

// DefaultBaseURL is Postmark's API.
const DefaultBaseURL = "https://api.postmarkapp.com"

// Postmark's documented limits, checked before sending (decimal megabytes, after base64).
const (
	MaxRecipients = 50
	MaxSize       = 10_000_000
	MaxBody       = 5_000_000 // TextBody and HtmlBody each
)

const provider = "postmarkmail"

// Doer sends HTTP requests: an *http.Client, or one instrumented with otelhttp.
type Doer interface {
	Do(*http.Request) (*http.Response, error)
}

// Options configures a Transport. The zero value and nil mean defaults.
type Options struct {
	// ServerToken authenticates requests; default $POSTMARK_SERVER_TOKEN. Postmark's test
	// token "POSTMARK_API_TEST" validates messages without delivering them.
	ServerToken string
	// BaseURL is the API's base URL; default DefaultBaseURL. Tests point it at a fake.
	BaseURL string
	// MessageStream names the stream to send through; empty means the server's default
	// transactional stream ("outbound").
	MessageStream string
}

// Set is the Wire provider set for this package: it provides *Transport from a Doer and
// *Options, binding no interface.
var Set = wire.NewSet(New)

// Transport sends through Postmark's /email endpoint. It is safe for concurrent use.
type Transport struct {
	ep      *httpmail.Endpoint
	stream  string
	maxSize int // MaxSize; tests lower it
}

// New returns a Transport that sends through client, or through a default *http.Client
// with a 60-second timeout when client is nil.
func New(client Doer, opts *Options) (*Transport, error) {
	if opts == nil {
		opts = &Options{}
	}
	token, err := httpmail.Secret(provider, "ServerToken", opts.ServerToken, "POSTMARK_SERVER_TOKEN")
	if err != nil {
		return nil, err
	}
	base, err := httpmail.BaseURL(provider, opts.BaseURL, DefaultBaseURL)
	if err != nil {
		return nil, err
	}
	ep := httpmail.NewEndpoint(provider, base, client, func(h http.Header) { h.Set("X-Postmark-Server-Token", token) })
	return &Transport{ep: ep, stream: opts.MessageStream, maxSize: MaxSize}, nil
}

// OpenMailer returns a mailer.Client over a new Transport.
func OpenMailer(ctx context.Context, client Doer, opts *Options) (*mailer.Client, error) {
	t, err := New(client, opts)
	if err != nil {
		return nil, err
	}
	return mailer.New(t, nil), nil
}

// String describes the transport without its token.
func (t *Transport) String() string { return t.ep.String() }

// Close makes later sends fail with FailedPrecondition. It closes the idle connections of
// the default client, not those of a Doer the caller passed.
func (t *Transport) Close() error { return t.ep.Close() }

// As exposes the HTTP client: target may be a *Doer, or a **http.Client when the Doer is
// an *http.Client.
func (t *Transport) As(target any) bool { return httpmail.As[Doer](t.ep, target) }

// Send sends m with one /email request. Postmark accepts or refuses a message whole, so on
// success every envelope recipient is Accepted; Receipt.ID is Postmark's MessageID.
// Postmark writes its own Message-ID header, so Receipt.MessageID is left empty.
func (t *Transport) Send(ctx context.Context, m *transport.Message) (*transport.Receipt, error) {
	if err := t.ep.Begin(ctx); err != nil {
		return nil, err
	}
	body, rcpts, err := t.build(m)
	if err != nil {
		return nil, err
	}
	req := &httpmail.Request{Path: "/email", ContentType: "application/json", Body: body}
	resp, err := t.ep.Post(ctx, req)
	if err != nil {
		return nil, err
	}
	var ok sendResponse
	parsed := json.Unmarshal(resp.Body, &ok) == nil
	if !resp.OK() || (parsed && ok.ErrorCode != 0) {
		return nil, classify(req, resp)
	}
	return &transport.Receipt{ID: ok.MessageID, Accepted: rcpts}, nil
}

// The request body of POST /email, as Postmark documents it.
type (
	header struct {
		Name  string `json:"Name"`
		Value string `json:"Value"`
	}
	attachment struct {
		Name        string `json:"Name"`
		Content     []byte `json:"Content"` // standard base64
		ContentType string `json:"ContentType"`
		ContentID   string `json:"ContentID,omitempty"`
	}
	email struct {
		From          string            `json:"From"`
		To            string            `json:"To"`
		Cc            string            `json:"Cc,omitempty"`
		Bcc           string            `json:"Bcc,omitempty"`
		Subject       string            `json:"Subject"`
		Tag           string            `json:"Tag,omitempty"`
		HTMLBody      string            `json:"HtmlBody,omitempty"`
		TextBody      string            `json:"TextBody,omitempty"`
		ReplyTo       string            `json:"ReplyTo,omitempty"`
		Headers       []header          `json:"Headers,omitempty"`
		Metadata      map[string]string `json:"Metadata,omitempty"`
		Attachments   []attachment      `json:"Attachments,omitempty"`
		MessageStream string            `json:"MessageStream,omitempty"`
	}
	sendResponse struct {
		To          string `json:"To"`
		SubmittedAt string `json:"SubmittedAt"`
		MessageID   string `json:"MessageID"`
		ErrorCode   int    `json:"ErrorCode"`
		Message     string `json:"Message"`
	}
)

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
		return nil, nil, httpmail.TooMany(provider, "recipients (To+Cc+Bcc)", rc.Len(), MaxRecipients, "split the recipients over several messages")
	case len(rc.To) == 0:
		return nil, nil, httpmail.Unsupported(provider, "a message with no To recipient", "Postmark requires one: put a recipient in To")
	case m.Text == "" && m.HTML == "":
		return nil, nil, httpmail.Unsupported(provider, "a message with no body", "Postmark requires a TextBody or HtmlBody: set Text or HTML")
	case len(m.Alternatives) > 0:
		return nil, nil, httpmail.Unsupported(provider, "Alternatives", "Postmark carries only a text and an HTML body: attach the calendar file instead")
	case len(m.Tags) > 1:
		return nil, nil, httpmail.TooMany(provider, "tags", len(m.Tags), 1, "Postmark takes one Tag per message: keep one and put the rest in Metadata")
	case len(m.Text) > MaxBody || len(m.HTML) > MaxBody:
		return nil, nil, httpmail.TooLarge(provider, int64(max(len(m.Text), len(m.HTML))), MaxBody)
	}
	req := email{
		From:          httpmail.Address(m.From),
		To:            strings.Join(httpmail.Addresses(rc.To), ", "),
		Cc:            strings.Join(httpmail.Addresses(rc.Cc), ", "),
		Bcc:           strings.Join(httpmail.Addresses(rc.Bcc), ", "),
		Subject:       m.Subject,
		TextBody:      m.Text,
		HTMLBody:      m.HTML,
		ReplyTo:       strings.Join(httpmail.Addresses(m.ReplyTo), ", "),
		MessageStream: t.stream,
	}
	if len(m.Tags) == 1 {
		req.Tag = m.Tags[0]
	}
	for _, f := range m.Headers {
		req.Headers = append(req.Headers, header{Name: f.Name, Value: f.Value})
	}
	if len(m.Metadata) > 0 {
		seen := make(map[string]string, len(m.Metadata))
		for k := range m.Metadata {
			if other, dup := seen[strings.ToLower(k)]; dup {
				return nil, nil, httpmail.Unsupported(provider, fmt.Sprintf("the metadata keys %q and %q", other, k), "Postmark treats keys case-insensitively: rename one")
			}
			seen[strings.ToLower(k)] = k
		}
		req.Metadata = m.Metadata
	}
	parts, err := httpmail.ReadAttachments(provider, m, int64(t.maxSize), func(_ int, p *httpmail.Part) error {
		if p.Inline && !ascii(p.ContentID) {
			return httpmail.Unsupported(provider, fmt.Sprintf("the Content-ID %q (not ASCII)", p.ContentID), "Postmark accepts ASCII Content-IDs only (RFC 2392): use e.g. logo@example.com")
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	for _, p := range parts {
		att := attachment{Name: p.Name, Content: p.Data, ContentType: p.ContentType}
		if p.Inline {
			att.ContentID = p.ContentID
		}
		req.Attachments = append(req.Attachments, att)
	}
	body, err := httpmail.JSON(provider, req, t.maxSize)
	if err != nil {
		return nil, nil, err
	}
	return body, rc.Addrs(), nil
}

func ascii(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// ErrorResponse is Postmark's error body, {"ErrorCode":300,"Message":"..."}, with the
// status it came with. Send errors wrap it: reach it with errors.As.
type ErrorResponse struct {
	StatusCode int    `json:"-"`
	ErrorCode  int    `json:"ErrorCode"`
	Message    string `json:"Message"`
	// Body is the raw response body, kept when it was not the documented JSON.
	Body []byte `json:"-"`
}

func (e *ErrorResponse) Error() string {
	s := provider + ": " + httpmail.Status(e.StatusCode)
	if e.Message != "" || e.ErrorCode != 0 {
		return fmt.Sprintf("%s: ErrorCode %d: %s", s, e.ErrorCode, e.Message)
	}
	if len(e.Body) > 0 {
		return s + ": " + httpmail.Snippet(e.Body)
	}
	return s
}

// Postmark API error codes (Postmark "API overview: error codes") that refine the status.
const (
	codeBadToken          = 10
	codeMaintenance       = 100
	codeInvalidRequest    = 300
	codeSenderNotFound    = 400
	codeSenderUnconfirmed = 401
	codeInvalidJSON       = 402
	codeIncompatibleJSON  = 403
	codeNotAllowed        = 405
	codeInactiveRecipient = 406
	codeJSONRequired      = 409
	codeForbiddenType     = 411
	codeAccountPending    = 412
	codeAccountMayNotSend = 413
)

func classify(req *httpmail.Request, resp *httpmail.Response) error {
	er := &ErrorResponse{StatusCode: resp.Status}
	if json.Unmarshal(resp.Body, er) != nil || (er.ErrorCode == 0 && er.Message == "") {
		er.ErrorCode, er.Message, er.Body = 0, "", resp.Body
	}
	if resp.OK() { // a 200 that still carries an ErrorCode: classify as Postmark's 422
		resp = &httpmail.Response{Status: http.StatusUnprocessableEntity, Header: resp.Header, Body: resp.Body}
	}
	e := httpmail.StatusError(req, resp, er)
	switch er.ErrorCode {
	case codeInactiveRecipient:
		e.Code, e.Temporary = transport.NotFound, false
	case codeBadToken, codeSenderNotFound, codeSenderUnconfirmed, codeAccountPending, codeAccountMayNotSend:
		e.Code, e.Temporary = transport.PermissionDenied, false
	case codeNotAllowed:
		e.Code, e.Temporary = transport.ResourceExhausted, false
	case codeInvalidJSON, codeIncompatibleJSON, codeJSONRequired:
		e.Code, e.Temporary = transport.Internal, false
	case codeInvalidRequest, codeForbiddenType:
		e.Code, e.Temporary = transport.InvalidArgument, false
	case codeMaintenance:
		e.Code, e.Temporary = transport.Unavailable, true
	}
	return e
}

var _ transport.Transport = (*Transport)(nil)
