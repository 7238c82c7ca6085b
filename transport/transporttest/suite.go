package transporttest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/postiemail/postie/transport"
)

// DefaultWatchdog is how long after its ctx ended a Send may take to return before the
// suite calls it stuck. It is deliberately generous: the suite checks that ctx is honoured
// at all, never how fast.
const DefaultWatchdog = 10 * time.Second

// RunConformanceTests runs every conformance check against the transport that
// newHarness's harnesses make, each check as a subtest with a fresh harness:
//
//	Text, TextAndHTML, Attachments, NonASCII, Recipients, DotLines, Partial,
//	Fault/<FaultKind> for each kind, Context/AlreadyCanceled, Context/CanceledMidSend,
//	Concurrent, SendAfterClose, SendTwice, and As/<n> for opts.AsTests.
//
// Each subtest calls MakeTransport once and closes that transport. A check that needs a
// fault the harness cannot inject is skipped with a message that says so; opts.Skip skips
// others by name. A nil opts means defaults.
func RunConformanceTests(t *testing.T, newHarness HarnessMaker, opts *Options) {
	t.Helper()
	if opts == nil {
		opts = &Options{}
	}
	for _, c := range checks() {
		name := c.name
		t.Run(name, func(t *testing.T) {
			if reason, ok := opts.Skip[name]; ok {
				t.Skipf("skipped by Options.Skip: %s", reason)
			}
			ctx := t.Context()
			h, err := newHarness(ctx, t)
			if err != nil {
				t.Fatalf("making the harness: %v", err)
			}
			defer h.Close()
			err = c.run(ctx, &env{h: h, opts: opts, watchdog: DefaultWatchdog})
			var skip *skipError
			if errors.As(err, &skip) {
				t.Skip(skip.reason)
			}
			if err != nil {
				t.Error(err)
			}
		})
	}
	for i, as := range opts.AsTests {
		t.Run(fmt.Sprintf("As/%d", i), func(t *testing.T) {
			ctx := t.Context()
			h, err := newHarness(ctx, t)
			if err != nil {
				t.Fatalf("making the harness: %v", err)
			}
			defer h.Close()
			tr, err := h.MakeTransport(ctx)
			if err != nil {
				t.Fatalf("MakeTransport: %v", err)
			}
			defer tr.Close()
			as(t, tr)
		})
	}
}

// check is one conformance case. It returns nil, a *skipError, or every problem it found
// joined, so the suite's own tests can run a check against a broken transport and see it fail.
type check struct {
	name string
	run  func(ctx context.Context, e *env) error
}

func checks() []check {
	cs := []check{
		{"Text", checkText},
		{"TextAndHTML", checkTextAndHTML},
		{"Attachments", checkAttachments},
		{"NonASCII", checkNonASCII},
		{"Recipients", checkRecipients},
		{"DotLines", checkDotLines},
		{"Partial", checkPartial},
	}
	for _, f := range faultCases {
		cs = append(cs, check{"Fault/" + f.kind.String(), f.run})
	}
	return append(cs,
		check{"Context/AlreadyCanceled", checkAlreadyCanceled},
		check{"Context/CanceledMidSend", checkCanceledMidSend},
		check{"Concurrent", checkConcurrent},
		check{"SendAfterClose", checkSendAfterClose},
		check{"SendTwice", checkSendTwice},
	)
}

type skipError struct{ reason string }

func (s *skipError) Error() string { return "skipped: " + s.reason }

// env is what a check works with.
type env struct {
	h        Harness
	opts     *Options
	watchdog time.Duration
}

func (e *env) transport(ctx context.Context) (transport.Transport, error) {
	tr, err := e.h.MakeTransport(ctx)
	if err != nil {
		return nil, fmt.Errorf("MakeTransport: %w", err)
	}
	if tr == nil {
		return nil, errors.New("MakeTransport returned a nil transport and no error")
	}
	return tr, nil
}

