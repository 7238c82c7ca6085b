package sesmail

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/mail"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	"github.com/aws/smithy-go"
	"github.com/postiemail/postie/mailer"
	"github.com/postiemail/postie/smtp/mime"
	"github.com/postiemail/postie/transport"
	"github.com/postiemail/postie/transport/internal/fakeapi"
	"github.com/postiemail/postie/transport/transporttest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// Keep the AWS config chain away from this machine's files and variables.
	dir, _ := os.MkdirTemp("", "sesmail")
	for k, v := range map[string]string{
		"AWS_CONFIG_FILE": filepath.Join(dir, "config"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "credentials"),
		"AWS_PROFILE": "", "AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_SESSION_TOKEN": "",
		"AWS_REGION": "", "AWS_DEFAULT_REGION": "", "AWS_EC2_METADATA_DISABLED": "true",
	} {
		os.Setenv(k, v)
	}
	code := m.Run()
	os.RemoveAll(dir)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			println("goleak:", err.Error())
			code = 1
		}
	}
	os.Exit(code)
}

func newAPI() fakeapi.API { return fakeSES{} }

var static = credentials.NewStaticCredentialsProvider(testKeyID, testSecret, "")

func open(base string) (transport.Transport, error) {
	return Open(context.Background(), &Options{Region: testRegion, BaseEndpoint: base, Credentials: static})
}

func TestConformance(t *testing.T) {
	transporttest.RunConformanceTests(t, fakeapi.Maker(newAPI, open), &transporttest.Options{
		NoPartial: true,
		AsTests: []func(*testing.T, transport.Transport){func(t *testing.T, tr transport.Transport) {
			var c *sesv2.Client
			if !transport.As(tr, &c) || c == nil || c.Options().Region != testRegion {
				t.Errorf("As(**sesv2.Client) should reach the SDK client")
			}
			var d Doer
			if transport.As(tr, &d) {
				t.Errorf("As(*Doer) = true; SES exposes the SDK client")
			}
		}},
	})
}

