// Package fakeapi runs in-process fakes of provider HTTP APIs for the adapters' tests: an
// httptest server that checks each request the way the provider does (through the
// provider's API), records what it accepted as transporttest.Delivery values, and
// misbehaves on demand (the provider's real error answers, a stall, a connection dropped
// after the whole request arrived).
package fakeapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/postiemail/postie/transport"
	"github.com/postiemail/postie/transport/internal/httpmail"
	"github.com/postiemail/postie/transport/transporttest"
)

// Reply is one HTTP answer.
type Reply struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON returns a Reply with a JSON body.
func JSON(status int, v any) *Reply {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // a fake's own literal: a bug in the test
	}
	return &Reply{Status: status, Header: http.Header{"Content-Type": {"application/json"}}, Body: b}
}

// With returns r with header k set to v.
func (r *Reply) With(k, v string) *Reply {
	c := *r
	c.Header = c.Header.Clone()
	if c.Header == nil {
		c.Header = http.Header{}
	}
	c.Header.Set(k, v)
	return &c
}

// API is one provider as its fake knows it.
type API interface {
	// Accept checks a request as the real API does (method, path, credentials, content
	// type, body shape, limits) and decodes what it would send. A non-nil Reply refuses
	// the request with that answer instead.
	Accept(r *http.Request, body []byte) (transporttest.Delivery, *Reply)
	// Accepted is the answer to the n-th accepted request r, counting from 1. It is called
	// for a request whose answer the fake then drops too, so an API with state (Resend's
	// idempotency keys) records it as the real provider would.
	Accepted(r *http.Request, body []byte, d transporttest.Delivery, n int) *Reply
	// Refusal is the provider's real answer for f, or nil when the provider has none
	// (HTTP APIs cannot refuse one recipient temporarily, say).
	Refusal(f transporttest.Fault) *Reply
}

// Captured is one request as the fake received it.
type Captured struct {
	Method string
	Path   string
	Header http.Header
	Body   []byte
}

// Server is a running fake.
type Server struct {
	*httptest.Server
	api  API
	stop chan struct{}

	mu         sync.Mutex
	requests   []Captured
	deliveries []transporttest.Delivery
	accepted   int
	queued     []*Reply // answers for the next requests, before anything else
	authFailed bool
	stall      bool
	drop       bool
	once       *Reply // one-shot fault answer
	rejects    map[string]*Reply
}

// New starts a fake of api on 127.0.0.1.
func New(api API) *Server {
	s := &Server{api: api, stop: make(chan struct{}), rejects: map[string]*Reply{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// Close stops the fake, releasing stalled requests first.
func (s *Server) Close() {
	s.mu.Lock()
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	s.mu.Unlock()
	s.Server.Close()
}

// Enqueue makes the next requests get these answers, in order, whatever they hold.
func (s *Server) Enqueue(replies ...*Reply) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queued = append(s.queued, replies...)
}

// DropNext makes the next request lose its connection after the whole request arrived.
func (s *Server) DropNext() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.drop = true
}

// Requests returns every request received so far.
func (s *Server) Requests() []Captured {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Captured(nil), s.requests...)
}

// Deliveries returns what the fake accepted so far, in arrival order.
func (s *Server) Deliveries() []transporttest.Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]transporttest.Delivery(nil), s.deliveries...)
}

