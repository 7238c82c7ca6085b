// Package middleware holds Postie's send-path middleware: each constructor returns a
// transport.Middleware that wraps any transport (the SMTP engine, an HTTP provider, memmail).
//
//   - Tracing: one OpenTelemetry client span per logical send, child spans for the engine's
//     phases, and send metrics.
//   - Retry: exponential backoff with jitter (github.com/sethvargo/go-retry) for temporary
//     errors, retrying only the recipients that were refused temporarily.
//   - RateLimit: token buckets (golang.org/x/time/rate) per transport and per recipient domain.
//   - Logging: one log/slog record per send.
//   - Redirect and AllowList: staging safety, so a test system cannot mail real customers.
//   - DKIM: DKIM-Signature (rsa-sha256, ed25519-sha256) without holding the message in memory.
//
// The usual stack is transport.Chain(Tracing(nil), Retry(nil), RateLimit(l, nil))(t): the
// span covers one logical send, Retry adds an event to it per attempt, and every attempt
// spends a rate-limit token. Logging goes between Tracing and Retry, so it logs the logical
// send; staging and DKIM middleware go inside Retry, so each attempt sends the same
// rewritten, signed message. postie.New builds exactly this order from a postie.Config.
//
// The middleware never puts an address, a subject or a body into a span, a metric or (unless
// asked) a log record.
package middleware
