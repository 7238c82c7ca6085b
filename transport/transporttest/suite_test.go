package transporttest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/postiemail/postie/transport"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// rawBackend is a fake backend that receives MIME bytes; rawTransport renders text-only
// messages into it, correctly or with a deliberate bug, so these tests can show that the
// suite's checks pass a correct transport and fail a broken one.
type rawBackend struct {
	mu      sync.Mutex
	ds      []Delivery
	stall   bool
	release chan struct{} // closed by Close: frees sends that ignore ctx
}

func newRawBackend() *rawBackend { return &rawBackend{release: make(chan struct{})} }

type rawTransport struct {
	b         *rawBackend
	leakBcc   bool // writes a Bcc header
	ignoreCtx bool // never looks at ctx
	mu        sync.Mutex
	closed    bool
}

func (t *rawTransport) Send(ctx context.Context, m *transport.Message) (*transport.Receipt, error) {
	t.mu.Lock()
	closed := t.closed
	t.mu.Unlock()
	if closed {
		return nil, transport.Closed("raw")
	}
	if !t.ignoreCtx {
		if err := transport.FromContext(ctx, nil); err != nil {
			return nil, err
		}
	}
	t.b.mu.Lock()
	stall := t.b.stall
	t.b.mu.Unlock()
	if stall {
		if t.ignoreCtx {
			<-t.b.release
			return nil, transport.Errorf(transport.Unavailable, true, "backend gone")
		}
		select {
		case <-ctx.Done():
			return nil, transport.FromContext(ctx, nil)
		case <-t.b.release:
			return nil, transport.Errorf(transport.Unavailable, true, "backend gone")
		}
	}
	raw := render(m, t.leakBcc)
	t.b.mu.Lock()
	t.b.ds = append(t.b.ds, Delivery{Envelope: transport.Envelope{From: m.Envelope.From, To: append([]string(nil), m.Envelope.To...)}, Raw: raw})
	t.b.mu.Unlock()
	return &transport.Receipt{MessageID: m.MessageID, Accepted: append([]string(nil), m.Envelope.To...)}, nil
}

func (t *rawTransport) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closed = true
	return nil
}

// render writes a text-only message: enough for the checks these tests run.
func render(m *transport.Message, leakBcc bool) []byte {
	var b bytes.Buffer
	list := func(name string, l []mail.Address) {
		if len(l) == 0 {
			return
		}
		s := make([]string, len(l))
		for i, a := range l {
			s[i] = a.String()
		}
		fmt.Fprintf(&b, "%s: %s\r\n", name, strings.Join(s, ", "))
	}
	list("From", []mail.Address{m.From})
	list("To", m.To)
	list("Cc", m.Cc)
	if leakBcc {
		list("Bcc", m.Bcc)
	}
	list("Reply-To", m.ReplyTo)
	fmt.Fprintf(&b, "Subject: %s\r\n", mime.QEncoding.Encode("utf-8", m.Subject))
	fmt.Fprintf(&b, "Date: %s\r\n", m.Date.Format(time.RFC1123Z))
	fmt.Fprintf(&b, "Message-ID: <%s>\r\n", m.MessageID)
	for _, f := range m.Headers {
		fmt.Fprintf(&b, "%s: %s\r\n", f.Name, mime.QEncoding.Encode("utf-8", f.Value))
	}
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n")
	w := quotedprintable.NewWriter(&b)
	w.Write([]byte(strings.ReplaceAll(m.Text, "\n", "\r\n")))
	w.Close()
	return b.Bytes()
}

type rawHarness struct {
	b  *rawBackend
	tr *rawTransport
}

func newRawHarness(leakBcc, ignoreCtx bool) *rawHarness {
	b := newRawBackend()
	return &rawHarness{b: b, tr: &rawTransport{b: b, leakBcc: leakBcc, ignoreCtx: ignoreCtx}}
}

func (h *rawHarness) MakeTransport(context.Context) (transport.Transport, error) { return h.tr, nil }

func (h *rawHarness) Deliveries(context.Context) ([]Delivery, error) {
	h.b.mu.Lock()
	defer h.b.mu.Unlock()
	return append([]Delivery(nil), h.b.ds...), nil
}

func (h *rawHarness) InjectFault(f Fault) bool {
	if f.Kind != Stall {
		return false
	}
	h.b.mu.Lock()
	h.b.stall = true
	h.b.mu.Unlock()
	return true
}

func (h *rawHarness) Close() { close(h.b.release) }

func runCheck(t *testing.T, fn func(context.Context, *env) error, h *rawHarness) error {
	t.Helper()
	defer h.Close()
	return fn(t.Context(), &env{h: h, opts: &Options{}, watchdog: 300 * time.Millisecond})
}

