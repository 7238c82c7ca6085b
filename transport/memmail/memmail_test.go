package memmail_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"strings"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/postiemail/postie/mailer"
	"github.com/postiemail/postie/transport"
	"github.com/postiemail/postie/transport/memmail"
	"github.com/postiemail/postie/transport/transporttest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// harness is the whole of memmail's conformance test: the backend is the Transport itself.
type harness struct{ t *memmail.Transport }

func (h *harness) MakeTransport(context.Context) (transport.Transport, error) { return h.t, nil }

func (h *harness) Deliveries(context.Context) ([]transporttest.Delivery, error) {
	var ds []transporttest.Delivery
	for _, m := range h.t.Messages() {
		ds = append(ds, transporttest.Delivery{Envelope: m.Envelope, Message: m})
	}
	return ds, nil
}

func (h *harness) InjectFault(f transporttest.Fault) bool {
	reply := func(code int, en transport.Enhanced, text string) *transport.Error {
		return transport.ClassifyReply(&transport.Reply{Code: code, Enhanced: en, Lines: []string{text}})
	}
	switch f.Kind {
	case transporttest.TempRejectRecipient:
		h.t.RejectRecipient(f.Recipient, reply(450, transport.Enhanced{4, 2, 1}, "mailbox busy, try later"))
	case transporttest.PermRejectRecipient:
		h.t.RejectRecipient(f.Recipient, nil)
	case transporttest.ServiceUnavailable:
		h.t.FailNext(reply(421, transport.Enhanced{4, 3, 2}, "service shutting down"))
	case transporttest.RateLimited:
		h.t.FailNext(transport.ClassifyHTTP(429, "3"))
	case transporttest.AuthFailed:
		h.t.FailNext(reply(535, transport.Enhanced{5, 7, 8}, "authentication credentials invalid"))
	case transporttest.DropAfterData:
		h.t.LoseReplyNext()
	case transporttest.Stall:
		h.t.Stall()
	default:
		return false
	}
	return true
}

func (h *harness) Close() { h.t.Close() }

func TestConformance(t *testing.T) {
	transporttest.RunConformanceTests(t, func(context.Context, *testing.T) (transporttest.Harness, error) {
		return &harness{t: memmail.New(nil)}, nil
	}, nil)
}

func msg(subject string, to ...string) *transport.Message {
	m := &transport.Message{
		Envelope:  transport.Envelope{From: "a@example.com", To: to},
		From:      mail.Address{Address: "a@example.com"},
		Subject:   subject,
		MessageID: subject + "@example.com",
		Text:      "body",
	}
	for _, r := range to {
		m.To = append(m.To, mail.Address{Address: r})
	}
	return m
}

func TestKeepsADeepCopy(t *testing.T) {
	tr := memmail.New(nil)
	data := []byte("original")
	opened := 0
	m := msg("copy", "b@example.com")
	m.Headers = []transport.Field{{Name: "X-A", Value: "1"}}
	m.Metadata = map[string]string{"k": "v"}
	m.Alternatives = []transport.Alternative{{ContentType: "text/calendar", Body: []byte("BEGIN")}}
	m.Attachments = []transport.Attachment{
		{Filename: "data.txt", Data: data},
		{Filename: "opened.txt", Open: func() (io.ReadCloser, error) {
			opened++
			return io.NopCloser(strings.NewReader("from open")), nil
		}},
	}
	if _, err := tr.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	// Change everything the caller still holds.
	data[0] = 'X'
	m.Headers[0].Value = "2"
	m.Metadata["k"] = "changed"
	m.Alternatives[0].Body[0] = 'X'
	m.To[0].Address = "changed@example.com"
	m.Envelope.To[0] = "changed@example.com"

	got := tr.Messages()[0]
	if string(got.Attachments[0].Data) != "original" || got.Headers[0].Value != "1" || got.Metadata["k"] != "v" ||
		string(got.Alternatives[0].Body) != "BEGIN" || got.To[0].Address != "b@example.com" || got.Envelope.To[0] != "b@example.com" {
		t.Errorf("kept message shows the caller's later changes: %+v", got)
	}
	if a := got.Attachments[1]; a.Open != nil || string(a.Data) != "from open" || a.Size != int64(len("from open")) {
		t.Errorf("Open attachment kept as %+v, want its content read into Data", a)
	}
	if opened != 1 {
		t.Errorf("Open called %d times, want 1", opened)
	}
	// Messages returns copies: changing them does not change what is kept.
	got.Attachments[0].Data[0] = 'Y'
	if tr.Messages()[0].Attachments[0].Data[0] != 'o' {
		t.Error("Messages returned the kept message itself, not a copy")
	}
}

