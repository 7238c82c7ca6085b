package transport_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/mail"
	"reflect"
	"strings"
	"testing"

	"github.com/postiemail/postie/transport"
)

// tracer is a middleware that records when a send passes through it.
func tracer(name string, log *[]string) transport.Middleware {
	return func(next transport.Transport) transport.Transport {
		return transport.Wrap(next, func(ctx context.Context, m *transport.Message) (*transport.Receipt, error) {
			*log = append(*log, name+">")
			r, err := next.Send(ctx, m)
			*log = append(*log, "<"+name)
			return r, err
		})
	}
}

func TestChainFirstIsOutermost(t *testing.T) {
	var log []string
	base := transport.SendFunc(func(context.Context, *transport.Message) (*transport.Receipt, error) {
		log = append(log, "base")
		return &transport.Receipt{}, nil
	})
	tr := transport.Chain(tracer("a", &log), tracer("b", &log), nil, tracer("c", &log))(base)
	if _, err := tr.Send(context.Background(), &transport.Message{}); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(log, " "); got != "a> b> c> base <c <b <a" {
		t.Errorf("call order %q, want the first middleware outermost", got)
	}

	log = nil
	_, _ = transport.Chain(nil)(base).Send(context.Background(), &transport.Message{})
	_, _ = transport.Chain(tracer("only", &log))(base).Send(context.Background(), &transport.Message{})
	if got := strings.Join(log, " "); got != "base only> base <only" {
		t.Errorf("Chain(nil) and Chain(one): %q", got)
	}
}

type closer struct {
	transport.SendFunc
	closed int
	inner  string
}

func (c *closer) Close() error { c.closed++; return errors.New("closed") }

func (c *closer) As(target any) bool {
	if p, ok := target.(*string); ok {
		*p = c.inner
		return true
	}
	return false
}

func TestWrapClosesAndExposesInner(t *testing.T) {
	inner := &closer{inner: "pool"}
	w := transport.Wrap(inner, func(context.Context, *transport.Message) (*transport.Receipt, error) {
		return &transport.Receipt{ID: "wrapped"}, nil
	})
	if r, _ := w.Send(context.Background(), nil); r.ID != "wrapped" {
		t.Errorf("Wrap did not send with its func")
	}
	if err := w.Close(); err == nil || inner.closed != 1 {
		t.Errorf("Close: err %v, inner closed %d times", err, inner.closed)
	}
	var s string
	if !transport.As(w, &s) || s != "pool" {
		t.Errorf("As through Wrap: %v %q", transport.As(w, &s), s)
	}
	var n int
	if transport.As(w, &n) {
		t.Error("As(*int) = true")
	}
	if transport.As(transport.SendFunc(nil), &s) {
		t.Error("As on a transport without As = true")
	}
	if err := transport.SendFunc(nil).Close(); err != nil {
		t.Errorf("SendFunc.Close = %v", err)
	}
}

func TestReceiptMerge(t *testing.T) {
	busy := transport.Errorf(transport.Unavailable, true, "busy")
	gone := transport.Errorf(transport.NotFound, false, "gone")
	r := &transport.Receipt{
		MessageID: "id@x", ID: "q1", Accepted: []string{"a@x"},
		Rejected: []transport.RecipientError{{Recipient: "b@x", Err: busy}, {Recipient: "c@x", Err: busy}, {Recipient: "d@x", Err: gone}},
	}
	rejected := r.Rejected
	reply := &transport.Reply{Code: 250}
	r.Merge(&transport.Receipt{
		MessageID: "other@x", ID: "q2", Reply: reply,
		Accepted: []string{"b@X"}, // same recipient: the domain compares case-insensitively (AddrKey)
		Rejected: []transport.RecipientError{{Recipient: "c@x", Err: gone}},
	})
	if r.ID != "q2" || r.MessageID != "id@x" || r.Reply != reply {
		t.Errorf("ID %q MessageID %q Reply %v", r.ID, r.MessageID, r.Reply)
	}
	if !reflect.DeepEqual(r.Accepted, []string{"a@x", "b@X"}) {
		t.Errorf("Accepted = %v", r.Accepted)
	}
	want := []transport.RecipientError{{Recipient: "d@x", Err: gone}, {Recipient: "c@x", Err: gone}}
	if !reflect.DeepEqual(r.Rejected, want) {
		t.Errorf("Rejected = %v, want %v", r.Rejected, want)
	}
	if rejected[0].Recipient != "b@x" {
		t.Error("Merge rewrote the earlier Rejected slice in place")
	}
	before := *r
	r.Merge(nil)
	if !reflect.DeepEqual(*r, before) {
		t.Error("Merge(nil) changed the receipt")
	}
	empty := &transport.Receipt{}
	empty.Merge(&transport.Receipt{MessageID: "m@x", Accepted: []string{"a@x"}})
	if empty.MessageID != "m@x" || len(empty.Accepted) != 1 {
		t.Errorf("merge into empty: %+v", empty)
	}
}

