// Package sesmail sends mail through Amazon SES v2 (SendEmail with raw content), as a
// transport.Transport, using the AWS SDK for Go v2, which signs every request (SigV4).
//
// The message goes as raw MIME from smtp/mime.Write, so attachments, inline images,
// Alternatives and headers are byte for byte what Postie's SMTP engine sends. The
// recipients go in Destination, taken from the envelope: Bcc recipients are delivered
// without appearing in any header, and a message to Bcc recipients only works. Tags
// become message tags {Name: tag, Value: "true"} and Metadata entries message tags
// {Name: key, Value: value}, which SES publishes with the sending events of a
// configuration set. An envelope sender other than From becomes
// FeedbackForwardingEmailAddress: where SES forwards bounces and complaints.
//
// Credentials and region come from the AWS default chain (environment, shared config,
// SSO, IAM role) unless Options give them; they never appear in errors or String. The URL
// form, for mailer.OpenMailer, is
//
//	ses://[?region=eu-west-1][&configuration_set=name][&endpoint=https://...]
//
// Refused with InvalidArgument before anything is sent, because SES cannot carry them: a
// null envelope sender, DSN, RequireTLS (use a configuration set whose TLS policy is
// REQUIRE), a tag or metadata key or value that is empty, longer than 256 characters or
// has characters other than ASCII letters, digits, "_" and "-", a tag equal to a metadata
// key. More than 50 recipients is InvalidArgument too, and a message over 40 MB (its MIME
// size, measured before encoding anything) is ResourceExhausted.
//
// The SDK's own retries are turned off for SendEmail: retrying is the job of middleware,
// and SES has no idempotency token, so a request that was sent but got no answer fails
// wrapping transport.ErrMaybeDelivered. SES error codes refine the HTTP status:
// MessageRejected, MailFromDomainNotVerifiedException, AccountSuspendedException and
// SendingPausedException are PermissionDenied, LimitExceededException is
// ResourceExhausted (permanent), TooManyRequestsException ResourceExhausted (temporary),
// NotFoundException NotFound. Errors wrap the SDK's error: reach smithy.APIError or the
// sesv2/types exceptions with errors.As. Transport.As reaches the *sesv2.Client.
package sesmail

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"strings"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	"github.com/aws/smithy-go"
	"github.com/google/wire"
	"github.com/postiemail/postie/mailer"
	"github.com/postiemail/postie/smtp/mime"
	"github.com/postiemail/postie/transport"
	"github.com/postiemail/postie/transport/internal/httpmail"
)

// Scheme is the URL scheme this package registers with mailer.DefaultURLMux.
const Scheme = "ses"

// SES limits, checked before sending: recipients per message, and the v2 API's maximum
// message size (decimal megabytes, after base64, as SES measures it). MaxTag bounds a tag
// name or value.
const (
	MaxRecipients = 50
	MaxSize       = 40_000_000
	MaxTag        = 256
)

const provider = "sesmail"

// Doer sends HTTP requests: an *http.Client, or one instrumented with otelhttp. It is the
// SDK's HTTPClient interface.
type Doer interface {
	Do(*http.Request) (*http.Response, error)
}

// Options configures a Transport. The zero value and nil mean defaults.
type Options struct {
	// ConfigurationSetName names the SES configuration set every message is sent with
	// (event publishing, TLS policy, IP pool).
	ConfigurationSetName string

	// The rest are used by Open to build the SDK client; New ignores them.

	// Region is the AWS region, such as "eu-west-1"; default from the AWS config chain
	// ($AWS_REGION, the shared config file).
	Region string
	// BaseEndpoint overrides the SES endpoint URL: a VPC endpoint, or a test fake.
	BaseEndpoint string
	// HTTPClient sends the SDK's requests; nil means the SDK's default client.
	HTTPClient Doer
	// Credentials sign requests; nil means the AWS default credential chain.
	Credentials aws.CredentialsProvider
}

// Set is the Wire provider set for this package: it provides *Transport from a
// *sesv2.Client and *Options, binding no interface.
var Set = wire.NewSet(New)

// Transport sends through SES v2. It is safe for concurrent use.
type Transport struct {
	client  *sesv2.Client
	confSet string
	region  string
	maxSize int64        // MaxSize; tests lower it
	owned   *http.Client // the HTTP client Open made, whose idle connections Close releases
	netHTTP bool         // the SDK sends through net/http, so httptrace sees every attempt
	closed  atomic.Bool
}

// New returns a Transport that sends with client. Its own retries are disabled for each
// SendEmail call, so the client may be shared with code that wants them.
func New(client *sesv2.Client, opts *Options) (*Transport, error) {
	if client == nil {
		return nil, transport.Errorf(transport.InvalidArgument, false, "%s: New needs a *sesv2.Client: build one with sesv2.NewFromConfig, or call Open", provider)
	}
	if opts == nil {
		opts = &Options{}
	}
	t := &Transport{client: client, confSet: opts.ConfigurationSetName, region: client.Options().Region, maxSize: MaxSize}
	switch client.Options().HTTPClient.(type) {
	case *http.Client, *awshttp.BuildableClient, nil:
		t.netHTTP = true // no trace event then means no connection was sought
	}
	return t, nil
}