func (e *env) inject(f Fault) error {
	if !e.h.InjectFault(f) {
		return &skipError{fmt.Sprintf("the harness cannot inject the fault %v (InjectFault returned false)", f.Kind)}
	}
	return nil
}

func (e *env) deliveries(ctx context.Context) ([]Delivery, error) {
	ds, err := e.h.Deliveries(ctx)
	if err != nil {
		return nil, fmt.Errorf("Deliveries: %w", err)
	}
	for i, d := range ds {
		if (d.Raw == nil) == (d.Message == nil) {
			return nil, fmt.Errorf("Deliveries: delivery %d must have exactly one of Raw and Message set", i)
		}
	}
	return ds, nil
}

// send sends m and checks the contract every send keeps: m is not mutated, and a nil error
// comes with a Receipt that accepted every envelope recipient.
func send(ctx context.Context, tr transport.Transport, m *transport.Message) (*transport.Receipt, error, []error) {
	before := snapshot(m)
	r, err := tr.Send(ctx, m)
	var problems []error
	if !reflect.DeepEqual(snapshot(m), before) {
		problems = append(problems, errors.New("Send mutated the message it was given (use Message.Clone)"))
	}
	if err == nil {
		switch {
		case r == nil:
			problems = append(problems, errors.New("Send returned neither a Receipt nor an error"))
		default:
			if !sameSet(r.Accepted, m.Envelope.To) {
				problems = append(problems, fmt.Errorf("Receipt.Accepted = %q after a successful send, want every envelope recipient %q", r.Accepted, m.Envelope.To))
			}
			if len(r.Rejected) > 0 {
				problems = append(problems, fmt.Errorf("Receipt.Rejected = %v but Send returned a nil error (a refusal must come with a *PartialError)", r.Rejected))
			}
			if r.MessageID != "" && r.MessageID != m.MessageID {
				problems = append(problems, fmt.Errorf("Receipt.MessageID = %q, want %q", r.MessageID, m.MessageID))
			}
		}
	}
	return r, err, problems
}

// snapshot is a copy of m comparable with reflect.DeepEqual (funcs cannot be compared).
func snapshot(m *transport.Message) *transport.Message {
	c := m.Clone()
	for i := range c.Attachments {
		c.Attachments[i].Open = nil
	}
	return c
}

func sameSet(got, want []string) bool {
	g, w := slices.Clone(got), slices.Clone(want)
	for i := range g {
		g[i] = strings.ToLower(g[i])
	}
	for i := range w {
		w[i] = strings.ToLower(w[i])
	}
	slices.Sort(g)
	slices.Sort(w)
	return slices.Equal(g, w)
}