// Inject sets up f, reporting false when the provider has no way to express it.
func (s *Server) Inject(f transporttest.Fault) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch f.Kind {
	case transporttest.Stall:
		s.stall = true
		return true
	case transporttest.DropAfterData:
		s.drop = true
		return true
	}
	r := s.api.Refusal(f)
	if r == nil {
		return false
	}
	switch f.Kind {
	case transporttest.AuthFailed:
		s.authFailed = true
	case transporttest.TempRejectRecipient, transporttest.PermRejectRecipient:
		s.rejects[transport.AddrKey(f.Recipient)] = r
	default:
		s.once = r
	}
	return true
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return // the client went away mid-request
	}
	s.mu.Lock()
	s.requests = append(s.requests, Captured{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: body})
	stall := s.stall
	var queued *Reply
	if len(s.queued) > 0 {
		queued, s.queued = s.queued[0], s.queued[1:]
	}
	s.mu.Unlock()

	if stall {
		select {
		case <-r.Context().Done():
		case <-s.stop:
		}
		return
	}
	if queued != nil {
		write(w, queued)
		return
	}
	s.mu.Lock()
	authFailed := s.authFailed
	s.mu.Unlock()
	if authFailed {
		write(w, s.api.Refusal(transporttest.Fault{Kind: transporttest.AuthFailed}))
		return
	}
	d, refused := s.api.Accept(r, body)
	if refused != nil {
		write(w, refused)
		return
	}

	s.mu.Lock()
	once, drop := s.once, s.drop
	s.once = nil
	var reject *Reply
	for _, rc := range d.Envelope.To {
		if rj := s.rejects[transport.AddrKey(rc)]; rj != nil && reject == nil {
			reject = rj
		}
	}
	if once == nil && reject == nil {
		s.drop = false
		s.deliveries = append(s.deliveries, d)
		s.accepted++
	}
	n := s.accepted
	s.mu.Unlock()

	switch {
	case once != nil:
		write(w, once)
	case reject != nil:
		write(w, reject)
	case drop:
		s.api.Accepted(r, body, d, n)
		hangUp(w)
	default:
		write(w, s.api.Accepted(r, body, d, n))
	}
}

// hangUp closes the connection without an answer: the request arrived whole, its outcome
// is unknown to the client.
func hangUp(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic("fakeapi: the server cannot hijack connections")
	}
	conn, _, err := hj.Hijack()
	if err == nil {
		conn.Close()
	}
}

func write(w http.ResponseWriter, r *Reply) {
	for k, vs := range r.Header {
		w.Header()[k] = vs
	}
	w.WriteHeader(r.Status)
	_, _ = w.Write(r.Body)
}

// Harness adapts a Server to transporttest.Harness.
type Harness struct {
	Server *Server
	// Open makes a transport that talks to the fake at baseURL.
	Open func(baseURL string) (transport.Transport, error)
}

// MakeTransport implements transporttest.Harness.
func (h *Harness) MakeTransport(context.Context) (transport.Transport, error) {
	return h.Open(h.Server.URL)
}

// Deliveries implements transporttest.Harness.
func (h *Harness) Deliveries(context.Context) ([]transporttest.Delivery, error) {
	return h.Server.Deliveries(), nil
}

// InjectFault implements transporttest.Harness.
func (h *Harness) InjectFault(f transporttest.Fault) bool { return h.Server.Inject(f) }

// Close implements transporttest.Harness.
func (h *Harness) Close() { h.Server.Close() }

// Maker returns a HarnessMaker that starts a fresh fake of newAPI() for every subtest.
func Maker(newAPI func() API, open func(baseURL string) (transport.Transport, error)) transporttest.HarnessMaker {
	return func(ctx context.Context, t *testing.T) (transporttest.Harness, error) {
		return &Harness{Server: New(newAPI()), Open: open}, nil
	}
}

// AsClient is a transporttest.Options.AsTests entry for an adapter over an
// httpmail.Endpoint with the default client: As reaches that client both as the adapter's
// Doer D and as an *http.Client. Use it as AsClient[Doer].
func AsClient[D httpmail.Doer](t *testing.T, tr transport.Transport) {
	var d D
	var c *http.Client
	if !transport.As(tr, &d) || any(d) == nil || !transport.As(tr, &c) || c == nil {
		t.Errorf("As(*Doer) and As(**http.Client) should reach the default client")
	}
}

// Bearer reports whether r carries "Authorization: Bearer key".
func Bearer(r *http.Request, key string) bool {
	v, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && v == key
}

// MediaType returns r's Content-Type without parameters.
func MediaType(r *http.Request) string {
	t, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";")
	return strings.TrimSpace(strings.ToLower(t))
}