func TestMessageCloneIndependent(t *testing.T) {
	m := &transport.Message{
		Envelope:     transport.Envelope{From: "f@x", To: []string{"a@x"}, DSN: &transport.DSN{Notify: []string{"FAILURE"}}},
		From:         mail.Address{Address: "f@x"},
		To:           []mail.Address{{Address: "a@x"}},
		Cc:           []mail.Address{{Address: "c@x"}},
		Bcc:          []mail.Address{{Address: "b@x"}},
		ReplyTo:      []mail.Address{{Address: "r@x"}},
		Headers:      []transport.Field{{Name: "X-A", Value: "1"}},
		Alternatives: []transport.Alternative{{ContentType: "text/calendar"}},
		Attachments:  []transport.Attachment{{Filename: "a.txt", Data: []byte("a")}},
		Tags:         []string{"t"},
		Metadata:     map[string]string{"k": "v"},
	}
	orig := m.Clone()
	c := m.Clone()
	if !reflect.DeepEqual(c, m) {
		t.Fatal("Clone differs from the original")
	}
	c.Envelope.To[0] = "changed"
	c.Envelope.DSN.Notify[0] = "NEVER"
	c.Envelope.DSN.Return = "FULL"
	c.To[0].Address = "changed"
	c.Cc[0].Address = "changed"
	c.Bcc[0].Address = "changed"
	c.ReplyTo[0].Address = "changed"
	c.Headers[0].Value = "changed"
	c.Alternatives[0].ContentType = "changed"
	c.Attachments[0].Filename = "changed"
	c.Tags[0] = "changed"
	c.Metadata["k"] = "changed"
	c.Metadata["new"] = "x"
	if !reflect.DeepEqual(m, orig) {
		t.Errorf("changing the clone changed the original:\n%+v", m)
	}
	// Attachment contents are documented as shared and read-only.
	if &c.Attachments[0].Data[0] != &m.Attachments[0].Data[0] {
		t.Error("Clone copied attachment data; it is documented to share it")
	}
	var nilMaps transport.Message
	if cl := nilMaps.Clone(); cl.Metadata != nil || cl.Envelope.DSN != nil {
		t.Errorf("Clone of an empty message: %+v", cl)
	}
}

func TestAttachmentReader(t *testing.T) {
	opened := 0
	open := func() (io.ReadCloser, error) {
		opened++
		return io.NopCloser(strings.NewReader("from open")), nil
	}
	for _, c := range []struct {
		name  string
		a     transport.Attachment
		want  string
		n     int64
		known bool
		opens int
	}{
		{"data", transport.Attachment{Data: []byte("data")}, "data", 4, true, 0},
		{"empty data", transport.Attachment{Data: []byte{}}, "", 0, true, 0},
		{"open, size known", transport.Attachment{Open: open, Size: 9}, "from open", 9, true, 1},
		{"open, size unknown", transport.Attachment{Open: open}, "from open", 0, false, 1},
		{"data wins over open", transport.Attachment{Data: []byte("d"), Open: open}, "d", 1, true, 0},
	} {
		opened = 0
		n, known := c.a.Len()
		rc, err := c.a.Reader()
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		if string(b) != c.want || n != c.n || known != c.known || opened != c.opens {
			t.Errorf("%s: read %q, Len %d %v, opened %d", c.name, b, n, known, opened)
		}
	}
	// Each Reader is independent: reading one does not drain the next.
	a := transport.Attachment{Data: []byte("again")}
	for range 2 {
		rc, _ := a.Reader()
		var buf bytes.Buffer
		_, _ = io.Copy(&buf, rc)
		if buf.String() != "again" {
			t.Errorf("second read = %q", buf.String())
		}
	}
}

func TestMessageHeader(t *testing.T) {
	m := &transport.Message{Headers: []transport.Field{{Name: "X-Campaign", Value: "a"}, {Name: "X-Campaign", Value: "b"}}}
	if v, ok := m.Header("x-campaign"); !ok || v != "a" {
		t.Errorf("Header = %q %v, want the first value", v, ok)
	}
	if _, ok := m.Header("Bcc"); ok {
		t.Error("Header(Bcc) found")
	}
}
