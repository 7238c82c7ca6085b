// Package postie composes the default Postie stack from a Config: a transport opened from a
// URL, the middleware chain around it, and the mailer.Client on top. It exports the Wire
// provider sets; the injector New lives in wire.go and its generated form in wire_gen.go.
//
// Nothing here is required: every piece can be built by hand (see examples/quickstart).
package postie

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/google/wire"
	"golang.org/x/time/rate"

	"github.com/postiemail/postie/internal/redact"
	"github.com/postiemail/postie/mailer"
	"github.com/postiemail/postie/middleware"
	"github.com/postiemail/postie/transport"

	// Register the URL schemes of the SMTP engine and the reference transports
	// (smtp://, smtps://, mem://, file://). Provider packages register theirs when imported.
	_ "github.com/postiemail/postie/smtp"
	_ "github.com/postiemail/postie/transport/filemail"
	_ "github.com/postiemail/postie/transport/memmail"
)

// Config describes the default stack.
type Config struct {
	// URL names the transport, for example "smtp://user:password@mail.example:587",
	// "smtps://mail.example", "mem://", "file:///var/spool/postie" or
	// "failover(smtp://a smtp://b)". An SMTP password is the URL's user info, so keep the
	// URL in the environment; HTTP providers (whose packages the application imports to
	// register their schemes) read their keys from the environment or their Options.
	URL string
	// Mailer configures the Client (clock, Message-ID generator); nil means defaults.
	Mailer *mailer.Options

	// Tracing configures spans and metrics (the outermost middleware); nil means the
	// OpenTelemetry globals, with mail.transport set to the URL's scheme.
	Tracing *middleware.TracingOptions
	// Logging, when set, writes one slog record per logical send.
	Logging *middleware.LoggingOptions
	// Retry configures retries of temporary failures; nil means the defaults
	// (4 attempts, exponential backoff with jitter). NoRetry turns retrying off.
	Retry   *middleware.RetryOptions
	NoRetry bool
	// RateLimit sets a token bucket inside Retry, so every attempt spends a token.
	RateLimit RateLimitConfig

	// Staging safety, applied inside Retry: RedirectTo sends every message to one address
	// instead of its recipients; AllowList drops recipients outside the listed addresses and
	// domains. Both keep the original recipients in a header.
	RedirectTo string
	AllowList  []string
	// DKIM, when set, signs every message (innermost, so each attempt sends the same bytes).
	DKIM *middleware.DKIMOptions
}

// printedConfig is Config as it prints, logs and marshals: the URL redacted
// (mailer.RedactURL), since an smtp:// URL may carry a password.
type printedConfig Config

func (c Config) printed() printedConfig {
	c.URL = mailer.RedactURL(c.URL)
	return printedConfig(c)
}

// Format prints the config with the URL's password and query values redacted, for every
// verb (and slog's text handler); MarshalJSON encodes it so (and slog's JSON handler).
func (c Config) Format(f fmt.State, verb rune) { redact.Format(f, verb, "postie.Config", c.printed()) }

func (c Config) MarshalJSON() ([]byte, error) { return json.Marshal(c.printed()) }

// RateLimitConfig configures the transport-wide token bucket.
type RateLimitConfig struct {
	// PerSecond is the sustained send rate; 0 means no transport-wide limit.
	PerSecond float64
	// Burst is the bucket size; default 1.
	Burst int
	// Options adds per-domain buckets and fail-fast; nil means neither.
	Options *middleware.RateLimitOptions
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

// ProvideStack builds the middleware chain from cfg, outermost first: Tracing, Logging,
// Retry, RateLimit, then the staging rewrites and DKIM signing.
func ProvideStack(cfg Config) Stack {
	tracing := middleware.TracingOptions{}
	if cfg.Tracing != nil {
		tracing = *cfg.Tracing
	}
	if tracing.Transport == "" {
		tracing.Transport = schemeOf(cfg.URL)
	}
	s := Stack{middleware.Tracing(&tracing)}
	if cfg.Logging != nil {
		s = append(s, middleware.Logging(cfg.Logging))
	}
	if !cfg.NoRetry {
		s = append(s, middleware.Retry(cfg.Retry))
	}
	if rl := cfg.RateLimit; rl.PerSecond > 0 || rl.Options != nil {
		var w middleware.Waiter
		if rl.PerSecond > 0 {
			w = rate.NewLimiter(rate.Limit(rl.PerSecond), max(rl.Burst, 1))
		}
		s = append(s, middleware.RateLimit(w, rl.Options))
	}
	if cfg.RedirectTo != "" {
		s = append(s, middleware.Redirect(cfg.RedirectTo))
	}
	if len(cfg.AllowList) > 0 {
		s = append(s, middleware.AllowList(cfg.AllowList...))
	}
	if cfg.DKIM != nil {
		s = append(s, middleware.DKIM(cfg.DKIM))
	}
	return s
}

// schemeOf names the transport for telemetry: the URL scheme or composite name, a short
// fixed string (never the host, which may be high-cardinality).
func schemeOf(u string) string {
	if i := strings.IndexAny(u, ":("); i > 0 {
		return strings.ToLower(u[:i])
	}
	return "unknown"
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