// sendAndCompare sends each message in turn on one fresh transport and compares the
// deliveries with them.
func sendAndCompare(ctx context.Context, e *env, msgs ...*transport.Message) error {
	tr, err := e.transport(ctx)
	if err != nil {
		return err
	}
	defer tr.Close()
	var errs []error
	for _, m := range msgs {
		_, err, problems := send(ctx, tr, m)
		errs = append(errs, problems...)
		if err != nil {
			return errors.Join(append(errs, fmt.Errorf("Send %q: %w", m.Subject, err))...)
		}
	}
	ds, err := e.deliveries(ctx)
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	if len(ds) != len(msgs) {
		return errors.Join(append(errs, fmt.Errorf("got %d deliveries after %d send(s)", len(ds), len(msgs)))...)
	}
	for i, m := range msgs {
		for _, err := range compareDelivery(m, ds[i], m.Envelope.To) {
			if len(msgs) > 1 {
				err = fmt.Errorf("%s: %w", m.Subject, err)
			}
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// compareDelivery compares one delivery with the message that was sent to wantRcpt.
func compareDelivery(m *transport.Message, d Delivery, wantRcpt []string) []error {
	var errs []error
	if d.Envelope.From != m.Envelope.From {
		errs = append(errs, fmt.Errorf("envelope sender: got %q, want %q", d.Envelope.From, m.Envelope.From))
	}
	if !sameSet(d.Envelope.To, wantRcpt) {
		errs = append(errs, fmt.Errorf("envelope recipients: got %q, want %q", d.Envelope.To, wantRcpt))
	}
	want, err := contentOf(m)
	if err != nil {
		return append(errs, fmt.Errorf("reading the sent message: %w", err))
	}
	var got *content
	if d.Raw != nil {
		errs = append(errs, bccInRaw(d.Raw, m.Bcc)...)
		got, err = parseRaw(d.Raw)
		if err != nil {
			errs = append(errs, fmt.Errorf("parsing the delivered MIME: %w", err))
		}
	} else {
		errs = append(errs, bccInFields(d.Message, m.Bcc)...)
		got, err = contentOf(d.Message)
		if err != nil {
			errs = append(errs, fmt.Errorf("reading the delivered message: %w", err))
		}
	}
	if got != nil {
		errs = append(errs, want.diff(got)...)
	}
	return errs
}

// bccInRaw reports any trace of a Bcc recipient in the delivered header section.
func bccInRaw(raw []byte, bcc []mail.Address) []error {
	var errs []error
	hs := headerSection(raw)
	if msg, err := mail.ReadMessage(bytes.NewReader(raw)); err == nil {
		if _, ok := msg.Header["Bcc"]; ok {
			errs = append(errs, fmt.Errorf("the delivered message has a Bcc header %q: Bcc must never be written", msg.Header.Get("Bcc")))
		}
	}
	lower := bytes.ToLower(hs)
	for _, a := range bcc {
		if bytes.Contains(lower, []byte(strings.ToLower(a.Address))) {
			errs = append(errs, fmt.Errorf("the Bcc address %q appears in the delivered headers", a.Address))
		}
	}
	return errs
}

// bccInFields checks a field-form delivery: Bcc recipients in Message.Bcc and nowhere else.
func bccInFields(d *transport.Message, bcc []mail.Address) []error {
	var errs []error
	in := func(l []mail.Address, addr string) bool {
		return slices.ContainsFunc(l, func(a mail.Address) bool { return strings.EqualFold(a.Address, addr) })
	}
	for _, a := range bcc {
		if in(d.To, a.Address) || in(d.Cc, a.Address) || in(d.ReplyTo, a.Address) {
			errs = append(errs, fmt.Errorf("the Bcc address %q was delivered as a visible recipient", a.Address))
		}
		for _, f := range d.Headers {
			if strings.Contains(strings.ToLower(f.Value), strings.ToLower(a.Address)) || strings.EqualFold(f.Name, "Bcc") {
				errs = append(errs, fmt.Errorf("the Bcc address %q appears in the delivered header %s", a.Address, f.Name))
			}
		}
		if !in(d.Bcc, a.Address) {
			errs = append(errs, fmt.Errorf("the Bcc address %q is missing from the delivered Message.Bcc", a.Address))
		}
	}
	return errs
}

// ---- messages ----

var testDate = time.Date(2024, time.March, 9, 14, 30, 5, 0, time.FixedZone("CET", 3600))

func newID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:]) + "@conformance.example.com"
}

// newMessage returns a valid normalized message to one recipient, as mailer.Client builds it.
func newMessage(name string) *transport.Message {
	return &transport.Message{
		Envelope:  transport.Envelope{From: "sender@example.com", To: []string{"rcpt@example.org"}},
		From:      mail.Address{Name: "Postie Sender", Address: "sender@example.com"},
		To:        []mail.Address{{Name: "Rita Recipient", Address: "rcpt@example.org"}},
		Subject:   "conformance: " + name,
		Date:      testDate,
		MessageID: newID(),
		Headers:   []transport.Field{{Name: "X-Postie-Conformance", Value: name}},
		Text:      "Hello from the conformance suite.\n",
	}
}

