// Package postie composes the default Postie stack from a Config: a transport opened from a
// URL, the middleware chain around it, and the mailer.Client on top. It exports the Wire
// provider sets; the injector New lives in wire.go and its generated form in wire_gen.go.
//
// Nothing here is required: every piece can be built by hand (see examples/quickstart).
package postie

import (
	"context"
	"fmt"

	"github.com/google/wire"

	"github.com/postiemail/postie/mailer"
	"github.com/postiemail/postie/transport"

	// Register the reference transports' URL schemes (mem://, file://).
	_ "github.com/postiemail/postie/transport/filemail"
	_ "github.com/postiemail/postie/transport/memmail"
)

// Config describes the default stack.
type Config struct {
	// URL names the transport, for example "smtp://user@mail.example:587",
	// "smtps://mail.example", "mem://", "file:///var/spool/postie" or
	// "failover(smtp://a smtp://b)". Secrets come from the environment or driver options.
	URL string
	// Mailer configures the Client (clock, Message-ID generator); nil means defaults.
	Mailer *mailer.Options
}

// Stack is the middleware chain applied around the base transport, outermost first.
type Stack []transport.Middleware

// Wrap applies the stack to base.
func (s Stack) Wrap(base transport.Transport) transport.Transport {
	if len(s) == 0 {
		return base
	}
	return transport.Chain(s[0], s[1:]...)(base)
}

// BaseTransport is the transport the URL names, before middleware: a distinct type so Wire
// can tell it from the decorated transport.
type BaseTransport struct{ transport.Transport }

// ProvideBaseTransport opens the transport cfg.URL names. The cleanup closes it.
func ProvideBaseTransport(ctx context.Context, cfg Config) (BaseTransport, func(), error) {
	if cfg.URL == "" {
		return BaseTransport{}, nil, fmt.Errorf("postie: Config.URL is empty: set it to a transport URL such as smtp://mail.example:587 (or mem:// in tests)")
	}
	t, err := mailer.OpenTransport(ctx, cfg.URL)
	if err != nil {
		return BaseTransport{}, nil, fmt.Errorf("postie: %w", err)
	}
	return BaseTransport{t}, func() { _ = t.Close() }, nil
}

// ProvideStack builds the middleware chain from cfg.
func ProvideStack(cfg Config) Stack {
	return Stack{}
}

// ProvideTransport decorates the base transport with the stack.
func ProvideTransport(base BaseTransport, s Stack) transport.Transport {
	return s.Wrap(base.Transport)
}

// ProvideClient builds the Client over the decorated transport.
func ProvideClient(t transport.Transport, cfg Config) *mailer.Client {
	return mailer.New(t, cfg.Mailer)
}

// Set provides the whole default stack from a Config and a context.
var Set = wire.NewSet(ProvideBaseTransport, ProvideStack, ProvideTransport, ProvideClient)

// MailerSet binds mailer.Mailer to *mailer.Client for applications that depend on the interface.
var MailerSet = wire.NewSet(Set, wire.Bind(new(mailer.Mailer), new(*mailer.Client)))
