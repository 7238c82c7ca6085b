package resendmail

import (
	"context"
	"errors"
	"io"
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

func newAPI() fakeapi.API { return newFake() }

func open(base string) (transport.Transport, error) {
	return New(nil, &Options{APIKey: testKey, BaseURL: base})
}

func TestConformance(t *testing.T) {
	transporttest.RunConformanceTests(t, fakeapi.Maker(newAPI, open), &transporttest.Options{
		NoPartial: true,
		Skip: map[string]string{
			"Recipients": "Resend requires a To recipient, so the suite's Bcc-only message is refused " +
				`(TestRefusedBeforeSending/"bcc only"); TestRecipients covers To, Cc, Bcc and Reply-To`,
			"Fault/DropAfterData": "Resend deduplicates on the Idempotency-Key, so a lost answer is Unavailable and " +
				"temporary, not ErrMaybeDelivered: a retry cannot deliver twice (TestDropIsSafeToRetry)",
			"SendTwice": "the same Message has the same Idempotency-Key, so Resend delivers it once and answers the " +
				"second send with the first id (TestSameMessageDeliveredOnce, which also checks the attachment is read twice)",
		},
		AsTests: []func(*testing.T, transport.Transport){fakeapi.AsClient[Doer]},
	})
}

func fixture(t *testing.T) (*fakeapi.Server, *Transport) {
	t.Helper()
	srv := fakeapi.New(newFake())
	t.Cleanup(srv.Close)
	tr, err := New(nil, &Options{APIKey: testKey, BaseURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return srv, tr
}

// message is fakeapi's base message; its Message-ID is the one the idempotency key tests expect.
func message() *transport.Message {
	m := fakeapi.Message()
	m.MessageID = "0f3c2a@example.com"
	return m
}

func TestRecipients(t *testing.T) {
	srv, tr := fixture(t)
	m := message()
	m.To = []mail.Address{{Name: "Ann", Address: "ann@example.org"}, {Address: "bob@example.org"}}
	m.Cc = []mail.Address{{Name: "Cy", Address: "cy@example.net"}}
	m.Bcc = []mail.Address{{Address: "hidden@example.com"}}
	m.ReplyTo = []mail.Address{{Name: "Desk", Address: "desk@example.com"}, {Address: "desk2@example.com"}}
	m.Envelope.To = []string{"ann@example.org", "bob@example.org", "cy@example.net", "hidden@example.com"}
	m.Tags = []string{"orders"}
	m.Metadata = map[string]string{"order_id": "42", "tier": "gold"}
	r, err := tr.Send(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	if r.ID != "49a3999c-0ce1-4ea6-ab68-000000000001" || len(r.Accepted) != 4 {
		t.Errorf("receipt %+v", r)
	}
	d := srv.Deliveries()[0].Message
	if got := addrs(d.To) + "|" + addrs(d.Cc) + "|" + addrs(d.Bcc) + "|" + addrs(d.ReplyTo); got !=
		`"Ann" <ann@example.org>, <bob@example.org>|"Cy" <cy@example.net>|<hidden@example.com>|"Desk" <desk@example.com>, <desk2@example.com>` {
		t.Errorf("delivered %s", got)
	}
	if strings.Join(d.Tags, ",") != "orders" || d.Metadata["order_id"] != "42" || d.Metadata["tier"] != "gold" {
		t.Errorf("tags %v metadata %v", d.Tags, d.Metadata)
	}
	req := srv.Requests()[0]
	if k := req.Header.Get("Idempotency-Key"); k != m.MessageID {
		t.Errorf("Idempotency-Key %q, want the Message-ID", k)
	}
	if !strings.Contains(string(req.Body), `"tags":[{"name":"orders"},{"name":"order_id","value":"42"},{"name":"tier","value":"gold"}]`) {
		t.Errorf("tags in %s", req.Body)
	}
}

func TestSameMessageDeliveredOnce(t *testing.T) {
	srv, tr := fixture(t)
	m := message()
	opens := 0
	m.Attachments = []transport.Attachment{{Filename: "a.txt", ContentType: "text/plain", Open: func() (io.ReadCloser, error) {
		opens++
		return io.NopCloser(strings.NewReader("attached")), nil
	}}}
	r1, err1 := tr.Send(context.Background(), m)
	r2, err2 := tr.Send(context.Background(), m)
	if err1 != nil || err2 != nil || r1.ID != r2.ID {
		t.Fatalf("two sends: %v %v, ids %v %v", err1, err2, r1, r2)
	}
	if n := len(srv.Deliveries()); n != 1 || opens != 2 {
		t.Errorf("%d deliveries (want 1), attachment opened %d times (want 2)", n, opens)
	}
	// A different body under the same key is Resend's 409 invalid_idempotent_request.
	m2 := m.Clone()
	m2.Subject = "changed"
	_, err := tr.Send(context.Background(), m2)
	if transport.CodeOf(err) != transport.InvalidArgument || !strings.Contains(err.Error(), "invalid_idempotent_request") {
		t.Errorf("changed body, same key: %v", err)
	}
}

func TestDropIsSafeToRetry(t *testing.T) {
	srv, tr := fixture(t)
	srv.DropNext()
	m := message()
	_, err := tr.Send(context.Background(), m)
	if errors.Is(err, transport.ErrMaybeDelivered) || transport.CodeOf(err) != transport.Unavailable || !transport.IsTemporary(err) {
		t.Fatalf("dropped answer: %v (code %v)", err, transport.CodeOf(err))
	}
	r, err := tr.Send(context.Background(), m) // what retry middleware does
	if err != nil || r.ID != "49a3999c-0ce1-4ea6-ab68-000000000001" {
		t.Fatalf("retry: %v %+v", err, r)
	}
	if n := len(srv.Deliveries()); n != 1 {
		t.Errorf("%d deliveries after a drop and a retry, want 1", n)
	}
	// Without a Message-ID there is no key, and a lost answer may mean a delivery.
	srv.DropNext()
	m.MessageID = ""
	if _, err := tr.Send(context.Background(), m); !errors.Is(err, transport.ErrMaybeDelivered) {
		t.Errorf("no key, dropped: %v", err)
	}
}

func TestIdempotencyKey(t *testing.T) {
	if k := IdempotencyKey("a@b"); k != "a@b" {
		t.Errorf("short id: %q", k)
	}
	long := strings.Repeat("x", 300) + "@example.com"
	k := IdempotencyKey(long)
	if len(k) > MaxIdempotency || !strings.HasPrefix(k, "sha256:") || k != IdempotencyKey(long) || k == IdempotencyKey(long+"x") {
		t.Errorf("long id: %q", k)
	}
}

func TestRefusedBeforeSending(t *testing.T) {
	srv, tr := fixture(t)
	tr.maxSize = 64 << 10
	many := make([]mail.Address, MaxTo+1)
	for i := range many {
		many[i] = mail.Address{Address: "r" + strconv.Itoa(i) + "@example.org"}
	}
	fakeapi.RunRefusals(t, srv, tr, message, map[string]fakeapi.Refusal{
		"bcc only":        {Edit: func(m *transport.Message) { m.Bcc, m.To = m.To, nil }, Code: transport.InvalidArgument, Says: "no To recipient"},
		"envelope sender": {Edit: func(m *transport.Message) { m.Envelope.From = "b@example.com" }, Code: transport.InvalidArgument, Says: "envelope sender"},
		"DSN":             {Edit: func(m *transport.Message) { m.Envelope.DSN = &transport.DSN{} }, Code: transport.InvalidArgument, Says: "DSN"},
		"RequireTLS":      {Edit: func(m *transport.Message) { m.Envelope.RequireTLS = true }, Code: transport.InvalidArgument, Says: "RequireTLS"},
		"no subject":      {Edit: func(m *transport.Message) { m.Subject = "" }, Code: transport.InvalidArgument, Says: "subject"},
		"no body":         {Edit: func(m *transport.Message) { m.Text = "" }, Code: transport.InvalidArgument, Says: "no body"},
		"alternatives": {Edit: func(m *transport.Message) {
			m.Alternatives = []transport.Alternative{{ContentType: "text/calendar", Body: []byte("x")}}
		}, Code: transport.InvalidArgument, Says: "Alternatives"},
		"header twice": {Edit: func(m *transport.Message) {
			m.Headers = []transport.Field{{Name: "X-A", Value: "1"}, {Name: "x-a", Value: "2"}}
		}, Code: transport.InvalidArgument, Says: "more than once"},
		"tag with space":  {Edit: func(m *transport.Message) { m.Tags = []string{"spring sale"} }, Code: transport.InvalidArgument, Says: `"spring sale"`},
		"non-ASCII value": {Edit: func(m *transport.Message) { m.Metadata = map[string]string{"city": "Köln"} }, Code: transport.InvalidArgument, Says: "Köln"},
		"long tag":        {Edit: func(m *transport.Message) { m.Tags = []string{strings.Repeat("t", MaxTag+1)} }, Code: transport.InvalidArgument, Says: "256"},
		"tag is key":      {Edit: func(m *transport.Message) { m.Tags, m.Metadata = []string{"k"}, map[string]string{"k": "v"} }, Code: transport.InvalidArgument, Says: "also a tag"},
		"exe": {Edit: func(m *transport.Message) {
			m.Attachments = []transport.Attachment{{Filename: "setup.EXE", Data: []byte("MZ")}}
		}, Code: transport.InvalidArgument, Says: ".exe"},
		"long cid": {Edit: func(m *transport.Message) {
			m.Attachments = []transport.Attachment{{Filename: "a.png", Inline: true, ContentID: strings.Repeat("c", 128), Data: []byte("x")}}
		}, Code: transport.InvalidArgument, Says: "Content-ID"},
		"51 to": {Edit: func(m *transport.Message) { m.To = many; m.Envelope.To = nil; addEnvelope(m) }, Code: transport.InvalidArgument, Says: "51"},
		"too large": {Edit: func(m *transport.Message) {
			m.Attachments = []transport.Attachment{{Filename: "big", Data: make([]byte, 50<<10)}}
		}, Code: transport.ResourceExhausted, Says: "limit"},
	})
}

// TestErrorMapping sends against Resend's documented error answers, one per row.
func TestErrorMapping(t *testing.T) {
	isResponse := func(name string) func(*testing.T, error) {
		return func(t *testing.T, err error) {
			var er *ErrorResponse
			if !errors.As(err, &er) || er.Name != name {
				t.Errorf("errors.As(*ErrorResponse): %+v", er)
			}
		}
	}
	fakeapi.RunRows(t, newAPI, open, message(), testKey, []fakeapi.Row{
		{Name: "400 validation", Reply: rsError(400, "validation_error", "We found an error with one or more fields in the request."), Code: transport.InvalidArgument, Says: "validation_error", Check: isResponse("validation_error")},
		{Name: "400 idempotency key", Reply: rsError(400, "invalid_idempotency_key", "The key must be between 1-256 chars."), Code: transport.InvalidArgument, Says: "invalid_idempotency_key"},
		{Name: "401 missing key", Reply: rsError(401, "missing_api_key", "Missing API key in the authorization header."), Code: transport.PermissionDenied, Says: "missing_api_key"},
		{Name: "401 restricted key", Reply: rsError(401, "restricted_api_key", "This API key is restricted to only send emails."), Code: transport.PermissionDenied, Says: "restricted"},
		{Name: "403 invalid key", Reply: rsError(403, "invalid_api_key", "API key is invalid."), Code: transport.PermissionDenied, Says: "invalid_api_key"},
		{Name: "403 testing only", Reply: rsError(403, "validation_error", "You can only send testing emails to your own email address."), Code: transport.PermissionDenied, Says: "testing emails"},
		{Name: "404", Reply: rsError(404, "not_found", "The requested endpoint does not exist."), Code: transport.NotFound, Says: "not_found"},
		{Name: "409 different payload", Reply: rsError(409, "invalid_idempotent_request", "Same idempotency key used with a different request payload."), Code: transport.InvalidArgument, Says: "invalid_idempotent_request"},
		{Name: "409 concurrent", Reply: rsError(409, "concurrent_idempotent_requests", "Same idempotency key used while original request is still in progress."), Code: transport.Unavailable, Temporary: true, Says: "concurrent"},
		{Name: "413", Reply: &fakeapi.Reply{Status: 413, Body: []byte("Request Entity Too Large")}, Code: transport.ResourceExhausted, Says: "Too Large"},
		{Name: "422 from address", Reply: rsError(422, "invalid_from_address", "Invalid `from` field."), Code: transport.InvalidArgument, Says: "invalid_from_address"},
		{Name: "422 attachment", Reply: rsError(422, "invalid_attachment", "Attachment must have either a `content` or `path`."), Code: transport.InvalidArgument, Says: "invalid_attachment"},
		{Name: "429 rate limit", Reply: rsError(429, "rate_limit_exceeded", "Too many requests.").With("Retry-After", "3"), Code: transport.ResourceExhausted, Temporary: true, Says: "rate_limit",
			Check: func(t *testing.T, err error) {
				if d := transport.RetryAfterOf(err); d != 3*time.Second {
					t.Errorf("RetryAfter %v", d)
				}
			}},
		{Name: "429 daily quota", Reply: rsError(429, "daily_quota_exceeded", "You have reached your daily email sending quota."), Code: transport.ResourceExhausted, Says: "daily_quota"},
		{Name: "429 monthly quota", Reply: rsError(429, "monthly_quota_exceeded", "You have reached your monthly email sending quota."), Code: transport.ResourceExhausted, Says: "monthly_quota"},
		{Name: "451 security", Reply: rsError(451, "security_error", "We may have found a security issue with the request."), Code: transport.PermissionDenied, Says: "security_error"},
		{Name: "500", Reply: rsError(500, "application_error", "An unexpected error occurred."), Code: transport.Unavailable, Temporary: true, Says: "application_error"},
		{Name: "503", Reply: &fakeapi.Reply{Status: 503}, Code: transport.Unavailable, Temporary: true, Says: "503"},
		{Name: "504 keyed", Reply: &fakeapi.Reply{Status: 504}, Code: transport.Unavailable, Temporary: true, Says: "504"},
	})
}

func TestNewAndOpen(t *testing.T) {
	t.Setenv("RESEND_API_KEY", "")
	if _, err := New(nil, nil); transport.CodeOf(err) != transport.FailedPrecondition || !strings.Contains(err.Error(), "RESEND_API_KEY") {
		t.Errorf("no key: %v", err)
	}
	t.Setenv("RESEND_API_KEY", "re_from_env")
	srv := fakeapi.New(newFake())
	defer srv.Close()
	for _, u := range []string{"resend://", "resend://?base_url=" + url.QueryEscape(srv.URL)} {
		tr, err := mailer.OpenTransport(context.Background(), u)
		if err != nil {
			t.Errorf("%s: %v", u, err)
			continue
		}
		if s := tr.(*Transport).String(); strings.Contains(s, "re_from_env") {
			t.Errorf("String() leaks the key: %s", s)
		}
		tr.Close()
	}
	for _, u := range []string{"resend://re_x@", "resend://host", "resend://?key=x"} {
		if _, err := mailer.OpenTransport(context.Background(), u); transport.CodeOf(err) != transport.InvalidArgument {
			t.Errorf("%s: got %v, want InvalidArgument", u, err)
		}
	}
}

func addEnvelope(m *transport.Message) {
	for _, a := range m.To {
		m.Envelope.To = append(m.Envelope.To, a.Address)
	}
}

func addrs(l []mail.Address) string {
	s := make([]string, len(l))
	for i, a := range l {
		s[i] = a.String()
	}
	return strings.Join(s, ", ")
}
