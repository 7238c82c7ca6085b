package transport

import "context"

// Phases of a send that a transport reports to an Observer. They are constants so that the
// telemetry built on them (one child span per phase) keeps a small, fixed set of names.
const (
	PhaseDial     = "dial"     // connect, and for SMTP read the greeting and send EHLO
	PhaseTLS      = "tls"      // the TLS handshake (implicit TLS or STARTTLS)
	PhaseAuth     = "auth"     // authentication
	PhaseEnvelope = "envelope" // MAIL FROM and RCPT TO (or the provider's request head)
	PhaseBody     = "body"     // DATA or BDAT up to the final reply (or the request body and response)
)

// Observer receives progress reports from the transport that performs a send. Tracing
// middleware puts one in the context with WithObserver; drivers report to it through
// StartPhase and ObserveServer, so they need no telemetry dependency. Every field is optional.
//
// A transport calls the functions from the goroutine running Send, in order, and never
// passes addresses, subjects or bodies to them.
type Observer struct {
	// Phase is called when a phase (one of the Phase constants) begins. The function it
	// returns, when not nil, is called exactly once when the phase ends, with nil or the
	// phase's error.
	Phase func(phase string) (end func(err error))
	// Server is called with the host and port the transport talks to, once it knows them
	// (for a pool or a composite transport, the member actually used).
	Server func(host string, port int)
}

type observerKey struct{}

// WithObserver returns a copy of ctx that carries o. A nil o removes any observer.
func WithObserver(ctx context.Context, o *Observer) context.Context {
	return context.WithValue(ctx, observerKey{}, o)
}

// ObserverFrom returns the Observer in ctx, or nil.
func ObserverFrom(ctx context.Context) *Observer {
	o, _ := ctx.Value(observerKey{}).(*Observer)
	return o
}

func noPhaseEnd(error) {}

// StartPhase reports the start of phase to the Observer in ctx and returns the function to
// call when the phase ends. It never returns nil and costs one context lookup when nobody
// observes, so drivers call it unconditionally:
//
//	end := transport.StartPhase(ctx, transport.PhaseDial)
//	conn, err := dialer.DialContext(ctx, "tcp", addr)
//	end(err)
func StartPhase(ctx context.Context, phase string) (end func(err error)) {
	if o := ObserverFrom(ctx); o != nil && o.Phase != nil {
		if end := o.Phase(phase); end != nil {
			return end
		}
	}
	return noPhaseEnd
}

// ObserveServer reports the server a send talks to to the Observer in ctx, if any.
func ObserveServer(ctx context.Context, host string, port int) {
	if o := ObserverFrom(ctx); o != nil && o.Server != nil {
		o.Server(host, port)
	}
}