func TestBounded(t *testing.T) {
	tr := memmail.New(&memmail.Options{Max: 3})
	for i := range 5 {
		if _, err := tr.Send(context.Background(), msg(fmt.Sprint("m", i), "b@example.com")); err != nil {
			t.Fatal(err)
		}
	}
	if tr.Len() != 3 || tr.Dropped() != 2 {
		t.Fatalf("Len, Dropped = %d, %d, want 3, 2", tr.Len(), tr.Dropped())
	}
	var subjects []string
	for _, m := range tr.Messages() {
		subjects = append(subjects, m.Subject)
	}
	if got := strings.Join(subjects, ","); got != "m2,m3,m4" {
		t.Errorf("kept %s, want the newest three m2,m3,m4", got)
	}
	tr.Reset()
	if tr.Len() != 0 || tr.Dropped() != 0 || tr.Attempts() != 0 {
		t.Errorf("after Reset: Len %d Dropped %d Attempts %d, want zeros", tr.Len(), tr.Dropped(), tr.Attempts())
	}
	if memmail.New(nil).Len() != 0 {
		t.Error("new transport not empty")
	}
}

func TestDefaultMax(t *testing.T) {
	tr := memmail.New(nil)
	for i := range memmail.DefaultMax + 1 {
		if _, err := tr.Send(context.Background(), msg(fmt.Sprint("m", i), "b@example.com")); err != nil {
			t.Fatal(err)
		}
	}
	if tr.Len() != memmail.DefaultMax || tr.Dropped() != 1 {
		t.Errorf("Len, Dropped = %d, %d, want %d, 1", tr.Len(), tr.Dropped(), memmail.DefaultMax)
	}
}

func TestFailNextQueue(t *testing.T) {
	tr := memmail.New(nil)
	busy := transport.Errorf(transport.Unavailable, true, "busy")
	tr.FailNext(busy, busy)
	ctx := context.Background()
	for i := range 2 {
		if _, err := tr.Send(ctx, msg("x", "b@example.com")); !errors.Is(err, busy) {
			t.Fatalf("send %d: err = %v, want the injected error", i, err)
		}
	}
	if _, err := tr.Send(ctx, msg("x", "b@example.com")); err != nil {
		t.Fatalf("third send: %v", err)
	}
	if tr.Attempts() != 3 || tr.Len() != 1 {
		t.Errorf("Attempts, Len = %d, %d, want 3, 1", tr.Attempts(), tr.Len())
	}
}

func TestRejectRecipient(t *testing.T) {
	ctx := context.Background()
	tr := memmail.New(nil)
	tr.RejectRecipient("Bad@Example.com", nil)
	greylist := transport.Errorf(transport.Unavailable, true, "greylisted")
	tr.RejectRecipientOnce("grey@example.com", greylist)

	r, err := tr.Send(ctx, msg("1", "ok@example.com", "bad@example.com", "grey@example.com"))
	pe, ok := mailer.IsPartial(err)
	if !ok || len(pe.Rejected) != 2 {
		t.Fatalf("err = %v, want a PartialError with two refusals", err)
	}
	if pe.Rejected[0].Recipient != "bad@example.com" || transport.CodeOf(pe.Rejected[0].Err) != transport.NotFound {
		t.Errorf("first refusal = %v, want bad@example.com NotFound", pe.Rejected[0])
	}
	if !errors.Is(pe.Rejected[1].Err, greylist) {
		t.Errorf("second refusal = %v, want the greylist error", pe.Rejected[1])
	}
	if len(r.Accepted) != 1 || r.Accepted[0] != "ok@example.com" {
		t.Errorf("Accepted = %v", r.Accepted)
	}
	if got := tr.Messages()[0].Envelope.To; len(got) != 1 || got[0] != "ok@example.com" {
		t.Errorf("kept envelope = %v, want only the accepted recipient", got)
	}

	// The greylisting refusal was once only; the permanent one stays until AcceptRecipient.
	_, err = tr.Send(ctx, msg("2", "grey@example.com", "bad@example.com"))
	if pe, ok := mailer.IsPartial(err); !ok || len(pe.Rejected) != 1 || pe.Rejected[0].Recipient != "bad@example.com" {
		t.Errorf("second send: err = %v, want only bad@example.com refused", err)
	}
	tr.AcceptRecipient("bad@example.com")
	if _, err := tr.Send(ctx, msg("3", "bad@example.com")); err != nil {
		t.Errorf("after AcceptRecipient: %v", err)
	}

	// Every recipient refused: nothing is kept, and the error still says why.
	tr.RejectRecipient("bad@example.com", nil)
	n := tr.Len()
	r, err = tr.Send(ctx, msg("4", "bad@example.com"))
	if transport.CodeOf(err) != transport.NotFound || r == nil || len(r.Accepted) != 0 || tr.Len() != n {
		t.Errorf("all refused: r = %+v, err = %v, Len %d (was %d)", r, err, tr.Len(), n)
	}
	tr.ClearFaults()
	if _, err := tr.Send(ctx, msg("5", "bad@example.com")); err != nil {
		t.Errorf("after ClearFaults: %v", err)
	}
}