// Open loads the AWS configuration (the default chain, overridden by opts) and returns a
// Transport over a new SES v2 client. Without Options.HTTPClient it uses the SDK's default
// client, whose idle connections Close releases.
func Open(ctx context.Context, opts *Options) (*Transport, error) {
	if opts == nil {
		opts = &Options{}
	}
	var load []func(*config.LoadOptions) error
	if opts.Region != "" {
		load = append(load, config.WithRegion(opts.Region))
	}
	if opts.HTTPClient != nil {
		load = append(load, config.WithHTTPClient(opts.HTTPClient))
	}
	if opts.Credentials != nil {
		load = append(load, config.WithCredentialsProvider(opts.Credentials))
	}
	cfg, err := config.LoadDefaultConfig(ctx, load...)
	if err != nil {
		return nil, transport.Errorf(transport.FailedPrecondition, false, "%s: load AWS config: %w", provider, err)
	}
	// The SDK's default client (with any $AWS_CA_BUNDLE applied), frozen into a plain
	// *http.Client so that Close can release its idle connections.
	var owned *http.Client
	if bc, ok := cfg.HTTPClient.(*awshttp.BuildableClient); ok && opts.HTTPClient == nil {
		frozen := bc.Freeze()
		owned, _ = frozen.(*http.Client)
		cfg.HTTPClient = frozen
	}
	if cfg.Region == "" {
		return nil, transport.Errorf(transport.FailedPrecondition, false, "%s: no AWS region: set Options.Region, ?region= in the URL, or $AWS_REGION", provider)
	}
	if opts.BaseEndpoint != "" {
		if _, err := httpmail.BaseURL(provider, opts.BaseEndpoint, ""); err != nil {
			return nil, err
		}
	}
	client := sesv2.NewFromConfig(cfg, func(o *sesv2.Options) {
		if opts.BaseEndpoint != "" {
			o.BaseEndpoint = aws.String(opts.BaseEndpoint)
		}
	})
	t, err := New(client, opts)
	if err != nil {
		return nil, err
	}
	t.owned = owned
	return t, nil
}

// OpenMailer returns a mailer.Client over a new Transport that sends with client.
func OpenMailer(ctx context.Context, client *sesv2.Client, opts *Options) (*mailer.Client, error) {
	t, err := New(client, opts)
	if err != nil {
		return nil, err
	}
	return mailer.New(t, nil), nil
}

// String names the transport and its region, never credentials.
func (t *Transport) String() string { return provider + "(" + t.region + ")" }

// Close makes later sends fail with FailedPrecondition. It releases the idle connections
// of the HTTP client Open made, not those of a client the caller passed.
func (t *Transport) Close() error {
	if !t.closed.Swap(true) && t.owned != nil {
		t.owned.CloseIdleConnections()
	}
	return nil
}

// As exposes the SDK client: target may be a **sesv2.Client.
func (t *Transport) As(target any) bool {
	if p, ok := target.(**sesv2.Client); ok {
		*p = t.client
		return true
	}
	return false
}

// Send sends m with one SendEmail call. SES accepts or refuses a message whole, so on
// success every envelope recipient is Accepted; Receipt.ID is SES's MessageId. SES writes
// its own Message-ID header, so Receipt.MessageID is left empty.
func (t *Transport) Send(ctx context.Context, m *transport.Message) (*transport.Receipt, error) {
	if t.closed.Load() {
		return nil, transport.Closed(provider)
	}
	if err := transport.FromContext(ctx, nil); err != nil {
		return nil, err
	}
	in, rc, err := t.input(m)
	if err != nil {
		return nil, err
	}
	tctx, w := httpmail.Trace(ctx)
	w.NetHTTP = t.netHTTP
	out, err := t.client.SendEmail(tctx, in, func(o *sesv2.Options) { o.Retryer = aws.NopRetryer{} })
	if err != nil {
		return nil, classify(ctx, err, w)
	}
	return &transport.Receipt{ID: aws.ToString(out.MessageId), Accepted: rc.Addrs()}, nil
}