// setRecipients sets To/Cc/Bcc and the envelope to match.
func setRecipients(m *transport.Message, to, cc, bcc []mail.Address) {
	m.To, m.Cc, m.Bcc = to, cc, bcc
	m.Envelope.To = nil
	for _, l := range [][]mail.Address{to, cc, bcc} {
		for _, a := range l {
			m.Envelope.To = append(m.Envelope.To, a.Address)
		}
	}
}

func binaryData(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/256)
	}
	return b
}

// ---- content checks ----

func checkText(ctx context.Context, e *env) error {
	m := newMessage("Text")
	m.Text = "Plain text body.\n\n" +
		"A line with trailing spaces   \n" +
		"Tabs\tand = signs =3D and =\n" +
		"A very long line: " + strings.Repeat("0123456789", 150) + "\n" +
		strings.Repeat("word ", 400) + "\n" +
		"Last line without a newline"
	return sendAndCompare(ctx, e, m)
}

func checkTextAndHTML(ctx context.Context, e *env) error {
	m := newMessage("TextAndHTML")
	m.Text = "Text rendering.\nSecond line.\n"
	m.HTML = "<!doctype html>\n<html><body><h1 style=\"color: #333\">HTML rendering</h1>\n<p>" +
		strings.Repeat("A paragraph long enough to need wrapping. ", 40) + "</p></body></html>\n"
	return sendAndCompare(ctx, e, m)
}

func checkAttachments(ctx context.Context, e *env) error {
	m := newMessage("Attachments")
	m.Text = "See the attachments.\n"
	m.HTML = `<p>Logo: <img src="cid:logo@conformance.example.com" alt="logo"></p>`
	csv := []byte("id,name\r\n1,one\r\n2,two\r\n")
	m.Attachments = []transport.Attachment{
		{Filename: "data.bin", ContentType: "application/octet-stream", Data: binaryData(3000)},
		{Filename: "notes.txt", ContentType: "text/plain; charset=utf-8", Data: []byte("crlf\r\nlf only\nbare cr\rno final newline")},
		{Filename: "report.csv", ContentType: "text/csv", Size: int64(len(csv)),
			Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(csv)), nil }},
		{Filename: "logo.png", ContentType: "image/png", Inline: true, ContentID: "logo@conformance.example.com",
			Data: append([]byte("\x89PNG\r\n\x1a\n"), binaryData(500)...)},
	}
	return sendAndCompare(ctx, e, m)
}

func checkNonASCII(ctx context.Context, e *env) error {
	m := newMessage("NonASCII")
	m.Subject = "Grüße aus Köln – ünïcödé ✉ 日本語の件名 that is long enough to be folded over more than one header line"
	m.From = mail.Address{Name: "Zoë Ümlaut, Ltd.", Address: "sender@example.com"}
	setRecipients(m,
		[]mail.Address{{Name: "山田 太郎", Address: "taro@example.org"}},
		[]mail.Address{{Name: `Łukasz "the Boss" Żółć`, Address: "lukasz@example.net"}},
		nil)
	m.Headers = append(m.Headers, transport.Field{Name: "X-Postie-Note", Value: "Grüße, naïve café"})
	m.Text = "Grüße! Ça va? 日本語のテキスト. Emoji: 📬\n"
	m.HTML = "<p>Grüße! <b>Ça va?</b> 日本語 📬</p>\n"
	m.Attachments = []transport.Attachment{
		{Filename: "résumé – 日本語.pdf", ContentType: "application/pdf", Data: []byte("%PDF-1.4\n%âãÏÓ\n")},
		{Filename: strings.Repeat("ä", 40) + " long name that needs RFC 2231 continuations.txt", ContentType: "text/plain", Data: []byte("x")},
	}
	return sendAndCompare(ctx, e, m)
}

