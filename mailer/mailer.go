// Package mailer is the portable API applications use to send email: the Mailer interface,
// the concrete Client over any transport.Transport, the Message type, and URL opening
// (OpenMailer) for transports that register a scheme.
//
// A Client validates every message once, stamps it with a Date and a Message-ID (so retries
// reuse them), computes the SMTP envelope (To+Cc+Bcc, de-duplicated; Bcc never in a header)
// and hands the normalized transport.Message to its transport, usually a middleware chain
// over the SMTP engine or an HTTP provider.
package mailer

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/postiemail/postie/transport"
)

// Mailer sends messages. *Client implements it; mailertest.Recorder fakes it in tests.
// Applications should depend on this interface, not on *Client.
type Mailer interface {
	Send(ctx context.Context, m *Message) (*Receipt, error)
}

// Receipt reports the outcome of a send: the Message-ID, the backend's id, and each
// recipient's result.
type Receipt = transport.Receipt

// Options configures a Client. The zero value and nil mean defaults.
type Options struct {
	// Now returns the time stamped into the Date header; default time.Now.
	Now func() time.Time
	// NewMessageID returns a Message-ID (without angle brackets) for a message whose From
	// address has the given domain; default: 24 random hex characters "@" domain.
	NewMessageID func(domain string) string
}

// Client is the concrete Mailer over one transport. It is safe for concurrent use.
type Client struct {
	t      transport.Transport
	now    func() time.Time
	newID  func(domain string) string
	closed atomic.Bool
}

// New returns a Client that sends through t. A nil opts means defaults.
// t is usually a middleware chain: transport.Chain(...)(base).
func New(t transport.Transport, opts *Options) *Client {
	if t == nil {
		panic("mailer.New: nil transport")
	}
	c := &Client{t: t, now: time.Now, newID: randomMessageID}
	if opts != nil {
		if opts.Now != nil {
			c.now = opts.Now
		}
		if opts.NewMessageID != nil {
			c.newID = opts.NewMessageID
		}
	}
	return c
}

// Send validates m, normalizes it and sends it through the transport. m is not modified.
//
// The error is nil only when every recipient was accepted. When some were refused, Send
// returns the Receipt and an error wrapping a *transport.PartialError. Use CodeOf and
// IsTemporary to classify errors.
func (c *Client) Send(ctx context.Context, m *Message) (*Receipt, error) {
	if c.closed.Load() {
		return nil, transport.Closed("mailer.Client")
	}
	tm, err := c.Prepare(m)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("mailer: send <%s>: %w", tm.MessageID, transport.FromContext(ctx, nil))
	}
	r, err := c.t.Send(ctx, tm)
	if r != nil && r.MessageID == "" {
		r.MessageID = tm.MessageID
	}
	if err != nil {
		return r, fmt.Errorf("mailer: send <%s>: %w", tm.MessageID, err)
	}
	return r, nil
}

// Prepare validates m and returns the normalized message the transport would receive,
// with Date and Message-ID filled in. Send calls it; previews and tests can too.
func (c *Client) Prepare(m *Message) (*transport.Message, error) {
	if m == nil {
		return nil, invalid("message", "is nil", "pass a *mailer.Message")
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	tm := m.normalize()
	if tm.Date.IsZero() {
		tm.Date = c.now()
	}
	if tm.MessageID == "" {
		tm.MessageID = c.newID(domainOf(tm.From.Address))
	}
	return tm, nil
}

// Close closes the transport. Send after Close fails with FailedPrecondition.
func (c *Client) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	return c.t.Close()
}

// As exposes the transport's escape hatch (for example the SMTP pool or an SDK client).
func (c *Client) As(target any) bool {
	if p, ok := target.(*transport.Transport); ok {
		*p = c.t
		return true
	}
	return transport.As(c.t, target)
}

func randomMessageID(domain string) string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:]) + "@" + domain
}

func domainOf(addr string) string {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 && i < len(addr)-1 {
		return addr[i+1:]
	}
	return "localhost"
}

// Re-exports of the error model, so applications need only this package.
type (
	Code           = transport.Code
	Error          = transport.Error
	PartialError   = transport.PartialError
	RecipientError = transport.RecipientError
)

// The portable error codes, re-exported from package transport.
const (
	OK                 = transport.OK
	Unknown            = transport.Unknown
	InvalidArgument    = transport.InvalidArgument
	NotFound           = transport.NotFound
	PermissionDenied   = transport.PermissionDenied
	ResourceExhausted  = transport.ResourceExhausted
	FailedPrecondition = transport.FailedPrecondition
	Unavailable        = transport.Unavailable
	DeadlineExceeded   = transport.DeadlineExceeded
	Canceled           = transport.Canceled
	Unimplemented      = transport.Unimplemented
	Internal           = transport.Internal
)

// ErrMaybeDelivered marks an error after which the message may have been delivered.
var ErrMaybeDelivered = transport.ErrMaybeDelivered

// CodeOf returns the portable error class of err.
func CodeOf(err error) Code { return transport.CodeOf(err) }

// IsTemporary reports whether retrying later may succeed.
func IsTemporary(err error) bool { return transport.IsTemporary(err) }

// IsPartial reports whether err says some recipients were refused while others got the
// message, and returns the refusals.
func IsPartial(err error) (*PartialError, bool) {
	var pe *PartialError
	ok := errors.As(err, &pe)
	return pe, ok
}
