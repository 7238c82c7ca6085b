package mailgunmail

import (
	"bytes"
	"context"
	"errors"
	"mime/multipart"
	"net/http"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/postiemail/postie/mailer"
	"github.com/postiemail/postie/smtp/mime"
	"github.com/postiemail/postie/transport"
	"github.com/postiemail/postie/transport/internal/fakeapi"
	"github.com/postiemail/postie/transport/transporttest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newAPI() fakeapi.API { return fakeMailgun{} }

func open(base string) (transport.Transport, error) {
	return New(nil, &Options{APIKey: testKey, Domain: testDomain, BaseURL: base})
}

func TestConformance(t *testing.T) {
	transporttest.RunConformanceTests(t, fakeapi.Maker(newAPI, open), &transporttest.Options{
		NoPartial: true,
		AsTests:   []func(*testing.T, transport.Transport){fakeapi.AsClient[Doer]},
	})
}

func fixture(t *testing.T, opts Options) (*fakeapi.Server, *Transport) {
	t.Helper()
	srv := fakeapi.New(fakeMailgun{})
	t.Cleanup(srv.Close)
	opts.APIKey, opts.Domain, opts.BaseURL = testKey, testDomain, srv.URL
	tr, err := New(nil, &opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return srv, tr
}

// message is fakeapi's base message with a Bcc, HTML with an inline image and a calendar
// alternative: Mailgun takes raw MIME, so it carries them all.
func message() *transport.Message {
	m := fakeapi.Message()
	m.Envelope.To = []string{"ann@example.org", "hidden@example.net"}
	m.Bcc = []mail.Address{{Address: "hidden@example.net"}}
	m.HTML = `<p>Thanks! <img src="cid:logo"></p>`
	m.Alternatives = []transport.Alternative{
		{ContentType: "text/calendar; method=REQUEST; charset=UTF-8", Body: []byte("BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n")},
	}
	m.Attachments = []transport.Attachment{{Filename: "logo.png", ContentType: "image/png", Inline: true, ContentID: "logo", Data: []byte("png")}}
	return m
}

// TestSameBytesAsSMTP checks that what Mailgun receives is exactly smtp/mime's rendering:
// the bytes the SMTP engine would send.
func TestSameBytesAsSMTP(t *testing.T) {
	srv, tr := fixture(t, Options{TestMode: true})
	m := message()
	m.Tags = []string{"orders", "spring"}
	m.Metadata = map[string]string{"order": "42", "user": "7"}
	m.Envelope.RequireTLS = true
	r, err := tr.Send(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	if r.ID != m.MessageID || r.MessageID != m.MessageID || len(r.Accepted) != 2 {
		t.Errorf("receipt %+v", r)
	}
	var want bytes.Buffer
	if err := mime.Write(&want, m, nil); err != nil {
		t.Fatal(err)
	}
	d := srv.Deliveries()[0]
	if !bytes.Equal(d.Raw, want.Bytes()) {
		t.Errorf("delivered MIME differs from mime.Write:\n%s", d.Raw)
	}
	if strings.Join(d.Envelope.To, " ") != "ann@example.org hidden@example.net" {
		t.Errorf("envelope %v", d.Envelope.To)
	}
	if bytes.Contains(d.Raw, []byte("hidden@")) {
		t.Errorf("the Bcc recipient appears in the MIME")
	}
	req := srv.Requests()[0]
	_, params, _ := strings.Cut(req.Header.Get("Content-Type"), "boundary=")
	form, err := multipart.NewReader(bytes.NewReader(req.Body), params).ReadForm(1 << 20)
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{"o:tag": "orders,spring", "v:order": "42", "v:user": "7", "o:require-tls": "yes", "o:testmode": "yes", "to": "ann@example.org,hidden@example.net"} {
		if got := strings.Join(form.Value[k], ","); got != want {
			t.Errorf("form %s = %q, want %q", k, got, want)
		}
	}
	if user, pass, _ := (&http.Request{Header: req.Header}).BasicAuth(); user != "api" || pass != testKey {
		t.Errorf("basic auth %q", user)
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
		"envelope sender": {Edit: func(m *transport.Message) { m.Envelope.From = "bounce@example.com" }, Code: transport.InvalidArgument, Says: "envelope sender"},
		"DSN":             {Edit: func(m *transport.Message) { m.Envelope.DSN = &transport.DSN{Return: "FULL"} }, Code: transport.InvalidArgument, Says: "DSN"},
		"no recipients":   {Edit: func(m *transport.Message) { m.Envelope.To = nil }, Code: transport.InvalidArgument, Says: "Envelope.To is empty"},
		"1001 recipients": {Edit: func(m *transport.Message) { m.Envelope.To = many }, Code: transport.InvalidArgument, Says: "1001"},
		"11 tags":         {Edit: func(m *transport.Message) { m.Tags = strings.Fields("a b c d e f g h i j k") }, Code: transport.InvalidArgument, Says: "tags"},
		"big metadata":    {Edit: func(m *transport.Message) { m.Metadata = map[string]string{"k": strings.Repeat("v", MaxOptions)} }, Code: transport.InvalidArgument, Says: "16"},
		"too large": {Edit: func(m *transport.Message) {
			m.Attachments = []transport.Attachment{{Filename: "big", Data: make([]byte, 60<<10)}}
		}, Code: transport.ResourceExhausted, Says: "limit"},
		"no Message-ID":  {Edit: func(m *transport.Message) { m.MessageID = "" }, Code: transport.InvalidArgument, Says: ""},
		"CR in a header": {Edit: func(m *transport.Message) { m.Subject = "a\r\nBcc: x@example.com" }, Code: transport.InvalidArgument, Says: ""},
	})
}

// TestErrorMapping sends against Mailgun's documented error answers, one per row.
func TestErrorMapping(t *testing.T) {
	fakeapi.RunRows(t, newAPI, open, message(), testKey, []fakeapi.Row{
		{Name: "400", Reply: mgError(400, "to parameter is not a valid address. please check documentation"), Code: transport.InvalidArgument, Says: "not a valid address",
			Check: func(t *testing.T, err error) {
				var er *ErrorResponse
				if !errors.As(err, &er) || er.StatusCode != 400 {
					t.Errorf("errors.As(*ErrorResponse): %+v", er)
				}
			}},
		{Name: "401 plain text", Reply: &fakeapi.Reply{Status: 401, Body: []byte("Forbidden")}, Code: transport.PermissionDenied, Says: "401 Unauthorized: Forbidden"},
		{Name: "403", Reply: mgError(403, "Domain mg.example.com is not allowed to send: it is disabled"), Code: transport.PermissionDenied, Says: "not allowed"},
		{Name: "404 domain", Reply: mgError(404, "Domain not found: mg.example.com"), Code: transport.NotFound, Says: "Domain not found"},
		{Name: "413", Reply: &fakeapi.Reply{Status: 413, Body: []byte("Request Entity Too Large")}, Code: transport.ResourceExhausted, Says: "Too Large"},
		{Name: "429", Reply: mgError(429, "Too many requests").With("Retry-After", "5"), Code: transport.ResourceExhausted, Temporary: true, Says: "Too many",
			Check: func(t *testing.T, err error) {
				if d := transport.RetryAfterOf(err); d != 5*time.Second {
					t.Errorf("RetryAfter %v", d)
				}
			}},
		{Name: "500", Reply: mgError(500, "Internal Server Error"), Code: transport.Unavailable, Temporary: true, Says: "500"},
		{Name: "503", Reply: mgError(503, "Service Unavailable"), Code: transport.Unavailable, Temporary: true, Says: "503"},
		{Name: "504", Reply: &fakeapi.Reply{Status: 504, Body: []byte("<html>gateway timeout</html>")}, Code: transport.Unavailable, Temporary: true, Maybe: true, Says: "gateway timeout"},
	})
}

func TestNewAndOpen(t *testing.T) {
	t.Setenv("MAILGUN_API_KEY", "")
	t.Setenv("MAILGUN_DOMAIN", "")
	if _, err := New(nil, nil); transport.CodeOf(err) != transport.FailedPrecondition || !strings.Contains(err.Error(), "MAILGUN_API_KEY") {
		t.Errorf("no key: %v", err)
	}
	if _, err := New(nil, &Options{APIKey: "k"}); transport.CodeOf(err) != transport.FailedPrecondition || !strings.Contains(err.Error(), "MAILGUN_DOMAIN") {
		t.Errorf("no domain: %v", err)
	}
	if _, err := New(nil, &Options{APIKey: "k", Domain: "mg.example.com/../x"}); transport.CodeOf(err) != transport.InvalidArgument {
		t.Errorf("bad domain: %v", err)
	}
	t.Setenv("MAILGUN_API_KEY", "key-from-env")
	srv := fakeapi.New(fakeMailgun{})
	defer srv.Close()
	for u, want := range map[string]string{
		"mailgun://mg.example.com":                                      "mailgunmail(https://api.mailgun.net)/v3/mg.example.com/messages.mime",
		"mailgun://mg.example.eu?region=eu&testmode=true":               "mailgunmail(https://api.eu.mailgun.net)/v3/mg.example.eu/messages.mime",
		"mailgun://mg.example.com?base_url=" + url.QueryEscape(srv.URL): "mailgunmail(" + srv.URL + ")/v3/mg.example.com/messages.mime",
	} {
		tr, err := mailer.OpenTransport(context.Background(), u)
		if err != nil {
			t.Errorf("%s: %v", u, err)
			continue
		}
		if s := tr.(*Transport).String(); s != want {
			t.Errorf("%s: String() = %s, want %s", u, s, want)
		}
		tr.Close()
	}
	t.Setenv("MAILGUN_DOMAIN", "env.example.com")
	tr, err := mailer.OpenTransport(context.Background(), "mailgun://")
	if err != nil || !strings.Contains(tr.(*Transport).String(), "/v3/env.example.com/") {
		t.Errorf("domain from the environment: %v", err)
	} else {
		tr.Close()
	}
	for _, u := range []string{"mailgun://api:key@mg.example.com", "mailgun://mg.example.com/path", "mailgun://mg.example.com?region=asia", "mailgun://mg.example.com?key=x"} {
		if _, err := mailer.OpenTransport(context.Background(), u); transport.CodeOf(err) != transport.InvalidArgument {
			t.Errorf("%s: got %v, want InvalidArgument", u, err)
		}
	}
}