func checkRecipients(ctx context.Context, e *env) error {
	m := newMessage("Recipients")
	setRecipients(m,
		[]mail.Address{{Name: "To One", Address: "to1@example.org"}, {Address: "to2@example.org"}},
		[]mail.Address{{Name: "Cc One", Address: "cc1@example.net"}},
		[]mail.Address{{Name: "Hidden Bcc", Address: "hidden-bcc1@example.com"}, {Address: "hidden-bcc2@example.net"}})
	m.ReplyTo = []mail.Address{{Name: "Replies", Address: "replies@example.com"}}
	// A message to Bcc recipients only: nothing visible may name them either.
	only := newMessage("Recipients/BccOnly")
	setRecipients(only, nil, nil, []mail.Address{{Address: "hidden-only@example.org"}})
	return sendAndCompare(ctx, e, m, only)
}

func checkDotLines(ctx context.Context, e *env) error {
	m := newMessage("DotLines")
	m.Text = ".\n..\n. a line that starts with a dot\n...three\nFrom the start of a line\n" +
		"middle\n.\nend\r\n.\r\n."
	m.HTML = "<p>\n.\n..\n.dot</p>\n."
	m.Attachments = []transport.Attachment{{Filename: "dots.txt", ContentType: "text/plain", Data: []byte(".\r\n.\r\n..\n.")}}
	return sendAndCompare(ctx, e, m)
}

// ---- recipients refused, faults ----

func checkPartial(ctx context.Context, e *env) error {
	return recipientRefusal(ctx, e, PermRejectRecipient, transport.NotFound, false)
}

// recipientRefusal sends to three recipients while the harness refuses one of them.
func recipientRefusal(ctx context.Context, e *env, kind FaultKind, code transport.Code, temporary bool) error {
	const bad = "refused@example.org"
	if err := e.inject(Fault{Kind: kind, Recipient: bad}); err != nil {
		return err
	}
	m := newMessage("Partial/" + kind.String())
	setRecipients(m, []mail.Address{{Address: "ok1@example.org"}, {Address: bad}}, []mail.Address{{Address: "ok2@example.net"}}, nil)
	good := []string{"ok1@example.org", "ok2@example.net"}
	tr, err := e.transport(ctx)
	if err != nil {
		return err
	}
	defer tr.Close()
	r, err, errs := send(ctx, tr, m)
	if err == nil {
		return errors.Join(append(errs, fmt.Errorf("Send returned a nil error although %s refused <%s>", kind, bad))...)
	}
	ds, derr := e.deliveries(ctx)
	if derr != nil {
		return errors.Join(append(errs, derr)...)
	}
	if e.opts.NoPartial {
		if c := transport.CodeOf(err); c != code {
			errs = append(errs, fmt.Errorf("CodeOf(err) = %v, want %v (err: %v)", c, code, err))
		}
		if transport.IsTemporary(err) != temporary {
			errs = append(errs, fmt.Errorf("IsTemporary(err) = %v, want %v (err: %v)", !temporary, temporary, err))
		}
		if len(ds) != 0 {
			errs = append(errs, fmt.Errorf("got %d deliveries after a refused send, want 0", len(ds)))
		}
		return errors.Join(errs...)
	}
	var pe *transport.PartialError
	if !errors.As(err, &pe) {
		return errors.Join(append(errs, fmt.Errorf("Send error %q (%T) does not wrap a *transport.PartialError", err, err))...)
	}
	if len(pe.Rejected) != 1 || !strings.EqualFold(pe.Rejected[0].Recipient, bad) {
		errs = append(errs, fmt.Errorf("PartialError.Rejected = %v, want just <%s>", pe.Rejected, bad))
	}
	for _, re := range pe.Rejected {
		if c := transport.CodeOf(re.Err); c != code {
			errs = append(errs, fmt.Errorf("recipient <%s>: CodeOf = %v, want %v (err: %v)", re.Recipient, c, code, re.Err))
		}
		if transport.IsTemporary(re.Err) != temporary {
			errs = append(errs, fmt.Errorf("recipient <%s>: IsTemporary = %v, want %v (err: %v)", re.Recipient, !temporary, temporary, re.Err))
		}
	}
	if c := transport.CodeOf(err); c != code {
		errs = append(errs, fmt.Errorf("CodeOf(err) = %v, want %v", c, code))
	}
	if transport.IsTemporary(err) != temporary {
		errs = append(errs, fmt.Errorf("IsTemporary(err) = %v, want %v", !temporary, temporary))
	}
	if r == nil {
		errs = append(errs, errors.New("partial acceptance returned no Receipt"))
	} else {
		if !sameSet(r.Accepted, good) {
			errs = append(errs, fmt.Errorf("Receipt.Accepted = %q, want %q", r.Accepted, good))
		}
		if len(r.Rejected) != 1 || !strings.EqualFold(r.Rejected[0].Recipient, bad) {
			errs = append(errs, fmt.Errorf("Receipt.Rejected = %v, want just <%s>", r.Rejected, bad))
		}
	}
	if len(ds) != 1 {
		return errors.Join(append(errs, fmt.Errorf("got %d deliveries, want 1 to the accepted recipients", len(ds)))...)
	}
	return errors.Join(append(errs, compareDelivery(m, ds[0], good)...)...)
}

