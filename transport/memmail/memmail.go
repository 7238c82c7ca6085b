// Package memmail is an in-memory transport: it keeps what it was sent, for tests, examples
// and local development. It registers the URL scheme "mem" with mailer.DefaultURLMux, so
// mailer.OpenMailer(ctx, "mem://") works once this package is imported.
//
// A Transport keeps a deep copy of every accepted message (attachments read into Data), so
// later changes by the caller never show in what it recorded. It is bounded: past
// Options.Max messages the oldest are dropped and counted. Tests can make it misbehave with
// FailNext, RejectRecipient, LoseReplyNext and Stall, which is how the middleware tests
// exercise retry and how it passes the conformance suite in transporttest.
package memmail

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/postiemail/postie/mailer"
	"github.com/postiemail/postie/transport"
)

// Scheme is the URL scheme memmail registers: "mem://" or "mem://?max=100".
const Scheme = "mem"

// DefaultMax is the number of messages a Transport keeps when Options.Max is 0.
const DefaultMax = 1000

func init() {
	mailer.DefaultURLMux().Register(Scheme, new(URLOpener))
}

// URLOpener opens "mem://" URLs. The query parameter max sets Options.Max.
type URLOpener struct{}

// OpenTransportURL returns a new, empty Transport; every URL opens its own.
func (*URLOpener) OpenTransportURL(_ context.Context, u *url.URL) (transport.Transport, error) {
	var opts Options
	for k, v := range u.Query() {
		switch k {
		case "max":
			n, err := strconv.Atoi(v[0])
			if err != nil || n < 0 {
				return nil, transport.Errorf(transport.InvalidArgument, false, "memmail: open %q: max=%q is not a non-negative integer; use e.g. mem://?max=100", mailer.RedactURL(u.String()), v[0])
			}
			opts.Max = n
		default:
			return nil, transport.Errorf(transport.InvalidArgument, false, "memmail: open %q: unknown query parameter %q; the only one is max", mailer.RedactURL(u.String()), k)
		}
	}
	if u.Host != "" || (u.Path != "" && u.Path != "/") {
		return nil, transport.Errorf(transport.InvalidArgument, false, "memmail: open %q: a mem URL names no host or path; use mem:// or mem://?max=N", mailer.RedactURL(u.String()))
	}
	return New(&opts), nil
}

// Options configures a Transport. The zero value and nil mean defaults.
type Options struct {
	// Max bounds how many messages are kept; when full, the oldest is dropped (see
	// Dropped). 0 means DefaultMax.
	Max int
}

// Transport is the in-memory transport. It is safe for concurrent use.
type Transport struct {
	max int

	mu       sync.Mutex
	msgs     []*transport.Message // ring order: oldest first
	dropped  int
	attempts int
	closed   bool
	done     chan struct{} // closed by Close, to release stalled sends
	seq      int

	failNext  []error
	loseReply int
	stall     bool
	reject    map[string]rejection
}

type rejection struct {
	err  *transport.Error
	once bool
}

// New returns an empty Transport. A nil opts means defaults.
func New(opts *Options) *Transport {
	t := &Transport{max: DefaultMax, done: make(chan struct{})}
	if opts != nil && opts.Max > 0 {
		t.max = opts.Max
	}
	return t
}

// NewMailer returns a mailer.Client over a new Transport, and the Transport itself so a
// test can look at what was sent.
func NewMailer(opts *Options) (*mailer.Client, *Transport) {
	t := New(opts)
	return mailer.New(t, nil), t
}

// Send records a deep copy of m for every recipient it accepts. It honours injected faults
// in this order: Stall, FailNext, recipient rejections, LoseReplyNext.
func (t *Transport) Send(ctx context.Context, m *transport.Message) (*transport.Receipt, error) {
	if m == nil {
		return nil, transport.Errorf(transport.InvalidArgument, false, "memmail: nil message")
	}
	t.mu.Lock()
	t.attempts++
	if t.closed {
		t.mu.Unlock()
		return nil, transport.Closed("memmail")
	}
	stall := t.stall
	var fail error
	if !stall && len(t.failNext) > 0 {
		fail = t.failNext[0]
		t.failNext = t.failNext[1:]
	}
	t.mu.Unlock()

	if err := transport.FromContext(ctx, nil); err != nil {
		return nil, fmt.Errorf("memmail: %w", err)
	}
	if stall {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("memmail: stalled: %w", transport.FromContext(ctx, nil))
		case <-t.done:
			return nil, transport.Closed("memmail")
		}
	}
	if fail != nil {
		return nil, fail
	}
	if len(m.Envelope.To) == 0 {
		return nil, transport.Errorf(transport.InvalidArgument, false, "memmail: message <%s> has no envelope recipient: set Envelope.To, or send through mailer.Client, which fills it from To, Cc and Bcc", m.MessageID)
	}

	c, err := deepCopy(m)
	if err != nil {
		return nil, err
	}
	if err := transport.FromContext(ctx, nil); err != nil {
		return nil, fmt.Errorf("memmail: %w", err)
	}

	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil, transport.Closed("memmail")
	}
	r := &transport.Receipt{MessageID: m.MessageID}
	var rejected []transport.RecipientError
	for _, rcpt := range m.Envelope.To {
		key := strings.ToLower(rcpt)
		if rj, ok := t.reject[key]; ok {
			if rj.once {
				delete(t.reject, key)
			}
			rejected = append(rejected, transport.RecipientError{Recipient: rcpt, Err: rj.err})
			continue
		}
		r.Accepted = append(r.Accepted, rcpt)
	}
	r.Rejected = rejected
	if len(r.Accepted) == 0 {
		return r, transport.NewPartialError(rejected)
	}
	c.Envelope.To = append([]string(nil), r.Accepted...)
	t.seq++
	r.ID = "mem-" + strconv.Itoa(t.seq)
	t.msgs = append(t.msgs, c)
	if over := len(t.msgs) - t.max; over > 0 {
		clear(t.msgs[:over])
		t.msgs = append(t.msgs[:0], t.msgs[over:]...)
		t.dropped += over
	}
	if t.loseReply > 0 {
		t.loseReply--
		return nil, &transport.Error{Code: transport.Unknown, Err: fmt.Errorf("memmail: reply to <%s> lost (injected): %w", m.MessageID, transport.ErrMaybeDelivered)}
	}
	if len(rejected) > 0 {
		return r, transport.NewPartialError(rejected)
	}
	return r, nil
}