// TestSuiteRunsOnRawTransport runs the whole suite over the MIME-bytes path, skipping the
// cases the text-only renderer cannot do: it also proves Options.Skip and the skipping of
// faults the harness cannot inject.
func TestSuiteRunsOnRawTransport(t *testing.T) {
	RunConformanceTests(t, func(context.Context, *testing.T) (Harness, error) {
		return newRawHarness(false, false), nil
	}, &Options{Skip: map[string]string{
		"TextAndHTML": "the test renderer writes text only",
		"Attachments": "the test renderer writes text only",
		"NonASCII":    "the test renderer writes text only",
		"DotLines":    "the test renderer writes text only",
		"SendTwice":   "the test renderer writes text only",
	}, AsTests: []func(*testing.T, transport.Transport){
		func(t *testing.T, tr transport.Transport) {
			if _, ok := tr.(*rawTransport); !ok {
				t.Errorf("As test got %T", tr)
			}
		},
	}})
}

func TestCatchesBccLeak(t *testing.T) {
	if err := runCheck(t, checkRecipients, newRawHarness(false, false)); err != nil {
		t.Fatalf("a correct transport fails the Recipients check: %v", err)
	}
	err := runCheck(t, checkRecipients, newRawHarness(true, false))
	if err == nil {
		t.Fatal("the Recipients check passes a transport that writes a Bcc header")
	}
	for _, want := range []string{"Bcc header", `Bcc address "hidden-bcc1@example.com" appears`, `"hidden-only@example.org" appears`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("report lacks %q:\n%v", want, err)
		}
	}
}

func TestCatchesBccLeakInFields(t *testing.T) {
	m := newMessage("x")
	setRecipients(m, []mail.Address{{Address: "to@example.org"}}, nil, []mail.Address{{Address: "secret@example.org"}})
	leaked := m.Clone()
	leaked.To = append(leaked.To, m.Bcc...)
	leaked.Bcc = nil
	errs := compareDelivery(m, Delivery{Envelope: m.Envelope, Message: leaked}, m.Envelope.To)
	got := fmt.Sprint(errs)
	for _, want := range []string{"delivered as a visible recipient", "missing from the delivered Message.Bcc"} {
		if !strings.Contains(got, want) {
			t.Errorf("report lacks %q: %v", want, got)
		}
	}
	if errs := compareDelivery(m, Delivery{Envelope: m.Envelope, Message: m.Clone()}, m.Envelope.To); len(errs) != 0 {
		t.Errorf("a faithful field delivery is reported: %v", errs)
	}
}

func TestCatchesIgnoredContext(t *testing.T) {
	for _, c := range []struct {
		name string
		fn   func(context.Context, *env) error
		want string
	}{
		{"AlreadyCanceled", checkAlreadyCanceled, "want Canceled"},
		{"CanceledMidSend", checkCanceledMidSend, "ignores ctx"},
		{"Stall", checkStall, "ignores ctx"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if err := runCheck(t, c.fn, newRawHarness(false, false)); err != nil {
				t.Fatalf("a transport that honours ctx fails: %v", err)
			}
			err := runCheck(t, c.fn, newRawHarness(false, true))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("against a transport that ignores ctx: err = %v, want one containing %q", err, c.want)
			}
		})
	}
}

func TestCatchesWrongClassification(t *testing.T) {
	// A transport that reports every refusal as Unknown fails each fault case.
	for _, fc := range faultCases {
		if fc.kind == Stall || fc.kind == DropAfterData {
			continue
		}
		h := &funcHarness{fault: fc.kind, err: transport.Errorf(transport.Unknown, false, "something broke")}
		err := fc.run(t.Context(), &env{h: h, opts: &Options{}, watchdog: time.Second})
		if err == nil || !strings.Contains(err.Error(), "want "+fc.code.String()) && !strings.Contains(err.Error(), "does not wrap a *transport.PartialError") {
			t.Errorf("%v: err = %v, want a report of the wrong Code", fc.kind, err)
		}
	}
	h := &funcHarness{fault: DropAfterData, err: transport.Errorf(transport.Unavailable, true, "lost")}
	if err := faultCases[5].run(t.Context(), &env{h: h, opts: &Options{}}); err == nil || !strings.Contains(err.Error(), "ErrMaybeDelivered") {
		t.Errorf("DropAfterData without ErrMaybeDelivered: err = %v", err)
	}
	maybe := fmt.Errorf("lost: %w", transport.ErrMaybeDelivered)
	h = &funcHarness{fault: DropAfterData, err: &transport.Error{Code: transport.Unknown, Temporary: true, Err: maybe}}
	if err := faultCases[5].run(t.Context(), &env{h: h, opts: &Options{}}); err == nil || !strings.Contains(err.Error(), "retried blindly") {
		t.Errorf("DropAfterData marked temporary: err = %v", err)
	}
	h = &funcHarness{fault: DropAfterData, err: &transport.Error{Code: transport.Unknown, Err: maybe}}
	if err := faultCases[5].run(t.Context(), &env{h: h, opts: &Options{}}); err != nil {
		t.Errorf("a permanent maybe-delivered error is reported: %v", err)
	}
}