type faultCase struct {
	kind      FaultKind
	code      transport.Code
	temporary bool
}

var faultCases = []faultCase{
	{TempRejectRecipient, transport.Unavailable, true},
	{PermRejectRecipient, transport.NotFound, false},
	{ServiceUnavailable, transport.Unavailable, true},
	{RateLimited, transport.ResourceExhausted, true},
	{AuthFailed, transport.PermissionDenied, false},
	{DropAfterData, transport.Unknown, false},
	{Stall, transport.DeadlineExceeded, false},
}

func (f faultCase) run(ctx context.Context, e *env) error {
	switch f.kind {
	case TempRejectRecipient, PermRejectRecipient:
		return recipientRefusal(ctx, e, f.kind, f.code, f.temporary)
	case Stall:
		return checkStall(ctx, e)
	}
	if err := e.inject(Fault{Kind: f.kind}); err != nil {
		return err
	}
	tr, err := e.transport(ctx)
	if err != nil {
		return err
	}
	defer tr.Close()
	m := newMessage("Fault/" + f.kind.String())
	_, err, errs := send(ctx, tr, m)
	if err == nil {
		return errors.Join(append(errs, fmt.Errorf("Send returned a nil error despite the fault %v", f.kind))...)
	}
	if f.kind == DropAfterData {
		if !errors.Is(err, transport.ErrMaybeDelivered) {
			errs = append(errs, fmt.Errorf("after %v, errors.Is(err, transport.ErrMaybeDelivered) is false (err: %v)", f.kind, err))
		}
		if transport.IsTemporary(err) {
			errs = append(errs, fmt.Errorf("after %v, IsTemporary(err) = true: a maybe-delivered send must not be retried blindly (err: %v)", f.kind, err))
		}
		return errors.Join(errs...)
	}
	if c := transport.CodeOf(err); c != f.code {
		errs = append(errs, fmt.Errorf("CodeOf(err) = %v, want %v (err: %v)", c, f.code, err))
	}
	if transport.IsTemporary(err) != f.temporary {
		errs = append(errs, fmt.Errorf("IsTemporary(err) = %v, want %v (err: %v)", !f.temporary, f.temporary, err))
	}
	if errors.Is(err, transport.ErrMaybeDelivered) {
		errs = append(errs, fmt.Errorf("a %v refusal is marked ErrMaybeDelivered; the outcome is known", f.kind))
	}
	ds, err := e.deliveries(ctx)
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	if len(ds) != 0 {
		errs = append(errs, fmt.Errorf("got %d deliveries after a refused send, want 0", len(ds)))
	}
	return errors.Join(errs...)
}

