// Package httpmail is what Postie's provider adapters share. The Endpoint (sendgridmail,
// mailgunmail, postmarkmail, resendmail) builds and authenticates requests, reads and
// classifies responses and decides when a failed POST may have delivered the message;
// sesmail, whose SDK makes the requests, shares the tracing and classification behind it.
// The message side (SplitRecipients, ReadAttachments, Tags, the Unsupported, TooMany and
// TooLarge refusals) maps a transport.Message onto a send API, and config.go reads secrets,
// base URLs and URL parameters. It exists so the adapters hold only what is specific to
// their provider.
package httpmail

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/postiemail/postie/internal/loopback"
	"github.com/postiemail/postie/transport"
)

// Doer sends one HTTP request: *http.Client, or a client instrumented with otelhttp.
type Doer interface {
	Do(*http.Request) (*http.Response, error)
}

// DefaultTimeout bounds a whole request made with the default client, attachments included.
const DefaultTimeout = 60 * time.Second

// maxBody caps how much of a response is read; provider answers are small JSON documents.
const maxBody = 1 << 20

// Endpoint is one provider API: its base URL, its credentials and the client that reaches
// it. It is safe for concurrent use once built.
type Endpoint struct {
	// Provider names the adapter package in errors and String, e.g. "sendgridmail".
	Provider string
	// Base is the API's base URL; request paths are joined to it.
	Base *url.URL
	// Auth sets the credentials on an outgoing request. What it sets never appears in
	// errors or String.
	Auth func(h http.Header)

	doer   Doer
	owned  *http.Client // the default client, when the caller passed none
	closed atomic.Bool
}

// NewEndpoint returns an Endpoint that sends through doer, or through a default
// *http.Client with DefaultTimeout when doer is nil.
func NewEndpoint(provider string, base *url.URL, doer Doer, auth func(http.Header)) *Endpoint {
	if c, ok := doer.(*http.Client); ok && c == nil {
		doer = nil
	}
	e := &Endpoint{Provider: provider, Base: base, Auth: auth, doer: doer}
	if doer == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		if base.Scheme == "http" {
			// BaseURL allows plain http only to a loopback host: the key goes in clear, so
			// the name must really lead to this machine.
			tr.DialContext = loopbackOnly(tr.DialContext)
		}
		e.owned = &http.Client{Transport: tr, Timeout: DefaultTimeout, CheckRedirect: noRedirects}
		e.doer = e.owned
	}
	return e
}

// loopbackOnly wraps dial so that a connection that did not reach a loopback address is
// closed and refused: a loopback name resolves through the hosts file and DNS like any
// other, and may lead elsewhere.
func loopbackOnly(dial func(ctx context.Context, network, addr string) (net.Conn, error)) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil || loopback.Peer(c) {
			return c, err
		}
		c.Close()
		return nil, &transport.Error{Code: transport.FailedPrecondition, Err: fmt.Errorf(
			"%s reached %s, which is not loopback: plain http is allowed only to this machine, so nothing was sent; use https", addr, c.RemoteAddr())}
	}
}

// noRedirects is the CheckRedirect of the default client: a redirect is handed back
// instead of followed. A send API never redirects, and following one would resend the
// credentials: net/http keeps Authorization (and custom headers such as
// X-Postmark-Server-Token) on a redirect to the same host whatever its port or scheme,
// so a redirect to http:// would carry them in clear.
func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// As is the adapters' Transport.As: it stores the client requests go through in target
// when target is a *D (D being the adapter's own Doer interface, which has this package's
// method set), or a **http.Client when that client is an *http.Client.
func As[D Doer](e *Endpoint, target any) bool {
	switch p := target.(type) {
	case *D:
		d, ok := e.doer.(D)
		if ok {
			*p = d
		}
		return ok
	case **http.Client:
		c, ok := e.doer.(*http.Client)
		if ok {
			*p = c
		}
		return ok
	}
	return false
}

