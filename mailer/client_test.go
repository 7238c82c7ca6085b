package mailer_test

import (
	"context"
	"errors"
	"net/mail"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/postiemail/postie/mailer"
	"github.com/postiemail/postie/transport"
	"github.com/postiemail/postie/transport/memmail"
)

var fixedNow = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

func TestDateAndMessageIDSetOnce(t *testing.T) {
	// A transport that sends each message twice, as a retry would.
	var mu sync.Mutex
	var seen []*transport.Message
	retrying := transport.SendFunc(func(ctx context.Context, m *transport.Message) (*transport.Receipt, error) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, m.Clone(), m.Clone())
		return &transport.Receipt{Accepted: m.Envelope.To}, nil
	})
	calls := 0
	c := mailer.New(retrying, &mailer.Options{Now: func() time.Time { calls++; return fixedNow }})
	m := validMessage()
	m.From.Address = "no-reply@Shop.Example"
	r, err := c.Send(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	if calls != 1 {
		t.Errorf("Now called %d times for one send, want 1", calls)
	}
	a, b := seen[0], seen[1]
	if !a.Date.Equal(fixedNow) || !b.Date.Equal(a.Date) || a.MessageID != b.MessageID {
		t.Errorf("attempts saw Date %v/%v, Message-ID %q/%q: want the same, set once", a.Date, b.Date, a.MessageID, b.MessageID)
	}
	if !regexp.MustCompile(`^[0-9a-f]{24}@Shop\.Example$`).MatchString(a.MessageID) {
		t.Errorf("Message-ID %q: want 24 hex characters @ the From domain", a.MessageID)
	}
	if host, err := os.Hostname(); err == nil && host != "" && strings.Contains(a.MessageID, host) {
		t.Errorf("Message-ID %q contains the host name %q", a.MessageID, host)
	}
	if r.MessageID != a.MessageID {
		t.Errorf("Receipt.MessageID = %q, want %q", r.MessageID, a.MessageID)
	}
	if m.MessageID != "" || !m.Date.IsZero() {
		t.Errorf("Send modified the caller's message: MessageID %q, Date %v", m.MessageID, m.Date)
	}

	// A second logical send gets a new id; an id or date the caller set is kept.
	r2, _ := c.Send(context.Background(), m)
	if r2.MessageID == r.MessageID {
		t.Errorf("two sends share the Message-ID %q", r.MessageID)
	}
	m.MessageID = "order-17@shop.example"
	m.Date = fixedNow.Add(-time.Hour)
	if _, err := c.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	last := seen[len(seen)-1]
	if last.MessageID != "order-17@shop.example" || !last.Date.Equal(m.Date) {
		t.Errorf("caller's MessageID/Date replaced: %q %v", last.MessageID, last.Date)
	}
}

func TestCustomMessageID(t *testing.T) {
	tr := memmail.New(nil)
	c := mailer.New(tr, &mailer.Options{NewMessageID: func(domain string) string { return "fixed@" + domain }})
	if _, err := c.Send(context.Background(), validMessage()); err != nil {
		t.Fatal(err)
	}
	if id := tr.Messages()[0].MessageID; id != "fixed@shop.example" {
		t.Errorf("MessageID = %q", id)
	}
}