func fixture(t *testing.T, opts Options) (*fakeapi.Server, *Transport) {
	t.Helper()
	srv := fakeapi.New(fakeSES{})
	t.Cleanup(srv.Close)
	opts.Region, opts.BaseEndpoint, opts.Credentials = testRegion, srv.URL, static
	tr, err := Open(context.Background(), &opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return srv, tr
}

// message is fakeapi's base message with every recipient kind, a header and an attachment.
func message() *transport.Message {
	m := fakeapi.Message()
	m.Envelope.To = []string{"ann@example.org", "cy@example.net", "hidden@example.net"}
	m.Cc = []mail.Address{{Address: "cy@example.net"}}
	m.Bcc = []mail.Address{{Address: "hidden@example.net"}}
	m.ReplyTo = []mail.Address{{Address: "desk@example.com"}}
	m.Headers = []transport.Field{{Name: "List-Unsubscribe", Value: "<mailto:u@example.com>"}}
	m.Attachments = []transport.Attachment{{Filename: "a.pdf", ContentType: "application/pdf", Data: []byte("%PDF")}}
	return m
}

func TestRequest(t *testing.T) {
	srv, tr := fixture(t, Options{ConfigurationSetName: "transactional"})
	m := message()
	m.Envelope.From = "bounces@example.com"
	m.Tags = []string{"orders"}
	m.Metadata = map[string]string{"order": "42", "campaign": "spring-2024"}
	r, err := tr.Send(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	if r.ID != "0102018e2a4c5f7e-00000001-ses" || len(r.Accepted) != 3 || r.MessageID != "" {
		t.Errorf("receipt %+v", r)
	}
	var want bytes.Buffer
	if err := mime.Write(&want, m, nil); err != nil {
		t.Fatal(err)
	}
	d := srv.Deliveries()[0]
	if !bytes.Equal(d.Raw, want.Bytes()) {
		t.Errorf("Content.Raw differs from what SMTP would send:\n%s", d.Raw)
	}
	req := srv.Requests()[0]
	if got := req.Header.Get("Authorization"); !sigv4.MatchString(got) || strings.Contains(got, testSecret) {
		t.Errorf("Authorization %q is not a SigV4 signature for %s in %s/ses", got, testKeyID, testRegion)
	}
	var body struct {
		Destination                    map[string][]string
		EmailTags                      []map[string]string
		ConfigurationSetName           string
		FeedbackForwardingEmailAddress string
	}
	if err := json.Unmarshal(req.Body, &body); err != nil {
		t.Fatal(err)
	}
	dest := body.Destination
	if strings.Join(dest["ToAddresses"], ",") != "ann@example.org" || strings.Join(dest["CcAddresses"], ",") != "cy@example.net" ||
		strings.Join(dest["BccAddresses"], ",") != "hidden@example.net" {
		t.Errorf("Destination %v", dest)
	}
	tags, _ := json.Marshal(body.EmailTags)
	if string(tags) != `[{"Name":"orders","Value":"true"},{"Name":"campaign","Value":"spring-2024"},{"Name":"order","Value":"42"}]` {
		t.Errorf("EmailTags %s", tags)
	}
	if body.ConfigurationSetName != "transactional" || body.FeedbackForwardingEmailAddress != "bounces@example.com" {
		t.Errorf("configuration set %q, feedback address %q", body.ConfigurationSetName, body.FeedbackForwardingEmailAddress)
	}
}

func TestRefusedBeforeSending(t *testing.T) {
	srv, tr := fixture(t, Options{})
	tr.maxSize = 64 << 10
	many := make([]string, MaxRecipients+1)
	for i := range many {
		many[i] = "r" + strconv.Itoa(i) + "@example.org"
	}
	fakeapi.RunRefusals(t, srv, tr, message, map[string]fakeapi.Refusal{
		"null sender":    {Edit: func(m *transport.Message) { m.Envelope.From = "" }, Code: transport.InvalidArgument, Says: "null envelope sender"},
		"DSN":            {Edit: func(m *transport.Message) { m.Envelope.DSN = &transport.DSN{} }, Code: transport.InvalidArgument, Says: "DSN"},
		"RequireTLS":     {Edit: func(m *transport.Message) { m.Envelope.RequireTLS = true }, Code: transport.InvalidArgument, Says: "RequireTLS"},
		"51 recipients":  {Edit: func(m *transport.Message) { m.Envelope.To = many }, Code: transport.InvalidArgument, Says: "51"},
		"tag with space": {Edit: func(m *transport.Message) { m.Tags = []string{"a b"} }, Code: transport.InvalidArgument, Says: `"a b"`},
		"empty value":    {Edit: func(m *transport.Message) { m.Metadata = map[string]string{"k": ""} }, Code: transport.InvalidArgument, Says: "value of metadata k"},
		"tag is a key":   {Edit: func(m *transport.Message) { m.Tags, m.Metadata = []string{"k"}, map[string]string{"k": "v"} }, Code: transport.InvalidArgument, Says: "also a tag"},
		"too large":      {Edit: func(m *transport.Message) { m.Attachments[0].Data = make([]byte, 60<<10) }, Code: transport.ResourceExhausted, Says: "limit"},
		"no Date":        {Edit: func(m *transport.Message) { m.Date = time.Time{} }, Code: transport.InvalidArgument, Says: ""},
		"no recipients":  {Edit: func(m *transport.Message) { m.Envelope.To = nil }, Code: transport.InvalidArgument, Says: "Envelope.To"},
	})
}

// TestErrorMapping sends against SES's error answers (codes from the SendEmail API
// reference and sesv2/types), one per row; each must also reach the SDK's typed error.
func TestErrorMapping(t *testing.T) {
	code := func(c string) func(*testing.T, error) {
		return func(t *testing.T, err error) {
			var ae smithy.APIError
			if !errors.As(err, &ae) || ae.ErrorCode() != c {
				t.Errorf("errors.As(smithy.APIError) = %v", ae)
			}
		}
	}
	fakeapi.RunRows(t, newAPI, open, message(), testSecret, []fakeapi.Row{
		{Name: "400 BadRequest", Reply: sesError(400, "BadRequestException", "Missing final '@domain'"), Code: transport.InvalidArgument, Says: "Missing final", Check: code("BadRequestException")},
		{Name: "400 MessageRejected", Reply: sesError(400, "MessageRejected", "Email address is not verified. The following identities failed the check in region EU-WEST-1: ann@example.org"),
			Code: transport.PermissionDenied, Says: "not verified", Check: func(t *testing.T, err error) {
				var mr *types.MessageRejected
				if !errors.As(err, &mr) {
					t.Errorf("errors.As(*types.MessageRejected) failed: %v", err)
				}
			}},
		{Name: "400 MailFromDomainNotVerified", Reply: sesError(400, "MailFromDomainNotVerifiedException", "MAIL FROM domain not verified"), Code: transport.PermissionDenied, Says: "MAIL FROM"},
		{Name: "400 AccountSuspended", Reply: sesError(400, "AccountSuspendedException", "Your account is suspended"), Code: transport.PermissionDenied, Says: "suspended"},
		{Name: "400 SendingPaused", Reply: sesError(400, "SendingPausedException", "Sending is paused for this account"), Code: transport.PermissionDenied, Says: "paused"},
		{Name: "400 LimitExceeded", Reply: sesError(400, "LimitExceededException", "Daily message quota exceeded"), Code: transport.ResourceExhausted, Says: "quota"},
		{Name: "403 bad credentials", Reply: sesError(403, "UnrecognizedClientException", "The security token included in the request is invalid."), Code: transport.PermissionDenied, Says: "security token"},
		{Name: "403 signature", Reply: sesError(403, "SignatureDoesNotMatch", "The request signature we calculated does not match"), Code: transport.PermissionDenied, Says: "signature"},
		{Name: "404 NotFound", Reply: sesError(404, "NotFoundException", "Configuration set <x> does not exist."), Code: transport.NotFound, Says: "does not exist"},
		{Name: "413", Reply: &fakeapi.Reply{Status: 413, Body: []byte("HTTP content length exceeded 41943040 bytes.")}, Code: transport.ResourceExhausted, Says: "413"},
		{Name: "429 TooManyRequests", Reply: sesError(429, "TooManyRequestsException", "Maximum sending rate exceeded.").With("Retry-After", "2"), Code: transport.ResourceExhausted, Temporary: true, Says: "sending rate",
			Check: func(t *testing.T, err error) {
				if d := transport.RetryAfterOf(err); d != 2*time.Second {
					t.Errorf("RetryAfter %v", d)
				}
			}},
		{Name: "500", Reply: sesError(500, "InternalServiceErrorException", "An internal error occurred"), Code: transport.Unavailable, Temporary: true, Says: "internal error"},
		{Name: "503", Reply: sesError(503, "ServiceUnavailable", "Service is unavailable"), Code: transport.Unavailable, Temporary: true, Says: "unavailable"},
		{Name: "504", Reply: &fakeapi.Reply{Status: 504}, Code: transport.Unavailable, Temporary: true, Maybe: true, Says: "504"},
	})
}

func TestNoRetriesInsideTheSDK(t *testing.T) {
	// A 500 is retryable for the SDK's default retryer; the transport must try once and
	// leave retrying to middleware.
	srv, tr := fixture(t, Options{})
	srv.Enqueue(sesError(500, "InternalServiceErrorException", "boom"), sesError(500, "InternalServiceErrorException", "boom"))
	if _, err := tr.Send(context.Background(), message()); transport.CodeOf(err) != transport.Unavailable {
		t.Fatalf("got %v", err)
	}
	if n := len(srv.Requests()); n != 1 {
		t.Errorf("%d requests for one Send, want 1", n)
	}
}

func TestDroppedConnectionMayHaveDelivered(t *testing.T) {
	srv, tr := fixture(t, Options{})
	srv.DropNext()
	_, err := tr.Send(context.Background(), message())
	if !errors.Is(err, transport.ErrMaybeDelivered) || transport.IsTemporary(err) {
		t.Errorf("got %v", err)
	}
	if n := len(srv.Requests()); n != 1 {
		t.Errorf("%d requests after a drop, want 1 (no SDK retry)", n)
	}
}

func TestNoCredentials(t *testing.T) {
	srv := fakeapi.New(fakeSES{})
	defer srv.Close()
	tr, err := Open(context.Background(), &Options{Region: testRegion, BaseEndpoint: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	_, err = tr.Send(context.Background(), message())
	if transport.CodeOf(err) != transport.FailedPrecondition || transport.IsTemporary(err) || errors.Is(err, transport.ErrMaybeDelivered) {
		t.Errorf("no credentials: %v", err)
	}
	if n := len(srv.Requests()); n != 0 {
		t.Errorf("an unsigned request reached SES")
	}
}

func TestNewAndOpen(t *testing.T) {
	if _, err := New(nil, nil); transport.CodeOf(err) != transport.InvalidArgument {
		t.Errorf("nil client: %v", err)
	}
	if _, err := Open(context.Background(), nil); transport.CodeOf(err) != transport.FailedPrecondition || !strings.Contains(err.Error(), "region") {
		t.Errorf("no region: %v", err)
	}
	t.Setenv("AWS_REGION", "us-east-2")
	t.Setenv("AWS_ACCESS_KEY_ID", testKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", testSecret)
	srv := fakeapi.New(fakeSES{})
	defer srv.Close()
	for u, want := range map[string]string{
		"ses://": "sesmail(us-east-2)",
		"ses://?region=eu-west-1&configuration_set=x":                  "sesmail(eu-west-1)",
		"ses://?region=eu-west-1&endpoint=" + url.QueryEscape(srv.URL): "sesmail(eu-west-1)",
	} {
		tr, err := mailer.OpenTransport(context.Background(), u)
		if err != nil {
			t.Errorf("%s: %v", u, err)
			continue
		}
		if s := tr.(*Transport).String(); s != want || strings.Contains(s, testSecret) {
			t.Errorf("%s: String() = %s, want %s", u, s, want)
		}
		tr.Close()
	}
	// Credentials from the environment sign the request.
	tr, err := mailer.OpenTransport(context.Background(), "ses://?region=eu-west-1&endpoint="+url.QueryEscape(srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if _, err := tr.Send(context.Background(), message()); err != nil {
		t.Errorf("send with environment credentials: %v", err)
	}
	for _, u := range []string{"ses://AKID:secret@", "ses://host", "ses://?key=x", "ses://?endpoint=http://example.com"} {
		if _, err := mailer.OpenTransport(context.Background(), u); transport.CodeOf(err) != transport.InvalidArgument {
			t.Errorf("%s: got %v, want InvalidArgument", u, err)
		} else if strings.Contains(err.Error(), "secret") {
			t.Errorf("%s: the error leaks the secret: %v", u, err)
		}
	}
}

func TestCallerClient(t *testing.T) {
	srv := fakeapi.New(fakeSES{})
	defer srv.Close()
	hc := &http.Client{}
	defer hc.CloseIdleConnections()
	client := sesv2.New(sesv2.Options{Region: testRegion, BaseEndpoint: &srv.URL, Credentials: static, HTTPClient: hc})
	m, err := OpenMailer(context.Background(), client, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	r, err := m.Send(context.Background(), &mailer.Message{
		From: mail.Address{Address: "shop@example.com"}, Bcc: []mail.Address{{Address: "only-bcc@example.org"}},
		Subject: "Bcc only", Text: "hi",
	})
	if err != nil || r.ID == "" {
		t.Fatalf("send: %v %+v", err, r)
	}
	var c *sesv2.Client
	if !m.As(&c) || c != client {
		t.Errorf("mailer.Client.As does not reach the SDK client")
	}
}

func fromHeader(raw []byte) string {
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return ""
	}
	a, err := mail.ParseAddress(msg.Header.Get("From"))
	if err != nil {
		return ""
	}
	return a.Address
}