// String names the provider and base URL; it never includes credentials.
func (e *Endpoint) String() string { return e.Provider + "(" + e.Base.Redacted() + ")" }

// Begin reports why a send must not start: the endpoint is closed or ctx is done.
func (e *Endpoint) Begin(ctx context.Context) error {
	if e.closed.Load() {
		return transport.Closed(e.Provider)
	}
	return transport.FromContext(ctx, nil)
}

// Close makes later sends fail and releases the idle connections of the default client.
// A caller's Doer is left alone: the caller owns it.
func (e *Endpoint) Close() error {
	if !e.closed.Swap(true) && e.owned != nil {
		e.owned.CloseIdleConnections()
	}
	return nil
}

// Response is a provider's answer, its body read (up to 1 MiB) and closed.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// OK reports a 2xx status.
func (r *Response) OK() bool { return r.Status >= 200 && r.Status < 300 }

// Request is one POST to the provider.
type Request struct {
	Path        string      // joined to the base URL, e.g. "/v3/mail/send"
	ContentType string      // e.g. "application/json"
	Body        []byte      // the whole body, so the client can resend it on a fresh connection
	Header      http.Header // extra headers, such as Idempotency-Key; may be nil
}

// idempotent reports whether the provider deduplicates r, so that resending it after an
// unanswered attempt cannot deliver twice.
func (r *Request) idempotent() bool { return r.Header.Get("Idempotency-Key") != "" }

// Post sends r and returns the provider's response whatever its status. The error is
// non-nil only when no response arrived; it is then classified:
//   - ctx ended: Canceled or DeadlineExceeded;
//   - the request was never fully written (connection refused, DNS failure, a write
//     error): Unavailable (DeadlineExceeded for a timeout), temporary, since the provider
//     cannot have acted on it;
//   - the request was written but no answer came: Unknown and wrapping
//     transport.ErrMaybeDelivered, unless r carries an Idempotency-Key, in which case a
//     retry is safe and the error is Unavailable and temporary.
func (e *Endpoint) Post(ctx context.Context, r *Request) (*Response, error) {
	u := e.Base.JoinPath(r.Path)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(r.Body))
	if err != nil {
		return nil, &transport.Error{Code: transport.Internal, Err: fmt.Errorf("%s: build request: %w", e.Provider, err)}
	}
	for k, vs := range r.Header {
		req.Header[k] = vs
	}
	req.Header.Set("Content-Type", r.ContentType)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "postie-"+e.Provider)
	if e.Auth != nil {
		e.Auth(req.Header)
	}

	ctx, w := Trace(ctx)
	_, w.NetHTTP = e.doer.(*http.Client)
	resp, err := e.doer.Do(req.WithContext(ctx))
	if err != nil {
		return nil, NoResponse(e.Provider, ctx, err, w, r.idempotent())
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	// A body cut short still leaves a status to act on; adapters treat an unreadable 2xx
	// body as success with an unknown provider id.
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: body}, nil
}

// Written records, through httptrace, whether a request left for the server.
type Written struct {
	// NetHTTP says the client is known to send through net/http (an *http.Client, the AWS
	// SDK's default), so that no trace event at all means no connection was sought.
	NetHTTP bool

	sought atomic.Bool // a connection was asked for
	wrote  atomic.Bool // the request was written in full
}

// Trace returns ctx with an httptrace.ClientTrace (composed with any already there) that
// reports to the returned Written. Requests made with the ctx through net/http, directly
// or inside an SDK, are tracked.
func Trace(ctx context.Context) (context.Context, *Written) {
	w := new(Written)
	return httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		GetConn: func(string) { w.sought.Store(true) },
		WroteRequest: func(i httptrace.WroteRequestInfo) {
			if i.Err == nil {
				w.wrote.Store(true)
			}
		},
	}), w
}