// sendWithWatchdog sends in a goroutine and waits for it; the send is declared stuck when
// it has not returned e.watchdog after ctx ended.
func sendWithWatchdog(ctx context.Context, e *env, tr transport.Transport, m *transport.Message) (error, error) {
	done := make(chan error, 1)
	go func() {
		_, err := tr.Send(ctx, m)
		done <- err
	}()
	select {
	case err := <-done:
		return err, nil
	case <-ctx.Done():
	}
	select {
	case err := <-done:
		return err, nil
	case <-time.After(e.watchdog):
		return nil, fmt.Errorf("Send had not returned %v after its ctx ended: the transport ignores ctx", e.watchdog)
	}
}

func checkStall(ctx context.Context, e *env) error {
	if err := e.inject(Fault{Kind: Stall}); err != nil {
		return err
	}
	tr, err := e.transport(ctx)
	if err != nil {
		return err
	}
	defer tr.Close()
	sctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	err, stuck := sendWithWatchdog(sctx, e, tr, newMessage("Fault/Stall"))
	if stuck != nil {
		return stuck
	}
	if c := transport.CodeOf(err); c != transport.DeadlineExceeded {
		return fmt.Errorf("a stalled send whose ctx deadline passed: CodeOf(err) = %v, want DeadlineExceeded (err: %v)", c, err)
	}
	return nil
}

// ---- context ----

func checkAlreadyCanceled(ctx context.Context, e *env) error {
	tr, err := e.transport(ctx)
	if err != nil {
		return err
	}
	defer tr.Close()
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err, errs := send(cctx, tr, newMessage("Context/AlreadyCanceled"))
	if c := transport.CodeOf(err); c != transport.Canceled {
		errs = append(errs, fmt.Errorf("Send with a cancelled ctx: CodeOf(err) = %v, want Canceled (err: %v)", c, err))
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		errs = append(errs, fmt.Errorf("errors.Is(err, context.Canceled) is false (err: %v)", err))
	}
	ds, err := e.deliveries(ctx)
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	if len(ds) != 0 {
		errs = append(errs, fmt.Errorf("a send with a cancelled ctx delivered %d message(s)", len(ds)))
	}
	return errors.Join(errs...)
}

func checkCanceledMidSend(ctx context.Context, e *env) error {
	if err := e.inject(Fault{Kind: Stall}); err != nil {
		return err
	}
	tr, err := e.transport(ctx)
	if err != nil {
		return err
	}
	defer tr.Close()
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The harness stalls, so the send is under way whenever this fires; if it fires first,
	// the case degrades to an already-cancelled ctx, which must give the same answer.
	stop := time.AfterFunc(50*time.Millisecond, cancel)
	defer stop.Stop()
	err, stuck := sendWithWatchdog(cctx, e, tr, newMessage("Context/CanceledMidSend"))
	if stuck != nil {
		return stuck
	}
	if c := transport.CodeOf(err); c != transport.Canceled && c != transport.DeadlineExceeded {
		return fmt.Errorf("a send whose ctx was cancelled: CodeOf(err) = %v, want Canceled or DeadlineExceeded (err: %v)", c, err)
	}
	return nil
}

// ---- concurrency and lifecycle ----

func checkConcurrent(ctx context.Context, e *env) error {
	const n = 50
	tr, err := e.transport(ctx)
	if err != nil {
		return err
	}
	defer tr.Close()
	msgs := make([]*transport.Message, n)
	for i := range msgs {
		msgs[i] = newMessage(fmt.Sprintf("Concurrent/%02d", i))
	}
	var wg sync.WaitGroup
	errc := make(chan error, n)
	for _, m := range msgs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err, problems := send(ctx, tr, m)
			if err != nil {
				problems = append(problems, fmt.Errorf("%s: %w", m.Subject, err))
			}
			errc <- errors.Join(problems...)
		}()
	}
	wg.Wait()
	close(errc)
	var errs []error
	for err := range errc {
		if err != nil {
			errs = append(errs, err)
		}
	}
	ds, err := e.deliveries(ctx)
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	if len(ds) != n {
		return errors.Join(append(errs, fmt.Errorf("got %d deliveries after %d concurrent sends", len(ds), n))...)
	}
	bySubject := map[string]*transport.Message{}
	for _, m := range msgs {
		bySubject[m.Subject] = m
	}
	for i, d := range ds {
		subject, err := deliveredSubject(d)
		if err != nil {
			errs = append(errs, fmt.Errorf("delivery %d: %w", i, err))
			continue
		}
		m := bySubject[subject]
		if m == nil {
			errs = append(errs, fmt.Errorf("delivery %d has subject %q: not sent, or delivered twice", i, subject))
			continue
		}
		delete(bySubject, subject)
		for _, err := range compareDelivery(m, d, m.Envelope.To) {
			errs = append(errs, fmt.Errorf("%s: %w", subject, err))
		}
	}
	return errors.Join(errs...)
}