func (t *Transport) input(m *transport.Message) (*sesv2.SendEmailInput, httpmail.Recipients, error) {
	var rc httpmail.Recipients
	in := &sesv2.SendEmailInput{}
	if err := httpmail.CheckLines(provider, m); err != nil {
		return nil, rc, err
	}
	switch {
	case m.Envelope.From == "":
		return nil, rc, httpmail.Unsupported(provider, "the null envelope sender <>", "SES needs a sender: set EnvelopeFrom or leave it to From")
	case m.Envelope.DSN != nil:
		return nil, rc, httpmail.Unsupported(provider, "a DSN request", "SES reports bounces through SNS or event destinations; leave DSN nil")
	case m.Envelope.RequireTLS:
		return nil, rc, httpmail.Unsupported(provider, "RequireTLS per message", "send with a configuration set whose TLS policy is REQUIRE and leave RequireTLS false")
	case m.Envelope.From != m.From.Address:
		in.FeedbackForwardingEmailAddress = aws.String(m.Envelope.From)
	}
	rc, err := httpmail.SplitRecipients(provider, m)
	if err != nil {
		return nil, rc, err
	}
	if rc.Len() > MaxRecipients {
		return nil, rc, httpmail.TooMany(provider, "recipients", rc.Len(), MaxRecipients, "split the recipients over several messages")
	}
	if in.EmailTags, err = tags(m); err != nil {
		return nil, rc, err
	}
	size, err := mime.Size(m, nil)
	if err != nil {
		return nil, rc, err
	}
	if size > t.maxSize {
		return nil, rc, httpmail.TooLarge(provider, size, t.maxSize)
	}
	var raw bytes.Buffer
	raw.Grow(int(size))
	if err := mime.Write(&raw, m, nil); err != nil {
		return nil, rc, err
	}
	in.Content = &types.EmailContent{Raw: &types.RawMessage{Data: raw.Bytes()}}
	in.Destination = &types.Destination{ToAddresses: addrs(rc.To), CcAddresses: addrs(rc.Cc), BccAddresses: addrs(rc.Bcc)}
	if t.confSet != "" {
		in.ConfigurationSetName = aws.String(t.confSet)
	}
	return in, rc, nil
}

func addrs(l []mail.Address) []string {
	if len(l) == 0 {
		return nil
	}
	out := make([]string, len(l))
	for i, a := range l {
		out[i] = a.Address
	}
	return out
}

// tags returns m's tags ({tag, "true"}) and metadata ({key, value}) as SES message tags,
// metadata sorted by key.
func tags(m *transport.Message) ([]types.MessageTag, error) {
	ts, err := httpmail.Tags(provider, "SES message tags", m, MaxTag, false)
	if err != nil || len(ts) == 0 {
		return nil, err
	}
	out := make([]types.MessageTag, len(ts))
	for i, t := range ts {
		v := "true"
		if t.Meta {
			v = t.Value
		}
		out[i] = types.MessageTag{Name: aws.String(t.Name), Value: aws.String(v)}
	}
	return out, nil
}

// classify maps an SDK error into the common model.
func classify(ctx context.Context, err error, w *httpmail.Written) error {
	var re *awshttp.ResponseError
	if !errors.As(err, &re) || re.HTTPStatusCode() == 0 {
		if ctx.Err() == nil && w.NotSent() && !w.Sought() {
			// The SDK failed before it dialled: no credentials (or the chain could not
			// fetch them), no endpoint. Nothing was sent, and sending again will not help.
			return &transport.Error{Code: transport.FailedPrecondition, Err: fmt.Errorf("%s: request not sent: %w", provider, err)}
		}
		return httpmail.NoResponse(provider, ctx, err, w, false)
	}
	resp := &httpmail.Response{Status: re.HTTPStatusCode(), Header: http.Header{}}
	if re.Response != nil && re.Response.Response != nil {
		resp.Header = re.Response.Header
	}
	e := httpmail.StatusError(&httpmail.Request{}, resp, &apiError{err})
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "MessageRejected", "MailFromDomainNotVerifiedException", "AccountSuspendedException", "SendingPausedException",
			"AccessDeniedException", "UnrecognizedClientException", "InvalidSignatureException", "SignatureDoesNotMatch":
			e.Code, e.Temporary = transport.PermissionDenied, false
		case "LimitExceededException":
			e.Code, e.Temporary = transport.ResourceExhausted, false
		case "TooManyRequestsException", "ThrottlingException", "Throttling":
			e.Code, e.Temporary = transport.ResourceExhausted, true
		case "NotFoundException":
			e.Code, e.Temporary = transport.NotFound, false
		case "BadRequestException":
			e.Code, e.Temporary = transport.InvalidArgument, false
		case "InternalServiceErrorException", "ServiceUnavailable":
			e.Code, e.Temporary = transport.Unavailable, true
		}
	}
	return e
}

// apiError is an SDK error whose text is cut to its first line, and to 500 bytes. AWS
// error messages can go on: SignatureDoesNotMatch quotes the canonical request and the
// string to sign, in which the session token of temporary credentials stands in clear,
// and the text of an error ends up in logs. errors.As still reaches the SDK's types.
type apiError struct{ err error }

func (e *apiError) Error() string {
	s := e.err.Error()
	for _, end := range []string{"\n", "\r", "The Canonical String", "The String-to-Sign"} {
		if i := strings.Index(s, end); i >= 0 {
			s = s[:i]
		}
	}
	if len(s) > 500 {
		s = strings.ToValidUTF8(s[:500], "") + "..."
	}
	return provider + ": " + strings.TrimSpace(s)
}

func (e *apiError) Unwrap() error { return e.err }

var _ transport.Transport = (*Transport)(nil)
