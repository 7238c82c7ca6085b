package middleware

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/postiemail/postie/transport"
)

// LoggingOptions configures Logging. The zero value (or nil) means the defaults below.
type LoggingOptions struct {
	// Logger receives the records. Default: slog.Default(), looked up on every send.
	Logger *slog.Logger
	// Level is the level of a successful send; default slog.LevelInfo. A partial send logs
	// at slog.LevelWarn and a failed one at slog.LevelError (never below Level).
	Level slog.Level
	// Addresses adds the envelope sender and recipients ("from", "to") and logs error text
	// as it is. Off by default: addresses are personal data, so error text is logged with
	// every word containing "@" replaced by "[redacted]".
	Addresses bool
}

// Logging returns middleware that writes one structured record per send with its outcome
// ("sent", "partial" or "failed"), message_id, the backend's id, code, temporary,
// reply_code, duration, attempts (when Retry is underneath), rate_limit_wait (when
// RateLimit is underneath), and the counts of recipients, accepted and rejected.
// Credentials never reach it: transports keep them out of errors.
//
// Place it outside Retry to log one record per logical send, or inside to log each attempt.
func Logging(opts *LoggingOptions) transport.Middleware {
	var o LoggingOptions
	if opts != nil {
		o = *opts
	}
	return func(next transport.Transport) transport.Transport {
		return transport.Wrap(next, func(ctx context.Context, m *transport.Message) (*transport.Receipt, error) {
			logger := o.Logger
			if logger == nil {
				logger = slog.Default()
			}
			ctx, si := withSendInfo(ctx)
			start := time.Now()
			r, err := next.Send(ctx, m)
			logSend(ctx, logger, &o, m, r, err, si, time.Since(start))
			return r, err
		})
	}
}

func logSend(ctx context.Context, logger *slog.Logger, o *LoggingOptions, m *transport.Message, r *transport.Receipt, err error, si *sendInfo, d time.Duration) {
	level, outcome, msg := o.Level, "sent", "mail sent"
	switch {
	case err != nil && r != nil && len(r.Accepted) > 0:
		level, outcome, msg = max(o.Level, slog.LevelWarn), "partial", "mail partially sent"
	case err != nil:
		level, outcome, msg = max(o.Level, slog.LevelError), "failed", "mail not sent"
	}
	if !logger.Enabled(ctx, level) {
		return
	}
	attrs := make([]slog.Attr, 0, 16)
	attrs = append(attrs,
		slog.String("outcome", outcome),
		slog.String("message_id", m.MessageID),
		slog.Duration("duration", d),
		slog.Int("recipients", len(m.Envelope.To)),
	)
	if r != nil {
		if r.ID != "" {
			attrs = append(attrs, slog.String("id", r.ID))
		}
		attrs = append(attrs, slog.Int("accepted", len(r.Accepted)))
		if len(r.Rejected) > 0 {
			attrs = append(attrs, slog.Int("rejected", len(r.Rejected)))
		}
	}
	if n := si.attempts.Load(); n > 0 {
		attrs = append(attrs, slog.Int64("attempts", n))
	}
	if si.limited.Load() {
		attrs = append(attrs, slog.Duration("rate_limit_wait", time.Duration(si.waited.Load())))
	}
	if rc := replyCode(r, err); rc != 0 {
		attrs = append(attrs, slog.Int("reply_code", rc))
	}
	if err != nil {
		text := err.Error()
		if !o.Addresses {
			text = redactAddresses(text)
		}
		attrs = append(attrs,
			slog.String("code", transport.CodeOf(err).String()),
			slog.Bool("temporary", transport.IsTemporary(err)),
			slog.String("error", text),
		)
	}
	if o.Addresses {
		attrs = append(attrs, slog.String("from", m.Envelope.From), slog.Any("to", m.Envelope.To))
	}
	logger.LogAttrs(ctx, level, msg, attrs...)
}

// redactAddresses replaces every word of s that contains "@" (an address, a Message-ID)
// with "[redacted]". Words end at spaces and at the punctuation that surrounds addresses
// in SMTP replies and error text.
func redactAddresses(s string) string {
	if !strings.Contains(s, "@") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for len(s) > 0 {
		i := strings.IndexFunc(s, isWordBreak)
		word, rest := s, ""
		if i >= 0 {
			word, rest = s[:i], s[i:]
		}
		if strings.Contains(word, "@") {
			b.WriteString("[redacted]")
		} else {
			b.WriteString(word)
		}
		// Copy the separators up to the next word.
		j := strings.IndexFunc(rest, func(r rune) bool { return !isWordBreak(r) })
		if j < 0 {
			j = len(rest)
		}
		b.WriteString(rest[:j])
		s = rest[j:]
	}
	return b.String()
}

func isWordBreak(r rune) bool {
	switch r {
	case ' ', '\t', '\n', '\r', '<', '>', ',', ';', '"', '\'', '(', ')', '[', ']':
		return true
	}
	return false
}