func deliveredSubject(d Delivery) (string, error) {
	if d.Message != nil {
		return d.Message.Subject, nil
	}
	c, err := parseRaw(d.Raw)
	if c == nil {
		return "", err
	}
	return c.Subject, nil
}

func checkSendAfterClose(ctx context.Context, e *env) error {
	tr, err := e.transport(ctx)
	if err != nil {
		return err
	}
	m := newMessage("SendAfterClose")
	_, err, errs := send(ctx, tr, m)
	if err != nil {
		errs = append(errs, fmt.Errorf("Send before Close: %w", err))
	}
	if err := tr.Close(); err != nil {
		errs = append(errs, fmt.Errorf("Close: %w", err))
	}
	_, err = tr.Send(ctx, newMessage("SendAfterClose/after"))
	if c := transport.CodeOf(err); c != transport.FailedPrecondition {
		errs = append(errs, fmt.Errorf("Send after Close: CodeOf(err) = %v, want FailedPrecondition (err: %v)", c, err))
	}
	ds, err := e.deliveries(ctx)
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	if len(ds) != 1 {
		errs = append(errs, fmt.Errorf("got %d deliveries, want just the one sent before Close", len(ds)))
	}
	return errors.Join(errs...)
}

func checkSendTwice(ctx context.Context, e *env) error {
	tr, err := e.transport(ctx)
	if err != nil {
		return err
	}
	defer tr.Close()
	payload := binaryData(2048)
	var opens, closes atomic.Int32
	m := newMessage("SendTwice")
	m.Attachments = []transport.Attachment{{
		Filename: "opened-each-time.bin", ContentType: "application/octet-stream",
		Open: func() (io.ReadCloser, error) {
			opens.Add(1)
			return &countingCloser{Reader: bytes.NewReader(payload), closes: &closes}, nil
		},
	}}
	var errs []error
	for i := range 2 {
		_, err, problems := send(ctx, tr, m)
		errs = append(errs, problems...)
		if err != nil {
			errs = append(errs, fmt.Errorf("send %d: %w", i+1, err))
		}
	}
	if o := opens.Load(); o < 2 {
		errs = append(errs, fmt.Errorf("the attachment was opened %d time(s) for two sends: it must be read again on every send", o))
	}
	if o, c := opens.Load(), closes.Load(); o != c {
		errs = append(errs, fmt.Errorf("the attachment was opened %d times but closed %d times", o, c))
	}
	ds, err := e.deliveries(ctx)
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	if len(ds) != 2 {
		return errors.Join(append(errs, fmt.Errorf("got %d deliveries after sending the message twice, want 2", len(ds)))...)
	}
	for i, d := range ds {
		for _, err := range compareDelivery(m, d, m.Envelope.To) {
			errs = append(errs, fmt.Errorf("delivery %d: %w", i+1, err))
		}
	}
	return errors.Join(errs...)
}

type countingCloser struct {
	io.Reader
	closes *atomic.Int32
	once   sync.Once
}

func (c *countingCloser) Close() error {
	c.once.Do(func() { c.closes.Add(1) })
	return nil
}