// deepCopy copies m so that nothing in the copy aliases the caller's memory, reading
// attachments that have an Open func into Data.
func deepCopy(m *transport.Message) (*transport.Message, error) {
	c := m.Clone()
	for i := range c.Alternatives {
		c.Alternatives[i].Body = append([]byte(nil), c.Alternatives[i].Body...)
	}
	for i := range c.Attachments {
		a := &c.Attachments[i]
		if a.Data != nil {
			a.Data, a.Open, a.Size = bytes.Clone(a.Data), nil, int64(len(a.Data))
			continue
		}
		rc, err := a.Reader()
		if err != nil {
			return nil, transport.Errorf(transport.InvalidArgument, false, "memmail: open attachment %q: %w", a.Filename, err)
		}
		data, err := io.ReadAll(rc)
		cerr := rc.Close()
		if err == nil {
			err = cerr
		}
		if err != nil {
			return nil, transport.Errorf(transport.InvalidArgument, false, "memmail: read attachment %q: %w", a.Filename, err)
		}
		if data == nil {
			data = []byte{}
		}
		a.Data, a.Open, a.Size = data, nil, int64(len(data))
	}
	return c, nil
}

// Close makes later sends fail with FailedPrecondition and releases stalled ones. What
// was kept stays readable. Closing twice is harmless.
func (t *Transport) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.closed {
		t.closed = true
		close(t.done)
	}
	return nil
}

// Messages returns copies of the kept messages, oldest first. Each message's
// Envelope.To holds the recipients that were accepted.
func (t *Transport) Messages() []*transport.Message {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]*transport.Message, len(t.msgs))
	for i, m := range t.msgs {
		out[i], _ = deepCopy(m) // attachments are Data only: cannot fail
	}
	return out
}

// Len returns the number of kept messages.
func (t *Transport) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.msgs)
}

// Dropped returns how many messages were dropped because more than Options.Max were kept.
func (t *Transport) Dropped() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.dropped
}

// Attempts returns how many times Send was called, failed calls included: what a retry
// test counts.
func (t *Transport) Attempts() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.attempts
}

// Reset forgets the kept messages and the counters and clears every injected fault.
// It does not reopen a closed Transport.
func (t *Transport) Reset() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.msgs, t.dropped, t.attempts = nil, 0, 0
	t.clearFaultsLocked()
}

// ClearFaults removes every injected fault.
func (t *Transport) ClearFaults() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.clearFaultsLocked()
}

func (t *Transport) clearFaultsLocked() {
	t.failNext, t.loseReply, t.stall, t.reject = nil, 0, false, nil
}

// FailNext makes the next len(errs) sends fail, one error each in order, before anything
// is kept. Use classified errors (transport.Errorf, transport.ClassifyReply) so that
// middleware under test sees real Codes.
func (t *Transport) FailNext(errs ...error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.failNext = append(t.failNext, errs...)
}

// RejectRecipient makes every later send refuse addr (compared case-insensitively) with
// err, until ClearFaults or AcceptRecipient. A nil err means a permanent
// "550 5.1.1 no such user" (NotFound).
func (t *Transport) RejectRecipient(addr string, err *transport.Error) {
	t.setReject(addr, err, false)
}

// RejectRecipientOnce refuses addr with err in the next send that includes it only; the
// send after that accepts it, as a greylisting server would.
func (t *Transport) RejectRecipientOnce(addr string, err *transport.Error) {
	t.setReject(addr, err, true)
}

// AcceptRecipient undoes RejectRecipient for addr.
func (t *Transport) AcceptRecipient(addr string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.reject, strings.ToLower(addr))
}

func (t *Transport) setReject(addr string, err *transport.Error, once bool) {
	if err == nil {
		err = transport.ClassifyReply(&transport.Reply{Code: 550, Enhanced: transport.Enhanced{5, 1, 1}, Lines: []string{"no such user"}})
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.reject == nil {
		t.reject = make(map[string]rejection)
	}
	t.reject[strings.ToLower(addr)] = rejection{err: err, once: once}
}

// LoseReplyNext makes the next send keep the message but fail as if the connection died
// before the final reply: an Unknown error wrapping transport.ErrMaybeDelivered.
func (t *Transport) LoseReplyNext() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.loseReply++
}

// Stall makes every later send block until its ctx ends, as a server that stops answering
// would, until ClearFaults.
func (t *Transport) Stall() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.stall = true
}