// funcHarness answers every send with err once fault is injected.
type funcHarness struct {
	fault FaultKind
	err   error
}

func (h *funcHarness) MakeTransport(context.Context) (transport.Transport, error) {
	return transport.SendFunc(func(context.Context, *transport.Message) (*transport.Receipt, error) { return nil, h.err }), nil
}
func (h *funcHarness) Deliveries(context.Context) ([]Delivery, error) { return nil, nil }
func (h *funcHarness) InjectFault(f Fault) bool                       { return f.Kind == h.fault }
func (h *funcHarness) Close()                                         {}

func TestCatchesMutation(t *testing.T) {
	tr := transport.SendFunc(func(_ context.Context, m *transport.Message) (*transport.Receipt, error) {
		m.Envelope.To = m.Envelope.To[:0] // a transport that narrows the caller's envelope
		return &transport.Receipt{}, nil
	})
	_, _, problems := send(t.Context(), tr, newMessage("x"))
	if len(problems) == 0 || !strings.Contains(fmt.Sprint(problems), "mutated") {
		t.Errorf("problems = %v, want a report of the mutation", problems)
	}
}

const fixture = "From: =?utf-8?q?Zo=C3=AB_=C3=9Cmlaut=2C_Ltd=2E?= <sender@example.com>\r\n" +
	"To: \"Rita\" <rcpt@example.org>, plain@example.org\r\n" +
	"Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe_aus?=\r\n =?utf-8?b?IOaXpeacrOiqng==?=\r\n" +
	"Date: Sat, 09 Mar 2024 14:30:05 +0100\r\n" +
	"Message-ID: <abc@example.com>\r\n" +
	"X-Note: =?utf-8?q?na=C3=AFve?=\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: multipart/mixed; boundary=outer\r\n\r\n" +
	"--outer\r\n" +
	"Content-Type: multipart/related; boundary=rel\r\n\r\n" +
	"--rel\r\n" +
	"Content-Type: multipart/alternative; boundary=alt\r\n\r\n" +
	"--alt\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" +
	"Gr=C3=BC=C3=9Fe, a soft=\r\n break.\r\n.leading dot\r\n" +
	"--alt\r\n" +
	"Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
	"PHA+aGk8L3A+\r\n" +
	"--alt--\r\n" +
	"--rel\r\n" +
	"Content-Type: image/png\r\nContent-ID: <logo@example.com>\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
	"iVBORw==\r\n" +
	"--rel--\r\n" +
	"--outer\r\n" +
	"Content-Type: application/pdf\r\n" +
	"Content-Disposition: attachment;\r\n filename*0*=UTF-8''r%C3%A9sum;\r\n filename*1*=%C3%A9.pdf\r\n" +
	"Content-Transfer-Encoding: base64\r\n\r\n" +
	"AAEC\r\n" +
	"--outer\r\n" +
	"Content-Type: text/plain; name=\"=?utf-8?q?caf=C3=A9.txt?=\"\r\n" +
	"Content-Disposition: attachment\r\n\r\n" +
	"crlf\r\nkept" +
	"\r\n--outer--\r\n"

func TestParseRaw(t *testing.T) {
	c, err := parseRaw([]byte(fixture))
	if err != nil {
		t.Fatal(err)
	}
	want := &content{
		From:      mail.Address{Name: "Zoë Ümlaut, Ltd.", Address: "sender@example.com"},
		To:        []mail.Address{{Name: "Rita", Address: "rcpt@example.org"}, {Address: "plain@example.org"}},
		Subject:   "Grüße aus 日本語",
		MessageID: "abc@example.com",
		Date:      testDate,
		Headers:   map[string][]string{"X-Note": {"naïve"}},
		Text:      "Grüße, a soft break.\n.leading dot",
		HTML:      "<p>hi</p>",
		Parts: []part{
			{Filename: "", MediaType: "image/png", Inline: true, ContentID: "logo@example.com", Data: []byte("\x89PNG")},
			{Filename: "café.txt", MediaType: "text/plain", Data: []byte("crlf\r\nkept")},
			{Filename: "résumé.pdf", MediaType: "application/pdf", Data: []byte{0, 1, 2}},
		},
	}
	if errs := want.diff(c); len(errs) != 0 {
		t.Errorf("parseRaw(fixture) differs from what the fixture says:\n%v", errs)
	}
	// diff must notice each kind of difference, or the suite cannot fail.
	broken := *c
	broken.Subject = "other"
	broken.Parts = append([]part(nil), c.Parts...)
	broken.Parts[2].Data = []byte{0, 1, 3}
	broken.Text = "Grüße, a soft\n break."
	errs := want.diff(&broken)
	if got := fmt.Sprint(errs); len(errs) != 3 || !strings.Contains(got, "Subject") || !strings.Contains(got, "résumé.pdf") || !strings.Contains(got, "text body") {
		t.Errorf("diff reported %v, want the subject, text and attachment differences", errs)
	}
}