func TestEnvelope(t *testing.T) {
	c, tr := memmail.NewMailer(nil)
	m := validMessage()
	m.To = []mail.Address{{Address: "ann@example.org"}, {Address: "Bob@Example.org"}}
	m.Cc = []mail.Address{{Address: "ann@EXAMPLE.ORG"}, {Address: "bob@example.org"}, {Address: "carl@example.org"}}
	m.Bcc = []mail.Address{{Name: "Secret", Address: "carl@Example.Org"}, {Name: "Boss", Address: "boss@example.net"}}
	m.EnvelopeFrom = "bounces@shop.example"
	m.Headers = map[string][]string{"x-campaign": {"spring"}, "List-Unsubscribe": {"<mailto:u@shop.example>"}}
	m.RequireTLS = true
	m.DSN = &transport.DSN{Notify: []string{"FAILURE"}}
	if _, err := c.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	got := tr.Messages()[0]
	// The local part compares exactly, the domain case-insensitively; the first spelling wins.
	want := []string{"ann@example.org", "Bob@Example.org", "bob@example.org", "carl@example.org", "boss@example.net"}
	if !slices.Equal(got.Envelope.To, want) {
		t.Errorf("Envelope.To = %q, want %q", got.Envelope.To, want)
	}
	if got.Envelope.From != "bounces@shop.example" || !got.Envelope.RequireTLS || got.Envelope.DSN == nil || got.Envelope.DSN.Notify[0] != "FAILURE" {
		t.Errorf("Envelope = %+v", got.Envelope)
	}
	for _, f := range got.Headers {
		if strings.EqualFold(f.Name, "Bcc") || strings.Contains(f.Value, "boss@") {
			t.Errorf("Bcc leaked into header %s: %s", f.Name, f.Value)
		}
	}
	if len(got.Bcc) != 2 {
		t.Errorf("Message.Bcc = %v, want both Bcc recipients kept for providers that send them as a field", got.Bcc)
	}
	wantHeaders := []transport.Field{{Name: "List-Unsubscribe", Value: "<mailto:u@shop.example>"}, {Name: "X-Campaign", Value: "spring"}}
	if !slices.Equal(got.Headers, wantHeaders) {
		t.Errorf("Headers = %v, want canonical names in sorted order %v", got.Headers, wantHeaders)
	}

	// EnvelopeFrom defaults to From.
	m.EnvelopeFrom = ""
	_, _ = c.Send(context.Background(), m)
	if f := tr.Messages()[1].Envelope.From; f != "no-reply@shop.example" {
		t.Errorf("default Envelope.From = %q", f)
	}
}

func TestPrepareDoesNotAlias(t *testing.T) {
	c := mailer.New(memmail.New(nil), &mailer.Options{Now: func() time.Time { return fixedNow }})
	m := validMessage()
	m.Attachments = []mailer.Attachment{{Filename: "report.pdf", Data: []byte("%PDF")}, {Filename: "blob", Data: []byte{1}}}
	m.Metadata = map[string]string{"k": "v"}
	tm, err := c.Prepare(m)
	if err != nil {
		t.Fatal(err)
	}
	if tm.Attachments[0].ContentType != "application/pdf" || tm.Attachments[1].ContentType != "application/octet-stream" {
		t.Errorf("content types = %q, %q", tm.Attachments[0].ContentType, tm.Attachments[1].ContentType)
	}
	if m.Attachments[0].ContentType != "" {
		t.Error("Prepare filled in the caller's attachment")
	}
	tm.To[0].Address = "changed@example.org"
	tm.Metadata["k"] = "changed"
	if m.To[0].Address != "ann@example.org" || m.Metadata["k"] != "v" {
		t.Error("the prepared message aliases the caller's slices or maps")
	}
}

func TestSendAfterClose(t *testing.T) {
	closes := 0
	c := mailer.New(&closeCounter{Transport: memmail.New(nil), n: &closes}, nil)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil || closes != 1 {
		t.Errorf("second Close: err %v, transport closed %d times, want once", err, closes)
	}
	_, err := c.Send(context.Background(), validMessage())
	if mailer.CodeOf(err) != transport.FailedPrecondition || !errors.Is(err, transport.ErrClosed) {
		t.Errorf("Send after Close: %v, want FailedPrecondition wrapping ErrClosed", err)
	}
}

type closeCounter struct {
	transport.Transport
	n *int
}

func (c *closeCounter) Close() error { *c.n++; return c.Transport.Close() }