// NotSent reports that the request never fully left, so the provider cannot have acted
// on it: a connection was sought but the request not written, or, for a NetHTTP client,
// no connection was even sought. Without any trace event from a client that may not use
// net/http it is false: nothing is known.
func (w *Written) NotSent() bool { return !w.wrote.Load() && (w.sought.Load() || w.NetHTTP) }

// Sought reports whether a connection was asked for.
func (w *Written) Sought() bool { return w.sought.Load() }

// NoResponse classifies err, the failure of a request that got no response (see Post).
func NoResponse(provider string, ctx context.Context, err error, w *Written, idempotent bool) error {
	if te := (*transport.Error)(nil); errors.As(err, &te) && w.NotSent() {
		// Refused on this side before anything left (loopbackOnly): keep the class.
		return &transport.Error{Code: te.Code, Temporary: te.Temporary, Err: fmt.Errorf("%s: request not sent: %w", provider, err)}
	}
	// Without a trace we cannot tell whether the provider got the request: assume it did.
	notSent := w.NotSent()
	maybe := !notSent && !idempotent
	if ctx.Err() != nil {
		cause := fmt.Errorf("%s: %w", provider, err)
		if maybe {
			cause = fmt.Errorf("%s: request sent, no answer before ctx ended: %w: %w", provider, transport.ErrMaybeDelivered, err)
		}
		return transport.FromContext(ctx, cause)
	}
	code := transport.Unavailable
	if isTimeout(err) {
		code = transport.DeadlineExceeded
	}
	switch {
	case notSent:
		return &transport.Error{Code: code, Temporary: true, Err: fmt.Errorf("%s: request not sent: %w", provider, err)}
	case idempotent:
		return &transport.Error{Code: code, Temporary: true, Err: fmt.Errorf("%s: no answer (the Idempotency-Key makes a retry safe): %w", provider, err)}
	}
	return &transport.Error{Code: transport.Unknown, Err: fmt.Errorf("%s: request sent, no answer: %w: %w", provider, transport.ErrMaybeDelivered, err)}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// StatusError classifies a response that is not 2xx with transport.ClassifyHTTP (status
// and Retry-After), wrapping cause, the provider's parsed error body. A 502 or 504 means a
// gateway lost the provider's answer, so for a request without an Idempotency-Key it also
// wraps transport.ErrMaybeDelivered. A 451 is a policy refusal: PermissionDenied. Adapters refine the Code from the body where their
// provider's error codes say more than the status.
func StatusError(r *Request, resp *Response, cause error) *transport.Error {
	e := transport.ClassifyHTTP(resp.Status, resp.Header.Get("Retry-After"))
	if cause != nil {
		e.Err = cause
	}
	if resp.Status == http.StatusUnavailableForLegalReasons {
		e.Code = transport.PermissionDenied // refused by policy (data residency, a security block)
	}
	if (resp.Status == http.StatusBadGateway || resp.Status == http.StatusGatewayTimeout) && !r.idempotent() {
		e.Err = fmt.Errorf("%w (a gateway lost the answer: %w)", e.Err, transport.ErrMaybeDelivered)
	}
	return e
}

// Status formats a status as "HTTP 429 Too Many Requests".
func Status(code int) string {
	return "HTTP " + strconv.Itoa(code) + " " + http.StatusText(code)
}

// ResetAfter turns an X-RateLimit-Reset header holding Unix seconds into a delay from now,
// capped at transport.MaxRetryAfter; 0 when absent, malformed or past.
func ResetAfter(v string, now time.Time) time.Duration {
	secs, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || secs <= 0 {
		return 0
	}
	return min(max(time.Unix(secs, 0).Sub(now), 0), transport.MaxRetryAfter)
}

// Snippet returns the start of an unparsed response body for an error message: at most
// 200 bytes, control characters replaced, so an HTML error page cannot flood a log.
func Snippet(body []byte) string {
	s := strings.ToValidUTF8(string(body[:min(len(body), 200)]), "?")
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(body) > 200 {
		s += "..."
	}
	return strings.TrimSpace(s)
}