func TestParseRawErrors(t *testing.T) {
	for name, raw := range map[string]string{
		"no header":     "not a message",
		"bad base64":    "From: a@example.com\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!!\r\n",
		"bad encoding":  "From: a@example.com\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\nx\r\n",
		"no boundary":   "From: a@example.com\r\nContent-Type: multipart/mixed\r\n\r\nx\r\n",
		"two From":      "From: a@example.com, b@example.com\r\n\r\nx\r\n",
		"bad charset":   "From: a@example.com\r\nContent-Type: text/plain; charset=koi8-r\r\n\r\nx\r\n",
		"bad date":      "From: a@example.com\r\nDate: yesterday\r\n\r\nx\r\n",
		"unterminated":  "From: a@example.com\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nx",
		"bad To":        "From: a@example.com\r\nTo: <<<\r\n\r\nx\r\n",
		"bad mediatype": "From: a@example.com\r\nContent-Type: /\r\n\r\nx\r\n",
	} {
		if _, err := parseRaw([]byte(raw)); err == nil {
			t.Errorf("%s: parseRaw accepted %q", name, raw)
		}
	}
}

func TestNoPartial(t *testing.T) {
	notFound := transport.ClassifyReply(&transport.Reply{Code: 550, Enhanced: transport.Enhanced{5, 1, 1}})
	h := &funcHarness{fault: PermRejectRecipient, err: notFound}
	if err := checkPartial(t.Context(), &env{h: h, opts: &Options{NoPartial: true}}); err != nil {
		t.Errorf("a whole-send refusal with the right code fails under NoPartial: %v", err)
	}
	h.err = transport.Errorf(transport.Unavailable, true, "busy")
	if err := checkPartial(t.Context(), &env{h: h, opts: &Options{NoPartial: true}}); err == nil || !strings.Contains(err.Error(), "want NotFound") {
		t.Errorf("a wrongly classified refusal under NoPartial: %v", err)
	}
	h.err = notFound
	if err := checkPartial(t.Context(), &env{h: h, opts: &Options{}}); err == nil || !strings.Contains(err.Error(), "PartialError") {
		t.Errorf("a whole-send refusal without NoPartial: %v", err)
	}
}

// cachingHarness keeps field-form deliveries; its transport reads each attachment only
// the first time it sees a Message-ID, the bug SendTwice exists to catch.
type cachingHarness struct {
	mu    sync.Mutex
	ds    []Delivery
	cache map[string][]transport.Attachment
}

func (h *cachingHarness) MakeTransport(context.Context) (transport.Transport, error) {
	return transport.SendFunc(func(ctx context.Context, m *transport.Message) (*transport.Receipt, error) {
		h.mu.Lock()
		defer h.mu.Unlock()
		c := m.Clone()
		if cached, ok := h.cache[m.MessageID]; ok {
			c.Attachments = cached
		} else {
			for i := range c.Attachments {
				rc, _ := c.Attachments[i].Reader()
				data, _ := io.ReadAll(rc)
				rc.Close()
				c.Attachments[i].Data, c.Attachments[i].Open = data, nil
			}
			h.cache[m.MessageID] = c.Attachments
		}
		h.ds = append(h.ds, Delivery{Envelope: m.Envelope, Message: c})
		return &transport.Receipt{Accepted: m.Envelope.To}, nil
	}), nil
}

func (h *cachingHarness) Deliveries(context.Context) ([]Delivery, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Delivery(nil), h.ds...), nil
}
func (h *cachingHarness) InjectFault(Fault) bool { return false }
func (h *cachingHarness) Close()                 {}

func TestCatchesCachedAttachments(t *testing.T) {
	err := checkSendTwice(t.Context(), &env{h: &cachingHarness{cache: map[string][]transport.Attachment{}}, opts: &Options{}})
	if err == nil || !strings.Contains(err.Error(), "opened 1 time(s)") {
		t.Errorf("a transport that reads attachments once per Message-ID: %v", err)
	}
}
