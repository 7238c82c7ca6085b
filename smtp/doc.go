// Package smtp is Postie's SMTP engine: a low-level Client for one session, and
// Transport, a transport.Transport over a bounded, health-checked pool of Clients.
//
// The engine is built for throughput and for telling the truth about what happened:
//
//   - One flight per message. With PIPELINING (RFC 2920) MAIL, every RCPT and DATA go out
//     in one write; with CHUNKING (RFC 3030) and SIZE a message up to 4 MiB goes out
//     whole, BDAT 0 LAST included, in that same flight. Bodies stream from the
//     renderer to the connection in writes of up to 1 MiB, with no chunk buffer; for
//     DATA the renderer dot-stuffs as it writes, so no byte is scanned twice.
//   - Safe by default. STARTTLS is required unless the TLS policy says otherwise,
//     certificates are verified, and PLAIN, LOGIN and XOAUTH2 never run over cleartext
//     except to loopback. EHLO falls back to HELO only on 500 or 502.
//   - Classified errors. Every failure is a *transport.Error (a portable Code, Temporary,
//     and the server's Reply with its enhanced status code); refused recipients are
//     reported one by one (transport.PartialError) while the others get the message; a
//     connection lost after the end of the body wraps transport.ErrMaybeDelivered.
//   - ctx everywhere. Dial, the TLS handshake, every command and the body stop when ctx
//     ends; each phase also has an RFC 5321 timeout (Timeouts).
//
// URLs smtp:// and smtps:// are registered with mailer.DefaultURLMux (see ParseURL), so
//
//	m, err := mailer.OpenMailer(ctx, "smtp://user:pass@mail.example.com:587")
//
// works once this package is imported. Probe reports what a server offers.
package smtp
