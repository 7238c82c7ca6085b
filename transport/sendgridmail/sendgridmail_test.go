package sendgridmail

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/postiemail/postie/mailer"
	"github.com/postiemail/postie/transport"
	"github.com/postiemail/postie/transport/internal/fakeapi"
	"github.com/postiemail/postie/transport/transporttest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func open(base string) (transport.Transport, error) {
	return New(nil, &Options{APIKey: testKey, BaseURL: base})
}

func TestConformance(t *testing.T) {
	transporttest.RunConformanceTests(t, fakeapi.Maker(func() fakeapi.API { return fakeSendGrid{} }, open), &transporttest.Options{
		NoPartial: true,
		Skip: map[string]string{
			"Recipients": "SendGrid requires a To recipient, so the suite's Bcc-only message is refused " +
				"(TestRefusedBeforeSending/\"bcc only\"); TestRecipients covers To, Cc, Bcc and Reply-To",
		},
		AsTests: []func(*testing.T, transport.Transport){fakeapi.AsClient[Doer]},
	})
}

// fixture starts a fake and a transport on it.
func fixture(t *testing.T, opts *Options) (*fakeapi.Server, *Transport) {
	t.Helper()
	srv := fakeapi.New(fakeSendGrid{})
	t.Cleanup(srv.Close)
	o := Options{APIKey: testKey}
	if opts != nil {
		o = *opts
		if o.APIKey == "" {
			o.APIKey = testKey
		}
	}
	o.BaseURL = srv.URL
	tr, err := New(nil, &o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return srv, tr
}

func message() *transport.Message { return fakeapi.Message() }

func TestRecipients(t *testing.T) {
	srv, tr := fixture(t, nil)
	m := message()
	m.To = []mail.Address{{Name: "Ann", Address: "ann@example.org"}, {Address: "bob@example.org"}}
	m.Cc = []mail.Address{{Name: "Cy", Address: "cy@example.net"}}
	m.Bcc = []mail.Address{{Name: "Hidden", Address: "hidden@example.com"}}
	m.ReplyTo = []mail.Address{{Name: "Desk", Address: "desk@example.com"}, {Address: "desk2@example.com"}}
	m.Envelope.To = []string{"ann@example.org", "bob@example.org", "cy@example.net", "hidden@example.com"}
	r, err := tr.Send(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	if r.ID != "sg-msg-1" || strings.Join(r.Accepted, " ") != strings.Join(m.Envelope.To, " ") {
		t.Errorf("receipt %+v", r)
	}
	d := srv.Deliveries()[0].Message
	if got := addrs(d.To) + "|" + addrs(d.Cc) + "|" + addrs(d.Bcc) + "|" + addrs(d.ReplyTo); got !=
		`"Ann" <ann@example.org>, <bob@example.org>|"Cy" <cy@example.net>|"Hidden" <hidden@example.com>|"Desk" <desk@example.com>, <desk2@example.com>` {
		t.Errorf("delivered %s", got)
	}
	var body map[string]any
	json.Unmarshal(srv.Requests()[0].Body, &body)
	if _, ok := body["reply_to"]; ok {
		t.Errorf("two Reply-To addresses must go in reply_to_list only")
	}
}

func TestNarrowedEnvelope(t *testing.T) {
	// Retry middleware narrows Envelope.To: only the recipients still owed the message get it,
	// and a recipient in no header (SMTP's envelope-only recipient) is sent as Bcc.
	srv, tr := fixture(t, nil)
	m := message()
	m.To = []mail.Address{{Address: "ann@example.org"}, {Address: "bob@example.org"}}
	m.Envelope.To = []string{"bob@example.org", "extra@example.net"}
	if _, err := tr.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	d := srv.Deliveries()[0]
	if got := addrs(d.Message.To) + "|" + addrs(d.Message.Bcc); got != "<bob@example.org>|<extra@example.net>" {
		t.Errorf("delivered %s", got)
	}
}

func TestContent(t *testing.T) {
	srv, tr := fixture(t, &Options{SandboxMode: true})
	m := message()
	m.HTML = "<p>Thanks & <b>bye</b></p>"
	m.Alternatives = []transport.Alternative{{ContentType: "text/calendar", Body: []byte("BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n")}}
	m.Headers = []transport.Field{{Name: "List-Unsubscribe", Value: "<mailto:u@example.com>"}, {Name: "X-Campaign", Value: "spring"}}
	m.Tags = []string{"orders", "transactional"}
	m.Metadata = map[string]string{"order": "42"}
	m.Attachments = []transport.Attachment{
		{Filename: "a.pdf", ContentType: "application/pdf", Data: []byte("%PDF")},
		{ContentType: "image/png", Inline: true, ContentID: "logo", Data: []byte("png")},
	}
	if _, err := tr.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	d := srv.Deliveries()[0].Message
	if d.HTML != m.HTML || d.Text != m.Text || len(d.Alternatives) != 1 || d.Alternatives[0].ContentType != "text/calendar" {
		t.Errorf("content: %+v", d)
	}
	if len(d.Headers) != 2 || d.Headers[0] != m.Headers[0] || d.Headers[1] != m.Headers[1] {
		t.Errorf("headers %v", d.Headers)
	}
	if strings.Join(d.Tags, ",") != "orders,transactional" || d.Metadata["order"] != "42" {
		t.Errorf("tags %v metadata %v", d.Tags, d.Metadata)
	}
	if a := d.Attachments[1]; !a.Inline || a.ContentID != "logo" || a.Filename != "logo" || string(a.Data) != "png" {
		t.Errorf("inline part %+v", a)
	}
	body := string(srv.Requests()[0].Body)
	if !strings.Contains(body, `"sandbox_mode":{"enable":true}`) || !strings.Contains(body, "<p>Thanks & <b>bye</b></p>") {
		t.Errorf("body %s", body)
	}
}

func TestRefusedBeforeSending(t *testing.T) {
	srv, tr := fixture(t, nil)
	tr.maxSize = testMax
	many := make([]string, MaxRecipients+1)
	for i := range many {
		many[i] = "r" + strconv.Itoa(i) + "@example.org"
	}
	fakeapi.RunRefusals(t, srv, tr, message, map[string]fakeapi.Refusal{
		"bcc only":        {Edit: func(m *transport.Message) { m.Bcc, m.To = m.To, nil }, Code: transport.InvalidArgument, Says: "no To recipient"},
		"envelope sender": {Edit: func(m *transport.Message) { m.Envelope.From = "bounces@example.com" }, Code: transport.InvalidArgument, Says: "envelope sender"},
		"DSN":             {Edit: func(m *transport.Message) { m.Envelope.DSN = &transport.DSN{Return: "HDRS"} }, Code: transport.InvalidArgument, Says: "DSN"},
		"RequireTLS":      {Edit: func(m *transport.Message) { m.Envelope.RequireTLS = true }, Code: transport.InvalidArgument, Says: "RequireTLS"},
		"no subject":      {Edit: func(m *transport.Message) { m.Subject = "" }, Code: transport.InvalidArgument, Says: "subject"},
		"no body":         {Edit: func(m *transport.Message) { m.Text = "" }, Code: transport.InvalidArgument, Says: "no body"},
		"name with comma": {Edit: func(m *transport.Message) { m.To[0].Name = "Doe, Ann" }, Code: transport.InvalidArgument, Says: `"Doe, Ann"`},
		"reserved header": {Edit: func(m *transport.Message) { m.Headers = []transport.Field{{Name: "X-Sg-Id", Value: "1"}} }, Code: transport.InvalidArgument, Says: "X-Sg-Id"},
		"header twice": {Edit: func(m *transport.Message) {
			m.Headers = []transport.Field{{Name: "X-A", Value: "1"}, {Name: "X-A", Value: "2"}}
		}, Code: transport.InvalidArgument, Says: "more than once"},
		"alt with params": {Edit: func(m *transport.Message) {
			m.Alternatives = []transport.Alternative{{ContentType: "text/calendar; method=REQUEST", Body: []byte("x")}}
		}, Code: transport.InvalidArgument, Says: "method=REQUEST"},
		"binary alt": {Edit: func(m *transport.Message) {
			m.Alternatives = []transport.Alternative{{ContentType: "text/calendar", Body: []byte{0xff}}}
		}, Code: transport.InvalidArgument, Says: "not UTF-8"},
		"11 tags":         {Edit: func(m *transport.Message) { m.Tags = strings.Split("a b c d e f g h i j k", " ") }, Code: transport.InvalidArgument, Says: "tags"},
		"long tag":        {Edit: func(m *transport.Message) { m.Tags = []string{strings.Repeat("t", 256)} }, Code: transport.InvalidArgument, Says: "shorten"},
		"tag twice":       {Edit: func(m *transport.Message) { m.Tags = []string{"a", "a"} }, Code: transport.InvalidArgument, Says: "twice"},
		"big metadata":    {Edit: func(m *transport.Message) { m.Metadata = map[string]string{"k": strings.Repeat("v", MaxCustomArgs)} }, Code: transport.InvalidArgument, Says: "custom_args"},
		"unnamed file":    {Edit: func(m *transport.Message) { m.Attachments = []transport.Attachment{{Data: []byte("x")}} }, Code: transport.InvalidArgument, Says: "file name"},
		"1001 recipients": {Edit: func(m *transport.Message) { m.Envelope.To = many }, Code: transport.InvalidArgument, Says: "1001"},
		"too large": {Edit: func(m *transport.Message) {
			m.Attachments = []transport.Attachment{{Filename: "big", Data: make([]byte, MaxSize)}}
		}, Code: transport.ResourceExhausted, Says: "limit"},
		"encoded too large": {Edit: func(m *transport.Message) {
			m.Attachments = []transport.Attachment{{Filename: "big", Data: make([]byte, MaxSize*3/4)}}
		}, Code: transport.ResourceExhausted, Says: "limit"},
	})
}

// TestErrorMapping sends against SendGrid's documented error answers, one per row; each
// error must also reach the *ErrorResponse with the answer's status.
func TestErrorMapping(t *testing.T) {
	reset := strconv.FormatInt(time.Now().Add(90*time.Second).Unix(), 10)
	rows := []fakeapi.Row{
		{Name: "400 bad field", Reply: sgError(400, "from.email", "The from email does not contain a valid address."), Code: transport.InvalidArgument, Says: "from.email: The from email"},
		{Name: "401 bad key", Reply: sgError(401, "", "The provided authorization grant is invalid, expired, or revoked"), Code: transport.PermissionDenied, Says: "authorization grant"},
		{Name: "403 unverified sender", Reply: sgError(403, "from", "The from address does not match a verified Sender Identity."), Code: transport.PermissionDenied, Says: "Sender Identity"},
		{Name: "413 too large", Reply: sgError(413, "", "The JSON payload you have included in your request is too large."), Code: transport.ResourceExhausted, Says: "too large"},
		{Name: "422", Reply: sgError(422, "", "unprocessable"), Code: transport.InvalidArgument, Says: "422"},
		{Name: "429 with reset", Reply: sgError(429, "", "too many requests").With("X-RateLimit-Reset", reset), Code: transport.ResourceExhausted, Temporary: true, Says: "too many requests",
			Check: func(t *testing.T, err error) {
				if d := transport.RetryAfterOf(err); d <= 0 || d > 90*time.Second {
					t.Errorf("RetryAfter from X-RateLimit-Reset = %v", d)
				}
			}},
		{Name: "500", Reply: sgError(500, "", "An error occurred on a SendGrid server."), Code: transport.Unavailable, Temporary: true, Says: "SendGrid server"},
		{Name: "503 html", Reply: &fakeapi.Reply{Status: 503, Body: []byte("<html>\n<h1>503 Service Temporarily Unavailable</h1></html>")}, Code: transport.Unavailable, Temporary: true, Says: "<h1>503 Service"},
		{Name: "504", Reply: &fakeapi.Reply{Status: 504}, Code: transport.Unavailable, Temporary: true, Maybe: true, Says: "504"},
	}
	for i := range rows {
		status, extra := rows[i].Reply.Status, rows[i].Check
		rows[i].Check = func(t *testing.T, err error) {
			var er *ErrorResponse
			if !errors.As(err, &er) || er.StatusCode != status {
				t.Errorf("errors.As(*ErrorResponse) = %v, %+v", er != nil, er)
			}
			if extra != nil {
				extra(t, err)
			}
		}
	}
	fakeapi.RunRows(t, func() fakeapi.API { return fakeSendGrid{} }, open, message(), testKey, rows)
}

func TestNewAndOpen(t *testing.T) {
	t.Setenv("SENDGRID_API_KEY", "")
	if _, err := New(nil, nil); transport.CodeOf(err) != transport.FailedPrecondition || !strings.Contains(err.Error(), "SENDGRID_API_KEY") {
		t.Errorf("no key: %v", err)
	}
	t.Setenv("SENDGRID_API_KEY", "SG.from-env")
	srv := fakeapi.New(fakeSendGrid{})
	defer srv.Close()
	for _, u := range []string{"sendgrid://", "sendgrid://?region=eu", "sendgrid://?sandbox=true&base_url=" + url.QueryEscape(srv.URL)} {
		tr, err := mailer.OpenTransport(context.Background(), u)
		if err != nil {
			t.Errorf("%s: %v", u, err)
			continue
		}
		if s := tr.(*Transport).String(); strings.Contains(s, "from-env") {
			t.Errorf("String() leaks the key: %s", s)
		}
		tr.Close()
	}
	for _, u := range []string{"sendgrid://key@", "sendgrid://host", "sendgrid://?region=mars", "sendgrid://?apikey=x", "sendgrid://?sandbox=maybe", "sendgrid://?base_url=http://example.com"} {
		if _, err := mailer.OpenTransport(context.Background(), u); transport.CodeOf(err) != transport.InvalidArgument {
			t.Errorf("%s: got %v, want InvalidArgument", u, err)
		}
	}
	tr, _ := mailer.OpenTransport(context.Background(), "sendgrid://?region=eu")
	defer tr.Close()
	if s := tr.(*Transport).String(); s != "sendgridmail(https://api.eu.sendgrid.com)" {
		t.Errorf("EU transport: %s", s)
	}
}

func TestCallerDoerIsUsed(t *testing.T) {
	srv := fakeapi.New(fakeSendGrid{})
	defer srv.Close()
	var calls int
	doer := doerFunc(func(r *http.Request) (*http.Response, error) {
		calls++
		return http.DefaultClient.Do(r)
	})
	tr, err := New(doer, &Options{APIKey: testKey, BaseURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if _, err := tr.Send(context.Background(), message()); err != nil || calls != 1 {
		t.Errorf("send through the caller's Doer: %v, %d calls", err, calls)
	}
	var c *http.Client
	if transport.As(tr, &c) {
		t.Errorf("As(**http.Client) = true for a Doer that is not an *http.Client")
	}
	http.DefaultClient.CloseIdleConnections()
}

const testMax = 64 << 10

type doerFunc func(*http.Request) (*http.Response, error)

func (f doerFunc) Do(r *http.Request) (*http.Response, error) { return f(r) }

func addrs(l []mail.Address) string {
	s := make([]string, len(l))
	for i, a := range l {
		s[i] = a.String()
	}
	return strings.Join(s, ", ")
}
