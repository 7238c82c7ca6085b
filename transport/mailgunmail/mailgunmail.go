// Package mailgunmail sends mail through Mailgun's messages API, as a transport.Transport.
//
// It posts each message in MIME form (POST /v3/{domain}/messages.mime): the bytes come
// from smtp/mime.Write, so attachments, inline images, Alternatives and headers are
// byte for byte what Postie's SMTP engine sends, and the recipients go in to fields taken
// from the envelope, so Bcc recipients are delivered without appearing in any header and
// a message to Bcc recipients only works. Tags become o:tag, Metadata becomes v:key
// variables (Mailgun writes them into an X-Mailgun-Variables header that recipients can
// see: keep secrets out of them), RequireTLS becomes o:require-tls.
//
// The API key comes from Options.APIKey or $MAILGUN_API_KEY and the sending domain from
// Options.Domain or $MAILGUN_DOMAIN; the key is sent only as the HTTP Basic password of
// user "api": never in errors, logs or String. Domains in Mailgun's EU region use
// EUBaseURL. The URL form, for mailer.OpenMailer, is
//
//	mailgun://[domain][?region=eu][&testmode=true]
//
// Refused with InvalidArgument before anything is sent, because Mailgun's API cannot carry
// them: an envelope sender other than From (Mailgun sets the bounce address) and DSN. More
// than 1000 recipients, more than 10 tags, or over 16 KB of o:/v: options is
// InvalidArgument too, and a message over 25 MB (its MIME size, measured before encoding
// anything) is ResourceExhausted.
//
// Mailgun offers no idempotency key for sends, so a request that was sent but got no
// answer fails wrapping transport.ErrMaybeDelivered. Errors wrap *ErrorResponse.
// Transport.As reaches the Doer (and the *http.Client when the Doer is one).
package mailgunmail

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"slices"
	"strings"

	"github.com/google/wire"
	"github.com/postiemail/postie/mailer"
	"github.com/postiemail/postie/smtp/mime"
	"github.com/postiemail/postie/transport"
	"github.com/postiemail/postie/transport/internal/httpmail"
)

// Scheme is the URL scheme this package registers with mailer.DefaultURLMux.
const Scheme = "mailgun"

// Base URLs of Mailgun's regions.
const (
	DefaultBaseURL = "https://api.mailgun.net"    // US
	EUBaseURL      = "https://api.eu.mailgun.net" // domains created in the EU region
)

// Mailgun's limits, checked before sending. MaxSize is read in decimal megabytes, the
// conservative reading of "25MB"; MaxRecipients and MaxTags are those of Mailgun's
// official SDKs; MaxOptions is the documented cap on o:, h:, v: and t: parameters.
const (
	MaxRecipients = 1000
	MaxSize       = 25_000_000
	MaxTags       = 10
	MaxOptions    = 16 << 10
)

const provider = "mailgunmail"

// Doer sends HTTP requests: an *http.Client, or one instrumented with otelhttp.
type Doer interface {
	Do(*http.Request) (*http.Response, error)
}

// Options configures a Transport. The zero value and nil mean defaults.
type Options struct {
	// APIKey authenticates requests; default $MAILGUN_API_KEY.
	APIKey string
	// Domain is the Mailgun sending domain, e.g. "mg.example.com"; default $MAILGUN_DOMAIN.
	Domain string
	// BaseURL is the API's base URL; default DefaultBaseURL. EU domains use EUBaseURL;
	// tests point it at a fake.
	BaseURL string
	// TestMode sends o:testmode=yes: Mailgun accepts the message and delivers nothing.
	TestMode bool
}

// Set is the Wire provider set for this package: it provides *Transport from a Doer and
// *Options, binding no interface.
var Set = wire.NewSet(New)

// Transport sends through Mailgun's messages API. It is safe for concurrent use.
type Transport struct {
	ep       *httpmail.Endpoint
	path     string
	testMode bool
	maxSize  int64 // MaxSize; tests lower it
}

