package postmarkmail

import (
	"context"
	"errors"
	"net/http"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/postiemail/postie/mailer"
	"github.com/postiemail/postie/transport"
	"github.com/postiemail/postie/transport/internal/fakeapi"
	"github.com/postiemail/postie/transport/transporttest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newAPI() fakeapi.API { return fakePostmark{} }

func open(base string) (transport.Transport, error) {
	return New(nil, &Options{ServerToken: testToken, BaseURL: base})
}

func TestConformance(t *testing.T) {
	transporttest.RunConformanceTests(t, fakeapi.Maker(newAPI, open), &transporttest.Options{
		NoPartial: true,
		Skip: map[string]string{
			"Recipients": "Postmark requires a To recipient, so the suite's Bcc-only message is refused " +
				`(TestRefusedBeforeSending/"bcc only"); TestRecipients covers To, Cc, Bcc and Reply-To`,
		},
		AsTests: []func(*testing.T, transport.Transport){fakeapi.AsClient[Doer]},
	})
}

func fixture(t *testing.T, opts Options) (*fakeapi.Server, *Transport) {
	t.Helper()
	srv := fakeapi.New(fakePostmark{})
	t.Cleanup(srv.Close)
	opts.ServerToken, opts.BaseURL = testToken, srv.URL
	tr, err := New(nil, &opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return srv, tr
}

func message() *transport.Message { return fakeapi.Message() }

func TestRecipients(t *testing.T) {
	srv, tr := fixture(t, Options{MessageStream: "broadcast"})
	m := message()
	m.To = []mail.Address{{Name: "Doe, Ann", Address: "ann@example.org"}, {Address: "bob@example.org"}}
	m.Cc = []mail.Address{{Name: "Cy", Address: "cy@example.net"}}
	m.Bcc = []mail.Address{{Address: "hidden@example.com"}}
	m.ReplyTo = []mail.Address{{Name: "Desk", Address: "desk@example.com"}, {Address: "desk2@example.com"}}
	m.Envelope.To = []string{"ann@example.org", "bob@example.org", "cy@example.net", "hidden@example.com", "extra@example.net"}
	m.Tags = []string{"orders"}
	m.Metadata = map[string]string{"order": "42"}
	r, err := tr.Send(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(r.ID, "b7bc2f4a-") || len(r.Accepted) != 5 || r.MessageID != "" {
		t.Errorf("receipt %+v", r)
	}
	d := srv.Deliveries()[0].Message
	if got := addrs(d.To) + "|" + addrs(d.Cc) + "|" + addrs(d.Bcc) + "|" + addrs(d.ReplyTo); got !=
		`"Doe, Ann" <ann@example.org>, <bob@example.org>|"Cy" <cy@example.net>|<hidden@example.com>, <extra@example.net>|"Desk" <desk@example.com>, <desk2@example.com>` {
		t.Errorf("delivered %s", got)
	}
	if d.Tags[0] != "orders" || d.Metadata["order"] != "42" {
		t.Errorf("tag %v metadata %v", d.Tags, d.Metadata)
	}
	if body := string(srv.Requests()[0].Body); !strings.Contains(body, `"MessageStream":"broadcast"`) {
		t.Errorf("no MessageStream in %s", body)
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
		"bcc only":        {Edit: func(m *transport.Message) { m.Bcc, m.To = m.To, nil }, Code: transport.InvalidArgument, Says: "no To recipient"},
		"envelope sender": {Edit: func(m *transport.Message) { m.Envelope.From = "" }, Code: transport.InvalidArgument, Says: "envelope sender"},
		"DSN":             {Edit: func(m *transport.Message) { m.Envelope.DSN = &transport.DSN{Notify: []string{"NEVER"}} }, Code: transport.InvalidArgument, Says: "DSN"},
		"RequireTLS":      {Edit: func(m *transport.Message) { m.Envelope.RequireTLS = true }, Code: transport.InvalidArgument, Says: "RequireTLS"},
		"no body":         {Edit: func(m *transport.Message) { m.Text = "" }, Code: transport.InvalidArgument, Says: "no body"},
		"alternatives": {Edit: func(m *transport.Message) {
			m.Alternatives = []transport.Alternative{{ContentType: "text/calendar", Body: []byte("x")}}
		}, Code: transport.InvalidArgument, Says: "Alternatives"},
		"two tags":      {Edit: func(m *transport.Message) { m.Tags = []string{"a", "b"} }, Code: transport.InvalidArgument, Says: "one Tag"},
		"metadata case": {Edit: func(m *transport.Message) { m.Metadata = map[string]string{"Key": "1", "key": "2"} }, Code: transport.InvalidArgument, Says: "case-insensitively"},
		"non-ASCII cid": {Edit: func(m *transport.Message) {
			m.Attachments = []transport.Attachment{{Inline: true, ContentID: "lögo", Data: []byte("x")}}
		}, Code: transport.InvalidArgument, Says: "ASCII"},
		"unnamed file":  {Edit: func(m *transport.Message) { m.Attachments = []transport.Attachment{{Data: []byte("x")}} }, Code: transport.InvalidArgument, Says: "file name"},
		"51 recipients": {Edit: func(m *transport.Message) { m.Envelope.To = many }, Code: transport.InvalidArgument, Says: "51"},
		"big text":      {Edit: func(m *transport.Message) { m.Text = strings.Repeat("x", MaxBody+1) }, Code: transport.ResourceExhausted, Says: "limit"},
		"too large": {Edit: func(m *transport.Message) {
			m.Attachments = []transport.Attachment{{Filename: "big", Data: make([]byte, 50<<10)}}
		}, Code: transport.ResourceExhausted, Says: "limit"},
	})
}

// TestErrorMapping sends against Postmark's documented error answers, one per row.
func TestErrorMapping(t *testing.T) {
	isResponse := func(code int) func(*testing.T, error) {
		return func(t *testing.T, err error) {
			var er *ErrorResponse
			if !errors.As(err, &er) || er.ErrorCode != code {
				t.Errorf("errors.As(*ErrorResponse): %+v", er)
			}
		}
	}
	fakeapi.RunRows(t, newAPI, open, message(), testToken, []fakeapi.Row{
		{Name: "401 bad token", Reply: pmError(401, 10, "Bad or missing API token"), Code: transport.PermissionDenied, Says: "ErrorCode 10", Check: isResponse(10)},
		{Name: "422 invalid request", Reply: invalid("Invalid 'To' address: 'x'."), Code: transport.InvalidArgument, Says: "Invalid 'To'"},
		{Name: "422 sender signature", Reply: pmError(422, 400, "The 'From' address you supplied is not a Sender Signature on your account."), Code: transport.PermissionDenied, Says: "Sender Signature"},
		{Name: "422 unconfirmed signature", Reply: pmError(422, 401, "Sender signature not confirmed"), Code: transport.PermissionDenied, Says: "not confirmed"},
		{Name: "422 no credits", Reply: pmError(422, 405, "Not allowed to send: you have run out of credits"), Code: transport.ResourceExhausted, Says: "credits"},
		{Name: "422 inactive recipient", Reply: pmError(422, 406, "You tried to send to recipient(s) that have been marked as inactive."), Code: transport.NotFound, Says: "inactive", Check: isResponse(406)},
		{Name: "422 forbidden type", Reply: pmError(422, 411, "Forbidden attachment type"), Code: transport.InvalidArgument, Says: "Forbidden"},
		{Name: "422 account pending", Reply: pmError(422, 412, "Account is pending approval"), Code: transport.PermissionDenied, Says: "pending"},
		{Name: "422 invalid JSON", Reply: pmError(422, 402, "Received invalid JSON input."), Code: transport.Internal, Says: "JSON"},
		{Name: "403 network block", Reply: &fakeapi.Reply{Status: 403, Header: http.Header{"Content-Type": {"text/html"}}, Body: []byte("<html><h1>403 Forbidden</h1></html>")}, Code: transport.PermissionDenied, Says: "403 Forbidden"},
		{Name: "413", Reply: &fakeapi.Reply{Status: 413}, Code: transport.ResourceExhausted, Says: "413"},
		{Name: "429", Reply: pmError(429, 429, "Rate limit exceeded"), Code: transport.ResourceExhausted, Temporary: true, Says: "Rate limit"},
		{Name: "500", Reply: pmError(500, 0, "Internal server error"), Code: transport.Unavailable, Temporary: true, Says: "500"},
		{Name: "503 maintenance", Reply: pmError(503, 100, "Maintenance"), Code: transport.Unavailable, Temporary: true, Says: "ErrorCode 100"},
		{Name: "200 with ErrorCode", Reply: pmError(200, 300, "Invalid email request"), Code: transport.InvalidArgument, Says: "ErrorCode 300"},
		{Name: "502", Reply: &fakeapi.Reply{Status: 502}, Code: transport.Unavailable, Temporary: true, Maybe: true, Says: "502"},
	})
}

func TestNewAndOpen(t *testing.T) {
	t.Setenv("POSTMARK_SERVER_TOKEN", "")
	if _, err := New(nil, nil); transport.CodeOf(err) != transport.FailedPrecondition || !strings.Contains(err.Error(), "POSTMARK_SERVER_TOKEN") {
		t.Errorf("no token: %v", err)
	}
	t.Setenv("POSTMARK_SERVER_TOKEN", "token-from-env")
	srv := fakeapi.New(fakePostmark{})
	defer srv.Close()
	for _, u := range []string{"postmark://", "postmark://?stream=outbound", "postmark://?base_url=" + url.QueryEscape(srv.URL)} {
		tr, err := mailer.OpenTransport(context.Background(), u)
		if err != nil {
			t.Errorf("%s: %v", u, err)
			continue
		}
		if s := tr.(*Transport).String(); strings.Contains(s, "token-from-env") {
			t.Errorf("String() leaks the token: %s", s)
		}
		tr.Close()
	}
	for _, u := range []string{"postmark://tok@", "postmark://host", "postmark://?token=x", "postmark://?base_url=http://example.com"} {
		if _, err := mailer.OpenTransport(context.Background(), u); transport.CodeOf(err) != transport.InvalidArgument {
			t.Errorf("%s: got %v, want InvalidArgument", u, err)
		}
	}
}

func addrs(l []mail.Address) string {
	s := make([]string, len(l))
	for i, a := range l {
		s[i] = a.String()
	}
	return strings.Join(s, ", ")
}