func TestSendErrors(t *testing.T) {
	c, tr := memmail.NewMailer(nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := c.Send(ctx, validMessage())
	if mailer.CodeOf(err) != transport.Canceled || !errors.Is(err, context.Canceled) || tr.Attempts() != 0 {
		t.Errorf("cancelled ctx: %v after %d attempts, want Canceled before the transport", err, tr.Attempts())
	}

	tr.RejectRecipient("bob@example.org", nil)
	m := validMessage()
	m.Cc = []mail.Address{{Address: "bob@example.org"}}
	r, err := c.Send(context.Background(), m)
	pe, ok := mailer.IsPartial(err)
	if !ok || len(pe.Rejected) != 1 || r == nil || len(r.Accepted) != 1 {
		t.Fatalf("partial: r %+v err %v", r, err)
	}
	if !strings.HasPrefix(err.Error(), "mailer: send <"+r.MessageID+">: ") {
		t.Errorf("error %q does not name the Message-ID", err)
	}
	if _, ok := mailer.IsPartial(errors.New("x")); ok {
		t.Error("IsPartial(plain error) = true")
	}

	busy := transport.Errorf(transport.Unavailable, true, "busy")
	tr.FailNext(busy)
	_, err = c.Send(context.Background(), validMessage())
	if !errors.Is(err, busy) || !mailer.IsTemporary(err) || mailer.CodeOf(err) != transport.Unavailable {
		t.Errorf("transport error: %v", err)
	}
}

func TestClientAs(t *testing.T) {
	mem := memmail.New(nil)
	c := mailer.New(mem, nil)
	var tr transport.Transport
	if !c.As(&tr) || tr != mem {
		t.Errorf("As(*transport.Transport) = %v", tr)
	}
	var s string
	if c.As(&s) {
		t.Error("As(*string) = true")
	}
}

func TestNewNilTransportPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("New(nil, nil) did not panic")
		}
	}()
	mailer.New(nil, nil)
}

func TestAttachmentConstructors(t *testing.T) {
	dir := t.TempDir()
	path := dir + "/invoice.pdf"
	if err := os.WriteFile(path, []byte("%PDF-1.7"), 0o600); err != nil {
		t.Fatal(err)
	}
	a, err := mailer.AttachmentFromFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if a.Filename != "invoice.pdf" || a.ContentType != "application/pdf" || a.Size != 8 || a.Data != nil {
		t.Errorf("AttachmentFromFile = %+v", a)
	}
	// Read on every send: the content at send time counts, twice over.
	c, tr := memmail.NewMailer(nil)
	m := validMessage()
	m.Attachments = []mailer.Attachment{a}
	_, _ = c.Send(context.Background(), m)
	_ = os.WriteFile(path, []byte("%PDF-2.0"), 0o600)
	_, _ = c.Send(context.Background(), m)
	if got := tr.Messages(); string(got[0].Attachments[0].Data) != "%PDF-1.7" || string(got[1].Attachments[0].Data) != "%PDF-2.0" {
		t.Errorf("sent %q then %q", got[0].Attachments[0].Data, got[1].Attachments[0].Data)
	}

	for _, p := range []string{dir + "/missing.pdf", dir} {
		if _, err := mailer.AttachmentFromFile(p); mailer.CodeOf(err) != transport.InvalidArgument || !strings.Contains(err.Error(), p) {
			t.Errorf("AttachmentFromFile(%q): %v", p, err)
		}
	}

	fsys := fstest.MapFS{"img/logo.PNG": {Data: []byte("png")}}
	b, err := mailer.AttachmentFromFS(fsys, "img/logo.PNG")
	if err != nil {
		t.Fatal(err)
	}
	if b.Filename != "logo.PNG" || b.ContentType != "image/png" || b.Size != 3 {
		t.Errorf("AttachmentFromFS = %+v", b)
	}
	if _, err := mailer.AttachmentFromFS(fsys, "nope"); mailer.CodeOf(err) != transport.InvalidArgument {
		t.Errorf("AttachmentFromFS(missing): %v", err)
	}
	in := mailer.Inline(mailer.NewAttachment("x.gif", nil), "<x@shop>")
	if !in.Inline || in.ContentID != "x@shop" || in.ContentType != "image/gif" {
		t.Errorf("Inline = %+v", in)
	}
}
