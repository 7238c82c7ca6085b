// Package resendmail sends mail through Resend's API (POST /emails), as a
// transport.Transport.
//
// The API key comes from Options.APIKey or $RESEND_API_KEY and is sent only in the
// Authorization header: never in errors, logs or String. The URL form, for
// mailer.OpenMailer, is
//
//	resend://
//
// Every request carries an Idempotency-Key derived from the Message-ID (the id itself, or
// its SHA-256 when it is longer than Resend's 256 characters). Resend answers a repeated
// key with the first response for 24 hours and sends nothing, so a retry can never deliver
// twice: a request that got no answer is therefore Unavailable and temporary, not
// transport.ErrMaybeDelivered, and sending the same Message twice delivers it once. A
// message without a Message-ID goes without a key and a lost answer is ErrMaybeDelivered.
//
// Mapping: From, To, Cc, Bcc and Reply-To become Resend's address strings; Text and HTML
// become text and html; attachments and inline parts (content_id) become attachments;
// extra headers become headers; each tag becomes a tag {"name": tag} and each metadata
// entry a tag {"name": key, "value": value}, Resend's only custom data. Bcc recipients go
// only in bcc.
//
// Refused with InvalidArgument before anything is sent, because Resend cannot carry them:
// an envelope sender other than From, DSN, RequireTLS, Alternatives, a message with no To
// recipient, no subject or no body, a header given twice, a tag or metadata key or value with
// characters other than ASCII letters, digits, "_" and "-" or longer than 256, a tag equal
// to a metadata key, a Content-ID of 128 characters or more, an attachment whose file
// extension Resend refuses (.exe, .bat, .js, ...). More than 50 To recipients is
// InvalidArgument too, and a request over 40 MB (Resend counts after base64) is
// ResourceExhausted.
//
// Resend's error name refines the status: daily_quota_exceeded and monthly_quota_exceeded
// are ResourceExhausted and permanent (waiting seconds will not help), rate_limit_exceeded
// temporary; concurrent_idempotent_requests is Unavailable and temporary;
// invalid_idempotent_request is InvalidArgument. Errors wrap *ErrorResponse.
// Transport.As reaches the Doer (and the *http.Client when the Doer is one).
package resendmail

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"path"
	"slices"
	"strings"

	"github.com/google/wire"
	"github.com/postiemail/postie/mailer"
	"github.com/postiemail/postie/transport"
	"github.com/postiemail/postie/transport/internal/httpmail"
)

// Scheme is the URL scheme this package registers with mailer.DefaultURLMux.
const Scheme = "resend"

// DefaultBaseURL is Resend's API.
const DefaultBaseURL = "https://api.resend.com"

// Resend's documented limits, checked before sending.
const (
	MaxTo           = 50         // addresses in to
	MaxSize         = 40_000_000 // decimal megabytes, after base64
	MaxTag          = 256        // characters in a tag name or value
	MaxContentID    = 127        // "less than 128 characters"
	MaxIdempotency  = 256        // characters in an Idempotency-Key
	idempotencyHash = "sha256:"
)

const provider = "resendmail"

// Doer sends HTTP requests: an *http.Client, or one instrumented with otelhttp.
type Doer interface {
	Do(*http.Request) (*http.Response, error)
}

// Options configures a Transport. The zero value and nil mean defaults.
type Options struct {
	// APIKey authenticates requests; default $RESEND_API_KEY.
	APIKey string
	// BaseURL is the API's base URL; default DefaultBaseURL. Tests point it at a fake.
	BaseURL string
}

// Set is the Wire provider set for this package: it provides *Transport from a Doer and
// *Options, binding no interface.
var Set = wire.NewSet(New)

// Transport sends through Resend's /emails endpoint. It is safe for concurrent use.
type Transport struct {
	ep      *httpmail.Endpoint
	maxSize int // MaxSize; tests lower it
}

