// Package transport is the driver contract of Postie: the Transport interface that every
// backend (the SMTP engine, HTTP provider adapters, the in-memory and file transports)
// implements, the normalized Message they receive, middleware composition, and the one error
// model shared by SMTP and HTTP providers.
//
// Applications normally use package mailer; this package is for implementers of transports
// and middleware. It imports only the standard library.
package transport

import (
	"context"
	"errors"
	"fmt"
	"reflect"
)

// Transport delivers normalized messages.
//
// Implementations must be safe for concurrent use, honour ctx in every phase, never retry
// (retrying is the job of middleware) and never mutate the message. Send returns a nil error
// only when every recipient in m.Envelope.To was accepted; when some were, it returns a
// Receipt together with a *PartialError. After Close, Send fails with FailedPrecondition.
type Transport interface {
	Send(ctx context.Context, m *Message) (*Receipt, error)
	Close() error
}

// SendFunc adapts a function to a Transport, like http.HandlerFunc. Its Close does nothing.
type SendFunc func(ctx context.Context, m *Message) (*Receipt, error)

// Send calls f(ctx, m).
func (f SendFunc) Send(ctx context.Context, m *Message) (*Receipt, error) { return f(ctx, m) }

// Close does nothing and returns nil.
func (f SendFunc) Close() error { return nil }

// Middleware decorates a Transport with cross-cutting behaviour (retry, tracing, ...).
type Middleware func(Transport) Transport

// Chain composes middleware; the first is outermost, so
// Chain(Tracing, Retry, RateLimit)(t) traces one logical send that retries rate-limited attempts.
func Chain(outer Middleware, others ...Middleware) Middleware {
	return func(next Transport) Transport {
		for i := len(others) - 1; i >= 0; i-- {
			if others[i] != nil {
				next = others[i](next)
			}
		}
		if outer != nil {
			next = outer(next)
		}
		return next
	}
}

// Wrap returns a Transport that sends with send and closes inner, the usual shape of a
// middleware's result.
func Wrap(inner Transport, send SendFunc) Transport {
	return &wrapped{inner: inner, send: send}
}

type wrapped struct {
	inner Transport
	send  SendFunc
}

func (w *wrapped) Send(ctx context.Context, m *Message) (*Receipt, error) { return w.send(ctx, m) }
func (w *wrapped) Close() error                                           { return w.inner.Close() }

// As lets callers reach the inner transport's escape hatch through a wrapper.
func (w *wrapped) As(target any) bool { return As(w.inner, target) }

// Aser is the optional escape hatch a Transport may implement to expose its underlying
// client (an SDK client, the SMTP pool) without putting that type in the portable API.
type Aser interface {
	As(target any) bool
}

// As reports whether t, or the transport it wraps, can be expressed as target, and sets it:
// target is a pointer to the transport's own concrete type (var m *memmail.Transport;
// As(t, &m)) or to a type t's As method supports (an SDK client, say).
func As(t Transport, target any) bool {
	if a, ok := t.(Aser); ok && a.As(target) {
		return true
	}
	rv := reflect.ValueOf(target)
	if t == nil || rv.Kind() != reflect.Pointer || rv.IsNil() {
		return false
	}
	if reflect.TypeOf(t).AssignableTo(rv.Elem().Type()) {
		rv.Elem().Set(reflect.ValueOf(t))
		return true
	}
	return false
}

// ErrClosed is wrapped by the error a closed Transport returns from Send.
var ErrClosed = errors.New("transport is closed")

// Closed returns the FailedPrecondition error a Transport returns from Send after Close.
func Closed(name string) error {
	return &Error{Code: FailedPrecondition, Err: fmt.Errorf("%s: Send after Close: %w (create a new one)", name, ErrClosed)}
}