// New returns a Transport that sends through client, or through a default *http.Client
// with a 60-second timeout when client is nil.
func New(client Doer, opts *Options) (*Transport, error) {
	if opts == nil {
		opts = &Options{}
	}
	key, err := httpmail.Secret(provider, "APIKey", opts.APIKey, "MAILGUN_API_KEY")
	if err != nil {
		return nil, err
	}
	domain, err := httpmail.Secret(provider, "Domain", opts.Domain, "MAILGUN_DOMAIN")
	if err != nil {
		return nil, err
	}
	if strings.ContainsAny(domain, "/?#%@: \t") {
		return nil, transport.Errorf(transport.InvalidArgument, false, "%s: domain %q is not a domain name: use e.g. mg.example.com", provider, domain)
	}
	base, err := httpmail.BaseURL(provider, opts.BaseURL, DefaultBaseURL)
	if err != nil {
		return nil, err
	}
	ep := httpmail.NewEndpoint(provider, base, client, func(h http.Header) {
		r := http.Request{Header: h}
		r.SetBasicAuth("api", key)
	})
	return &Transport{ep: ep, path: "/v3/" + domain + "/messages.mime", testMode: opts.TestMode, maxSize: MaxSize}, nil
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
func (t *Transport) String() string { return t.ep.String() + t.path }

// Close makes later sends fail with FailedPrecondition. It closes the idle connections of
// the default client, not those of a Doer the caller passed.
func (t *Transport) Close() error { return t.ep.Close() }

// As exposes the HTTP client: target may be a *Doer, or a **http.Client when the Doer is
// an *http.Client.
func (t *Transport) As(target any) bool { return httpmail.As[Doer](t.ep, target) }

// Send posts m in MIME form to its envelope recipients. Mailgun accepts or refuses a
// message whole, so on success every envelope recipient is Accepted; Receipt.ID is
// Mailgun's id without angle brackets, which is the message's Message-ID.
func (t *Transport) Send(ctx context.Context, m *transport.Message) (*transport.Receipt, error) {
	if err := t.ep.Begin(ctx); err != nil {
		return nil, err
	}
	body, ctype, err := t.build(m)
	if err != nil {
		return nil, err
	}
	req := &httpmail.Request{Path: t.path, ContentType: ctype, Body: body}
	resp, err := t.ep.Post(ctx, req)
	if err != nil {
		return nil, err
	}
	if !resp.OK() {
		return nil, classify(req, resp)
	}
	var ok struct {
		ID      string `json:"id"`
		Message string `json:"message"`
	}
	_ = json.Unmarshal(resp.Body, &ok) // a 2xx is success even when its body is unreadable
	return &transport.Receipt{MessageID: m.MessageID, ID: strings.Trim(ok.ID, "<>"), Accepted: slices.Clone(m.Envelope.To)}, nil
}

// build returns the multipart/form-data body and its content type.
func (t *Transport) build(m *transport.Message) ([]byte, string, error) {
	if err := httpmail.CheckLines(provider, m); err != nil {
		return nil, "", err
	}
	if err := httpmail.CheckEnvelope(provider, m, true); err != nil {
		return nil, "", err
	}
	switch {
	case len(m.Envelope.To) == 0:
		return nil, "", transport.Errorf(transport.InvalidArgument, false, "%s: Envelope.To is empty: set Envelope.To, or send through mailer.Client, which fills it from To, Cc and Bcc", provider)
	case len(m.Envelope.To) > MaxRecipients:
		return nil, "", httpmail.TooMany(provider, "recipients", len(m.Envelope.To), MaxRecipients, "split the recipients over several messages")
	case len(m.Tags) > MaxTags:
		return nil, "", httpmail.TooMany(provider, "tags", len(m.Tags), MaxTags, "keep at most 10 tags")
	}
	size, err := mime.Size(m, nil)
	if err != nil {
		return nil, "", err
	}
	if size > t.maxSize {
		return nil, "", httpmail.TooLarge(provider, size, t.maxSize)
	}

	var options [][2]string
	for _, tag := range m.Tags {
		options = append(options, [2]string{"o:tag", tag})
	}
	for _, k := range slices.Sorted(maps.Keys(m.Metadata)) {
		options = append(options, [2]string{"v:" + k, m.Metadata[k]})
	}
	if m.Envelope.RequireTLS {
		options = append(options, [2]string{"o:require-tls", "yes"})
	}
	if t.testMode {
		options = append(options, [2]string{"o:testmode", "yes"})
	}
	n := 0
	for _, o := range options {
		n += len(o[0]) + len(o[1])
	}
	if n > MaxOptions {
		return nil, "", httpmail.TooMany(provider, "bytes of tags and metadata (o: and v: options)", n, MaxOptions, "keep metadata small: store large data on your side, keyed by an id")
	}

	var b bytes.Buffer
	b.Grow(int(size) + 1024)
	w := multipart.NewWriter(&b)
	for _, rc := range m.Envelope.To {
		_ = w.WriteField("to", rc) // writes to a bytes.Buffer cannot fail
	}
	for _, o := range options {
		_ = w.WriteField(o[0], o[1])
	}
	h := make(textproto.MIMEHeader)
	h.Set("Content-Disposition", `form-data; name="message"; filename="message.mime"`)
	h.Set("Content-Type", "message/rfc822")
	part, _ := w.CreatePart(h)
	if err := mime.Write(part, m, nil); err != nil {
		return nil, "", err
	}
	_ = w.Close()
	return b.Bytes(), w.FormDataContentType(), nil
}

// ErrorResponse is Mailgun's error body, {"message":"..."}, with the status it came with.
// Send errors wrap it: reach it with errors.As.
type ErrorResponse struct {
	StatusCode int    `json:"-"`
	Message    string `json:"message"`
	// Body is the raw response body, kept when it was not the documented JSON (Mailgun
	// answers a bad key with a plain "Forbidden").
	Body []byte `json:"-"`
}

func (e *ErrorResponse) Error() string {
	s := provider + ": " + httpmail.Status(e.StatusCode)
	switch {
	case e.Message != "":
		return s + ": " + e.Message
	case len(e.Body) > 0:
		return s + ": " + httpmail.Snippet(e.Body)
	}
	return s
}

func classify(req *httpmail.Request, resp *httpmail.Response) error {
	er := &ErrorResponse{StatusCode: resp.Status}
	if json.Unmarshal(resp.Body, er) != nil || er.Message == "" {
		er.Message, er.Body = "", resp.Body
	}
	return httpmail.StatusError(req, resp, er)
}

var _ transport.Transport = (*Transport)(nil)
