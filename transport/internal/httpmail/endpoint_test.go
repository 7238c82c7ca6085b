package httpmail

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/postiemail/postie/transport"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func endpoint(t *testing.T, h http.HandlerFunc) (*Endpoint, *httptest.Server) {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	u, err := BaseURL("test", srv.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	ep := NewEndpoint("testmail", u, nil, func(h http.Header) { h.Set("Authorization", "Bearer sekrit-key") })
	t.Cleanup(func() { ep.Close() })
	return ep, srv
}

func post(ep *Endpoint, ctx context.Context, hdr http.Header) (*Request, *Response, error) {
	r := &Request{Path: "/v1/send", ContentType: "application/json", Body: []byte(`{"a":1}`), Header: hdr}
	resp, err := ep.Post(ctx, r)
	return r, resp, err
}

func TestPostSendsRequest(t *testing.T) {
	var got *http.Request
	var body []byte
	ep, _ := endpoint(t, func(w http.ResponseWriter, r *http.Request) {
		got, body = r, must(io.ReadAll(r.Body))
		w.Header().Set("X-Id", "42")
		w.WriteHeader(202)
		io.WriteString(w, `{"ok":true}`)
	})
	_, resp, err := post(ep, context.Background(), http.Header{"Idempotency-Key": {"k1"}})
	if err != nil {
		t.Fatal(err)
	}
	if got.Method != "POST" || got.URL.Path != "/v1/send" || string(body) != `{"a":1}` {
		t.Errorf("got %s %s %q", got.Method, got.URL.Path, body)
	}
	for k, want := range map[string]string{"Authorization": "Bearer sekrit-key", "Content-Type": "application/json",
		"Accept": "application/json", "Idempotency-Key": "k1", "User-Agent": "postie-testmail"} {
		if v := got.Header.Get(k); v != want {
			t.Errorf("header %s = %q, want %q", k, v, want)
		}
	}
	if !resp.OK() || resp.Header.Get("X-Id") != "42" || string(resp.Body) != `{"ok":true}` {
		t.Errorf("response %+v", resp)
	}
	if s := ep.String(); strings.Contains(s, "sekrit") || !strings.HasPrefix(s, "testmail(http://127.0.0.1:") {
		t.Errorf("String() = %q", s)
	}
}

func TestStatusError(t *testing.T) {
	plain := &Request{}
	keyed := &Request{Header: http.Header{"Idempotency-Key": {"k"}}}
	cause := errors.New("provider said no")
	for _, tc := range []struct {
		status     int
		retryAfter string
		req        *Request
		code       transport.Code
		temporary  bool
		maybe      bool
		after      time.Duration
	}{
		{400, "", plain, transport.InvalidArgument, false, false, 0},
		{401, "", plain, transport.PermissionDenied, false, false, 0},
		{403, "", plain, transport.PermissionDenied, false, false, 0},
		{404, "", plain, transport.NotFound, false, false, 0},
		{413, "", plain, transport.ResourceExhausted, false, false, 0},
		{422, "", plain, transport.InvalidArgument, false, false, 0},
		{429, "7", plain, transport.ResourceExhausted, true, false, 7 * time.Second},
		{451, "", plain, transport.PermissionDenied, false, false, 0},
		{500, "", plain, transport.Unavailable, true, false, 0},
		{502, "", plain, transport.Unavailable, true, true, 0},
		{502, "", keyed, transport.Unavailable, true, false, 0},
		{503, "120", plain, transport.Unavailable, true, false, 2 * time.Minute},
		{504, "", plain, transport.Unavailable, true, true, 0},
	} {
		resp := &Response{Status: tc.status, Header: http.Header{}}
		if tc.retryAfter != "" {
			resp.Header.Set("Retry-After", tc.retryAfter)
		}
		e := StatusError(tc.req, resp, cause)
		if e.Code != tc.code || e.Temporary != tc.temporary || e.RetryAfter != tc.after ||
			errors.Is(e, transport.ErrMaybeDelivered) != tc.maybe || !errors.Is(e, cause) {
			t.Errorf("%d (key %v): got %v temp=%v after=%v maybe=%v", tc.status, tc.req.idempotent(), e.Code, e.Temporary, e.RetryAfter, errors.Is(e, transport.ErrMaybeDelivered))
		}
	}
}

func TestDroppedAfterRequest(t *testing.T) {
	hang := func(w http.ResponseWriter, r *http.Request) {
		io.ReadAll(r.Body)
		conn, _, _ := w.(http.Hijacker).Hijack()
		conn.Close()
	}
	ep, _ := endpoint(t, hang)
	_, _, err := post(ep, context.Background(), nil)
	if !errors.Is(err, transport.ErrMaybeDelivered) || transport.CodeOf(err) != transport.Unknown || transport.IsTemporary(err) {
		t.Errorf("no key: %v (code %v, temporary %v)", err, transport.CodeOf(err), transport.IsTemporary(err))
	}
	_, _, err = post(ep, context.Background(), http.Header{"Idempotency-Key": {"k"}})
	if errors.Is(err, transport.ErrMaybeDelivered) || transport.CodeOf(err) != transport.Unavailable || !transport.IsTemporary(err) {
		t.Errorf("with key: %v (code %v, temporary %v)", err, transport.CodeOf(err), transport.IsTemporary(err))
	}
}