// New returns a Transport that sends through client, or through a default *http.Client
// with a 60-second timeout when client is nil.
func New(client Doer, opts *Options) (*Transport, error) {
	if opts == nil {
		opts = &Options{}
	}
	key, err := httpmail.Secret(provider, "APIKey", opts.APIKey, "RESEND_API_KEY")
	if err != nil {
		return nil, err
	}
	base, err := httpmail.BaseURL(provider, opts.BaseURL, DefaultBaseURL)
	if err != nil {
		return nil, err
	}
	ep := httpmail.NewEndpoint(provider, base, client, func(h http.Header) { h.Set("Authorization", "Bearer "+key) })
	return &Transport{ep: ep, maxSize: MaxSize}, nil
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

// IdempotencyKey returns the Idempotency-Key Send uses for a message with this Message-ID:
// the id itself when it fits Resend's 256 characters, else "sha256:" and its hex digest.
func IdempotencyKey(messageID string) string {
	if len(messageID) <= MaxIdempotency {
		return messageID
	}
	sum := sha256.Sum256([]byte(messageID))
	return idempotencyHash + hex.EncodeToString(sum[:])
}

// Send sends m with one /emails request. Resend accepts or refuses a message whole, so on
// success every envelope recipient is Accepted; Receipt.ID is Resend's email id.
func (t *Transport) Send(ctx context.Context, m *transport.Message) (*transport.Receipt, error) {
	if err := t.ep.Begin(ctx); err != nil {
		return nil, err
	}
	body, rcpts, err := t.build(m)
	if err != nil {
		return nil, err
	}
	req := &httpmail.Request{Path: "/emails", ContentType: "application/json", Body: body}
	if m.MessageID != "" {
		req.Header = http.Header{"Idempotency-Key": {IdempotencyKey(m.MessageID)}}
	}
	resp, err := t.ep.Post(ctx, req)
	if err != nil {
		return nil, err
	}
	if !resp.OK() {
		return nil, classify(req, resp)
	}
	var ok struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(resp.Body, &ok) // a 2xx is success even when its body is unreadable
	return &transport.Receipt{ID: ok.ID, Accepted: rcpts}, nil
}

// The request body of POST /emails, as Resend documents it.
type (
	attachment struct {
		Content     []byte `json:"content"` // standard base64
		Filename    string `json:"filename"`
		ContentType string `json:"content_type,omitempty"`
		ContentID   string `json:"content_id,omitempty"`
	}
	tag struct {
		Name  string  `json:"name"`
		Value *string `json:"value,omitempty"`
	}
	email struct {
		From        string            `json:"from"`
		To          []string          `json:"to"`
		Cc          []string          `json:"cc,omitempty"`
		Bcc         []string          `json:"bcc,omitempty"`
		ReplyTo     []string          `json:"reply_to,omitempty"`
		Subject     string            `json:"subject"`
		HTML        string            `json:"html,omitempty"`
		Text        string            `json:"text,omitempty"`
		Headers     map[string]string `json:"headers,omitempty"`
		Attachments []attachment      `json:"attachments,omitempty"`
		Tags        []tag             `json:"tags,omitempty"`
	}
)

// refused are the attachment extensions Resend will not send (Resend knowledge base:
// "What attachment types are not supported?").
var refused = strings.Fields(`adp app asp bas bat cer chm cmd com cpl crt csh der exe fxp gadget hlp hta inf ins isp
	its js jse ksh lib lnk mad maf mag mam maq mar mas mat mau mav maw mda mdb mde mdt mdw mdz msc msh msh1 msh2 mshxml
	msh1xml msh2xml msi msp mst ops pcd pif plg prf prg reg scf scr sct shb shs sys ps1 ps1xml ps2 ps2xml psc1 psc2 tmp
	url vb vbe vbs vps vsmacros vss vst vsw vxd ws wsc wsf wsh xnk`)

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
	case len(rc.To) > MaxTo:
		return nil, nil, httpmail.TooMany(provider, "To recipients", len(rc.To), MaxTo, "split the recipients over several messages")
	case len(rc.To) == 0:
		return nil, nil, httpmail.Unsupported(provider, "a message with no To recipient", "Resend requires one: put a recipient in To")
	case m.Subject == "":
		return nil, nil, httpmail.Unsupported(provider, "an empty subject", "Resend requires a subject: set Subject")
	case m.Text == "" && m.HTML == "":
		return nil, nil, httpmail.Unsupported(provider, "a message with no body", "Resend requires html or text: set Text or HTML")
	case len(m.Alternatives) > 0:
		return nil, nil, httpmail.Unsupported(provider, "Alternatives", "Resend carries only a text and an HTML body: attach the calendar file instead")
	}
	req := email{
		From:    httpmail.Address(m.From),
		To:      httpmail.Addresses(rc.To),
		Cc:      httpmail.Addresses(rc.Cc),
		Bcc:     httpmail.Addresses(rc.Bcc),
		ReplyTo: httpmail.Addresses(m.ReplyTo),
		Subject: m.Subject,
		HTML:    m.HTML,
		Text:    m.Text,
	}
	if req.Headers, err = httpmail.MergeHeaders(provider, m); err != nil {
		return nil, nil, err
	}
	if req.Tags, err = tags(m); err != nil {
		return nil, nil, err
	}
	parts, err := httpmail.ReadAttachments(provider, m, int64(t.maxSize), func(_ int, p *httpmail.Part) error {
		if ext := strings.ToLower(strings.TrimPrefix(path.Ext(p.Name), ".")); ext != "" && slices.Contains(refused, ext) {
			return httpmail.Unsupported(provider, fmt.Sprintf("an attachment of type .%s (%q)", ext, p.Name), "Resend refuses executable and script attachments: zip it or send a link")
		}
		if len(p.ContentID) > MaxContentID {
			return httpmail.TooMany(provider, "characters in a Content-ID", len(p.ContentID), MaxContentID, "use a shorter ContentID")
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	for _, p := range parts {
		att := attachment{Content: p.Data, Filename: p.Name, ContentType: p.ContentType}
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

// tags returns m's tags (name only) and metadata (name and value), metadata sorted by key
// so that the same message always makes the same body: Resend refuses a repeated
// Idempotency-Key with a different body.
func tags(m *transport.Message) ([]tag, error) {
	ts, err := httpmail.Tags(provider, "Resend tags", m, MaxTag, true)
	if err != nil || len(ts) == 0 {
		return nil, err
	}
	out := make([]tag, len(ts))
	for i, t := range ts {
		out[i].Name = t.Name
		if t.Meta {
			out[i].Value = &ts[i].Value
		}
	}
	return out, nil
}

// ErrorResponse is Resend's error body, {"statusCode":422,"name":"validation_error",
// "message":"..."}, with the status it came with. Send errors wrap it: reach it with
// errors.As.
type ErrorResponse struct {
	StatusCode int    `json:"statusCode"`
	Name       string `json:"name"`
	Message    string `json:"message"`
	// Body is the raw response body, kept when it was not the documented JSON.
	Body []byte `json:"-"`
}

func (e *ErrorResponse) Error() string {
	s := provider + ": " + httpmail.Status(e.StatusCode)
	switch {
	case e.Name != "":
		return s + ": " + e.Name + ": " + e.Message
	case e.Message != "":
		return s + ": " + e.Message
	case len(e.Body) > 0:
		return s + ": " + httpmail.Snippet(e.Body)
	}
	return s
}

func classify(req *httpmail.Request, resp *httpmail.Response) error {
	er := &ErrorResponse{}
	if json.Unmarshal(resp.Body, er) != nil || (er.Name == "" && er.Message == "") {
		*er = ErrorResponse{Body: resp.Body}
	}
	er.StatusCode = resp.Status
	e := httpmail.StatusError(req, resp, er)
	switch er.Name {
	case "daily_quota_exceeded", "monthly_quota_exceeded":
		e.Code, e.Temporary = transport.ResourceExhausted, false
	case "rate_limit_exceeded":
		e.Code, e.Temporary = transport.ResourceExhausted, true
	case "concurrent_idempotent_requests":
		e.Code, e.Temporary = transport.Unavailable, true
	case "invalid_idempotent_request", "invalid_idempotency_key":
		e.Code, e.Temporary = transport.InvalidArgument, false
	case "missing_api_key", "restricted_api_key", "invalid_api_key", "invalid_access", "security_error":
		e.Code, e.Temporary = transport.PermissionDenied, false
	}
	return e
}

var _ transport.Transport = (*Transport)(nil)