func TestStallReleasedByClose(t *testing.T) {
	tr := memmail.New(nil)
	tr.Stall()
	done := make(chan error)
	go func() {
		_, err := tr.Send(context.Background(), msg("s", "b@example.com"))
		done <- err
	}()
	// Close may run before or after Send starts waiting; both end in FailedPrecondition.
	tr.Close()
	if err := <-done; transport.CodeOf(err) != transport.FailedPrecondition {
		t.Errorf("stalled send after Close: %v, want FailedPrecondition", err)
	}
}

func TestInvalid(t *testing.T) {
	tr := memmail.New(nil)
	if _, err := tr.Send(context.Background(), nil); transport.CodeOf(err) != transport.InvalidArgument {
		t.Errorf("nil message: %v", err)
	}
	if _, err := tr.Send(context.Background(), msg("none")); transport.CodeOf(err) != transport.InvalidArgument {
		t.Errorf("no recipient: %v", err)
	}
	m := msg("broken", "b@example.com")
	m.Attachments = []transport.Attachment{{Filename: "gone.txt", Open: func() (io.ReadCloser, error) { return nil, errors.New("gone") }}}
	if _, err := tr.Send(context.Background(), m); transport.CodeOf(err) != transport.InvalidArgument || !strings.Contains(err.Error(), "gone.txt") {
		t.Errorf("unreadable attachment: %v", err)
	}
	if tr.Len() != 0 {
		t.Errorf("kept %d invalid messages", tr.Len())
	}
}

func TestConcurrentReaders(t *testing.T) {
	tr := memmail.New(&memmail.Options{Max: 10})
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			_, _ = tr.Send(context.Background(), msg(fmt.Sprint(i), "b@example.com"))
		}()
		go func() {
			defer wg.Done()
			_ = tr.Messages()
			_ = tr.Len()
		}()
	}
	wg.Wait()
	if tr.Len()+tr.Dropped() != 20 {
		t.Errorf("Len+Dropped = %d, want 20", tr.Len()+tr.Dropped())
	}
}

func TestURL(t *testing.T) {
	ctx := context.Background()
	for _, u := range []string{"mem://", "mem://?max=5", "MEM://"} {
		tr, err := mailer.OpenTransport(ctx, u)
		if err != nil {
			t.Errorf("%s: %v", u, err)
			continue
		}
		if _, ok := tr.(*memmail.Transport); !ok {
			t.Errorf("%s opened %T", u, tr)
		}
	}
	tr, _ := mailer.OpenTransport(ctx, "mem://?max=2")
	for i := range 3 {
		_, _ = tr.Send(ctx, msg(fmt.Sprint(i), "b@example.com"))
	}
	if n := tr.(*memmail.Transport).Len(); n != 2 {
		t.Errorf("mem://?max=2 kept %d", n)
	}
	for _, u := range []string{"mem://?max=x", "mem://?max=-1", "mem://?size=3", "mem://host", "mem:///path"} {
		if _, err := mailer.OpenTransport(ctx, u); transport.CodeOf(err) != transport.InvalidArgument {
			t.Errorf("%s: err = %v, want InvalidArgument", u, err)
		}
	}
}

func BenchmarkSend(b *testing.B) {
	// Max 1 keeps memory flat however many iterations run.
	transporttest.RunBenchmarks(b, memmail.New(&memmail.Options{Max: 1}))
}