func TestNotSent(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now: the dial is refused
	u, _ := url.Parse("http://" + addr)
	ep := NewEndpoint("testmail", u, nil, nil)
	defer ep.Close()
	_, _, err = post(ep, context.Background(), nil)
	if errors.Is(err, transport.ErrMaybeDelivered) || transport.CodeOf(err) != transport.Unavailable || !transport.IsTemporary(err) {
		t.Errorf("refused dial: %v (code %v, temporary %v)", err, transport.CodeOf(err), transport.IsTemporary(err))
	}
}

func TestContextEndsStall(t *testing.T) {
	arrived := make(chan struct{})
	ep, _ := endpoint(t, func(w http.ResponseWriter, r *http.Request) {
		io.ReadAll(r.Body)
		close(arrived)
		<-r.Context().Done() // stall until the client gives up
	})
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, _, err := post(ep, ctx, nil)
		errc <- err
	}()
	<-arrived
	cancel()
	err := <-errc
	if transport.CodeOf(err) != transport.Canceled || !errors.Is(err, context.Canceled) || !errors.Is(err, transport.ErrMaybeDelivered) {
		t.Errorf("cancelled mid-request: %v (code %v)", err, transport.CodeOf(err))
	}

	dctx, dcancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer dcancel()
	if err := ep.Begin(dctx); transport.CodeOf(err) != transport.DeadlineExceeded {
		t.Errorf("Begin with an expired ctx: %v", err)
	}
}

func TestClosed(t *testing.T) {
	ep, _ := endpoint(t, func(w http.ResponseWriter, r *http.Request) {})
	ep.Close()
	err := ep.Begin(context.Background())
	if transport.CodeOf(err) != transport.FailedPrecondition || !errors.Is(err, transport.ErrClosed) {
		t.Errorf("Begin after Close: %v", err)
	}
	if err := ep.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestBaseURL(t *testing.T) {
	for _, ok := range []string{"https://api.example.com", "https://api.example.com/", "http://127.0.0.1:8080", "http://localhost:1", "http://[::1]:2"} {
		if _, err := BaseURL("p", ok, ""); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{"http://api.example.com", "https://user:sekrit@api.example.com", "https://api.example.com?x=1", "ftp://x", "https://", "::"} {
		_, err := BaseURL("p", bad, "https://d")
		if transport.CodeOf(err) != transport.InvalidArgument || strings.Contains(err.Error(), "sekrit") {
			t.Errorf("%s: %v", bad, err)
		}
	}
}

func TestSecret(t *testing.T) {
	t.Setenv("POSTIE_TEST_KEY", "from-env")
	if v, err := Secret("p", "APIKey", "", "POSTIE_UNSET_KEY", "POSTIE_TEST_KEY"); err != nil || v != "from-env" {
		t.Errorf("env: %q %v", v, err)
	}
	if v, _ := Secret("p", "APIKey", "opt", "POSTIE_TEST_KEY"); v != "opt" {
		t.Errorf("option should win, got %q", v)
	}
	_, err := Secret("p", "APIKey", "", "POSTIE_UNSET_KEY")
	if transport.CodeOf(err) != transport.FailedPrecondition || !strings.Contains(err.Error(), "POSTIE_UNSET_KEY") || !strings.Contains(err.Error(), "Options.APIKey") {
		t.Errorf("missing: %v", err)
	}
}

func TestResetAfter(t *testing.T) {
	now := time.Unix(1000, 0)
	for v, want := range map[string]time.Duration{"1010": 10 * time.Second, "999": 0, "": 0, "x": 0, "99999": transport.MaxRetryAfter} {
		if got := ResetAfter(v, now); got != want {
			t.Errorf("ResetAfter(%q) = %v, want %v", v, got, want)
		}
	}
}

func TestSnippet(t *testing.T) {
	if got := Snippet([]byte("<h1>bad\ngateway</h1>")); got != "<h1>bad gateway</h1>" {
		t.Errorf("got %q", got)
	}
	if got := Snippet([]byte(strings.Repeat("x", 300))); len(got) != 203 {
		t.Errorf("long body: %d bytes", len(got))
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestAs checks the adapters' shared escape hatch: the default client is reachable both as
// the adapter's own Doer interface and as an *http.Client; a caller's Doer only as a Doer.
func TestAs(t *testing.T) {
	type adapterDoer interface { // what each adapter package declares as its Doer
		Do(*http.Request) (*http.Response, error)
	}
	u, _ := url.Parse("https://api.example.com")
	def := NewEndpoint("testmail", u, nil, nil)
	defer def.Close()
	var d adapterDoer
	var c *http.Client
	if !As[adapterDoer](def, &d) || !As[adapterDoer](def, &c) || c == nil || d != Doer(c) {
		t.Errorf("default client: As(*Doer) = %v, As(**http.Client) = %v", d, c)
	}
	var other *url.URL
	if As[adapterDoer](def, &other) || As[adapterDoer](def, nil) {
		t.Errorf("As reached a target it does not know")
	}

	own := doerFunc(func(*http.Request) (*http.Response, error) { return nil, errors.New("unused") })
	mine := NewEndpoint("testmail", u, own, nil)
	d, c = nil, nil
	if !As[adapterDoer](mine, &d) || d == nil {
		t.Errorf("caller's Doer not reached")
	}
	if As[adapterDoer](mine, &c) || c != nil {
		t.Errorf("As(**http.Client) = true for a Doer that is not an *http.Client")
	}
}

type doerFunc func(*http.Request) (*http.Response, error)

func (f doerFunc) Do(r *http.Request) (*http.Response, error) { return f(r) }