// StrictJSON decodes body into v, failing on unknown fields, as a typo guard: a field the
// adapter misspells would be ignored by a lenient decoder and silently dropped.
func StrictJSON(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// Row is one row of an adapter's error-mapping table: the provider's answer and the
// classification the adapter must give it.
type Row struct {
	Name      string
	Reply     *Reply
	Code      transport.Code
	Temporary bool
	Maybe     bool   // wraps transport.ErrMaybeDelivered
	Says      string // a substring of the error text
	// Check, when set, runs extra assertions on the error.
	Check func(t *testing.T, err error)
}

// RunRows sends m once per row against a fresh fake of newAPI that answers with the row's
// Reply, and checks the error's Code, Temporary, ErrMaybeDelivered and text, and that
// secret (the API key) appears nowhere in it.
func RunRows(t *testing.T, newAPI func() API, open func(baseURL string) (transport.Transport, error), m *transport.Message, secret string, rows []Row) {
	t.Helper()
	for _, row := range rows {
		t.Run(row.Name, func(t *testing.T) {
			srv := New(newAPI())
			defer srv.Close()
			tr, err := open(srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			defer tr.Close()
			srv.Enqueue(row.Reply)
			_, err = tr.Send(context.Background(), m)
			if transport.CodeOf(err) != row.Code || transport.IsTemporary(err) != row.Temporary ||
				errors.Is(err, transport.ErrMaybeDelivered) != row.Maybe || err == nil || !strings.Contains(err.Error(), row.Says) {
				t.Errorf("got %v (code %v, temporary %v, maybe delivered %v); want code %v, temporary %v, maybe %v, text containing %q",
					err, transport.CodeOf(err), transport.IsTemporary(err), errors.Is(err, transport.ErrMaybeDelivered), row.Code, row.Temporary, row.Maybe, row.Says)
			}
			if err != nil && secret != "" && strings.Contains(err.Error(), secret) {
				t.Errorf("the secret leaked into the error %q", err)
			}
			if row.Check != nil {
				row.Check(t, err)
			}
		})
	}
}

// Refusal is a message an adapter must refuse before sending anything: Edit turns the base
// message into it, and the error must carry Code, be permanent and contain Says.
type Refusal struct {
	Edit func(m *transport.Message)
	Code transport.Code
	Says string
}

// RunRefusals sends newMessage() edited by each case through tr, a transport over srv,
// checks each error, and then that no request reached srv: a message the provider cannot
// carry is refused before it costs a request.
func RunRefusals(t *testing.T, srv *Server, tr transport.Transport, newMessage func() *transport.Message, cases map[string]Refusal) {
	t.Helper()
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			m := newMessage()
			tc.Edit(m)
			_, err := tr.Send(context.Background(), m)
			if transport.CodeOf(err) != tc.Code || transport.IsTemporary(err) || err == nil || !strings.Contains(err.Error(), tc.Says) {
				t.Errorf("got %v (code %v, temporary %v); want permanent %v containing %q", err, transport.CodeOf(err), transport.IsTemporary(err), tc.Code, tc.Says)
			}
		})
	}
	if n := len(srv.Requests()); n != 0 {
		t.Errorf("%d requests reached the provider; every refusal must happen before sending", n)
	}
}

// NewSink starts a server that reads each request whole and answers it with reply,
// checking nothing: the far end for benchmarks, so they measure the adapter and its HTTP
// client rather than a fake's decoding.
func NewSink(reply *Reply) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		write(w, reply)
	}))
}

// Message returns the plain text message the adapters' tests start from: one sender, one
// recipient, a fixed Date and Message-ID. Each call returns a fresh copy to change.
func Message() *transport.Message {
	return &transport.Message{
		Envelope:  transport.Envelope{From: "shop@example.com", To: []string{"ann@example.org"}},
		From:      mail.Address{Name: "Shop", Address: "shop@example.com"},
		To:        []mail.Address{{Name: "Ann", Address: "ann@example.org"}},
		Subject:   "Your order",
		MessageID: "id1@example.com",
		Date:      time.Date(2024, 3, 9, 12, 0, 0, 0, time.UTC),
		Text:      "Thanks!",
	}
}
