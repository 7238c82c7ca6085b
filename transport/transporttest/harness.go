// Package transporttest is the conformance suite every Postie transport passes, modelled on
// go-cloud's drivertest: a transport's test file is a small Harness, and
// RunConformanceTests checks content round-trips, Bcc privacy, dot-stuffing, partial
// acceptance, error classes for injected faults, context cancellation, concurrency and
// Send after Close against it.
package transporttest

import (
	"context"
	"testing"

	"github.com/postiemail/postie/transport"
)

// Harness gives the suite a transport and a view of what its backend received.
// The suite makes a fresh Harness for every subtest, so faults never leak between subtests.
type Harness interface {
	// MakeTransport returns a transport connected to the harness's backend.
	MakeTransport(ctx context.Context) (transport.Transport, error)
	// Deliveries returns what the backend accepted so far, in arrival order.
	Deliveries(ctx context.Context) ([]Delivery, error)
	// InjectFault makes the backend misbehave as f describes for the sends that follow.
	// It returns false when the harness cannot inject f; the suite then skips that case
	// with a visible message.
	InjectFault(f Fault) bool
	// Close releases the backend.
	Close()
}

// HarnessMaker makes a Harness for one subtest.
type HarnessMaker func(ctx context.Context, t *testing.T) (Harness, error)

// Delivery is one message as the backend received it.
type Delivery struct {
	// Envelope is the sender and the recipients the backend accepted for this message.
	Envelope transport.Envelope
	// Raw is the message as RFC 5322 bytes, for backends that receive MIME (SMTP, SES raw,
	// files). Nil for backends that receive fields.
	Raw []byte
	// Message is the message as fields, for backends that receive them (JSON APIs): the
	// harness decodes what its fake API received back into a transport.Message. Bcc goes in
	// Message.Bcc. Nil when Raw is set.
	Message *transport.Message
}

// FaultKind names a misbehaviour a harness can inject.
type FaultKind int

const (
	// TempRejectRecipient refuses Fault.Recipient temporarily (SMTP 450, or the provider's
	// equivalent), accepting the others.
	TempRejectRecipient FaultKind = iota + 1
	// PermRejectRecipient refuses Fault.Recipient permanently (SMTP 550 5.1.1), accepting
	// the others.
	PermRejectRecipient
	// ServiceUnavailable answers the next send with 421 / HTTP 503.
	ServiceUnavailable
	// RateLimited answers the next send with 452 / HTTP 429.
	RateLimited
	// AuthFailed refuses the credentials (SMTP 535 / HTTP 401).
	AuthFailed
	// DropAfterData drops the connection after the whole body was received, before the
	// final reply (the outcome is unknown: ErrMaybeDelivered).
	DropAfterData
	// Stall stops answering, so only ctx can end the send.
	Stall
)

func (k FaultKind) String() string {
	switch k {
	case TempRejectRecipient:
		return "TempRejectRecipient"
	case PermRejectRecipient:
		return "PermRejectRecipient"
	case ServiceUnavailable:
		return "ServiceUnavailable"
	case RateLimited:
		return "RateLimited"
	case AuthFailed:
		return "AuthFailed"
	case DropAfterData:
		return "DropAfterData"
	case Stall:
		return "Stall"
	}
	return "FaultKind(?)"
}

// Fault is one injected misbehaviour.
type Fault struct {
	Kind      FaultKind
	Recipient string // for TempRejectRecipient and PermRejectRecipient
}

// Options tunes the suite for one transport.
type Options struct {
	// Skip lists subtest names (as passed to t.Run, e.g. "Fault/Stall") to skip, each
	// skip reported with the reason given.
	Skip map[string]string
	// AsTests check the transport's As escape hatch; each gets the transport.
	AsTests []func(t *testing.T, tr transport.Transport)
	// NoPartial marks a backend that accepts or refuses a message as a whole (most HTTP
	// APIs); the partial-acceptance case then expects the whole send to fail with the
	// recipient's classification instead.
	NoPartial bool
}
