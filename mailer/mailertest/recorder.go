// Package mailertest helps applications test the mail they send: a Recorder that
// implements mailer.Mailer and keeps what it was given, assertions in the manner of
// Laravel's Mail::fake and Symfony's mailer assertions, and a golden-file helper for the
// rendered MIME.
//
//	rec := mailertest.NewRecorder(nil)
//	app := NewApp(rec) // the application depends on mailer.Mailer
//	app.SignUp(ctx, "ann@example.org")
//	rec.AssertSentCount(t, 1)
//	rec.AssertSentTo(t, "ann@example.org").AssertSubject(t, "Welcome").AssertTextContains(t, "confirm")
//
// The Recorder validates, stamps and normalizes like the real Client (it is a
// mailer.Client over memmail), so a message the real Client would refuse fails here too.
package mailertest

import (
	"context"
	"fmt"
	"net/mail"
	"strings"
	"time"

	"github.com/postiemail/postie/mailer"
	"github.com/postiemail/postie/transport"
	"github.com/postiemail/postie/transport/memmail"
)

// Options configures a Recorder. The zero value and nil mean defaults.
type Options struct {
	// Max bounds how many messages are kept (oldest dropped); 0 means memmail.DefaultMax.
	Max int
	// Now and NewMessageID are passed to the mailer.Client, for deterministic output.
	Now          func() time.Time
	NewMessageID func(domain string) string
}

// Recorder is a mailer.Mailer that keeps every message it accepts. It is safe for
// concurrent use.
type Recorder struct {
	mem    *memmail.Transport
	client *mailer.Client
}

var _ mailer.Mailer = (*Recorder)(nil)

// NewRecorder returns an empty Recorder. A nil opts means defaults.
func NewRecorder(opts *Options) *Recorder {
	if opts == nil {
		opts = &Options{}
	}
	mem := memmail.New(&memmail.Options{Max: opts.Max})
	return &Recorder{mem: mem, client: mailer.New(mem, &mailer.Options{Now: opts.Now, NewMessageID: opts.NewMessageID})}
}

// Send validates m like mailer.Client and records it. Faults injected with Transport
// (FailNext, RejectRecipient) make it fail as a real backend would.
func (r *Recorder) Send(ctx context.Context, m *mailer.Message) (*mailer.Receipt, error) {
	return r.client.Send(ctx, m)
}

// Transport returns the memmail transport underneath, to inject faults and test the
// application's error handling.
func (r *Recorder) Transport() *memmail.Transport { return r.mem }

// Reset forgets everything sent and clears injected faults.
func (r *Recorder) Reset() { r.mem.Reset() }

// Sent returns the recorded messages, oldest first.
func (r *Recorder) Sent() []*Sent {
	ms := r.mem.Messages()
	out := make([]*Sent, len(ms))
	for i, m := range ms {
		out[i] = &Sent{Message: m}
	}
	return out
}

// Find returns the recorded messages for which match reports true.
func (r *Recorder) Find(match func(*Sent) bool) []*Sent {
	var out []*Sent
	for _, s := range r.Sent() {
		if match(s) {
			out = append(out, s)
		}
	}
	return out
}

// SentTo returns the messages that went to addr as To, Cc or Bcc (the domain compared
// case-insensitively).
func (r *Recorder) SentTo(addr string) []*Sent {
	return r.Find(func(s *Sent) bool { return s.HasRecipient(addr) })
}

// WithSubject returns the messages whose subject is exactly subject.
func (r *Recorder) WithSubject(subject string) []*Sent {
	return r.Find(func(s *Sent) bool { return s.Subject == subject })
}

// Sent is one recorded message: the normalized message the transport received, with
// attachment contents in Data and Envelope.To holding the accepted recipients.
type Sent struct {
	*transport.Message
}

// HasRecipient reports whether addr received the message (To, Cc or Bcc).
func (s *Sent) HasRecipient(addr string) bool {
	for _, l := range [][]mail.Address{s.To, s.Cc, s.Bcc} {
		for _, a := range l {
			if transport.AddrKey(a.Address) == transport.AddrKey(addr) {
				return true
			}
		}
	}
	return false
}

// Attachment returns the attachment or inline part named filename.
func (s *Sent) Attachment(filename string) (transport.Attachment, bool) {
	for _, a := range s.Attachments {
		if a.Filename == filename {
			return a, true
		}
	}
	return transport.Attachment{}, false
}

// HeaderValues returns the values a reader would see in the header name: Subject,
// From, To, Cc, Reply-To (addresses as "Name <addr>" joined by ", "), Message-Id (in angle
// brackets), Date (RFC 1123Z), or the message's extra headers. Bcc is never a header.
func (s *Sent) HeaderValues(name string) []string {
	switch strings.ToLower(name) {
	case "subject":
		return []string{s.Subject}
	case "from":
		return []string{formatAddr(s.From)}
	case "to":
		return nonEmpty(formatList(s.To))
	case "cc":
		return nonEmpty(formatList(s.Cc))
	case "reply-to":
		return nonEmpty(formatList(s.ReplyTo))
	case "message-id":
		return []string{"<" + s.MessageID + ">"}
	case "date":
		return []string{s.Date.Format(time.RFC1123Z)}
	case "bcc":
		return nil
	}
	var vs []string
	for _, f := range s.Headers {
		if strings.EqualFold(f.Name, name) {
			vs = append(vs, f.Value)
		}
	}
	return vs
}

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

func formatAddr(a mail.Address) string {
	if a.Name == "" {
		return a.Address
	}
	return a.Name + " <" + a.Address + ">"
}

func formatList(l []mail.Address) string {
	s := make([]string, len(l))
	for i, a := range l {
		s[i] = formatAddr(a)
	}
	return strings.Join(s, ", ")
}

// summary describes what was sent, for failure messages.
func summary(sent []*Sent) string {
	if len(sent) == 0 {
		return "nothing was sent"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d message(s) were sent:", len(sent))
	for i, s := range sent {
		fmt.Fprintf(&b, "\n\t#%d %s", i+1, s.describe())
	}
	return b.String()
}

func (s *Sent) describe() string {
	var rcpt []string
	for _, l := range []struct {
		kind  string
		addrs []mail.Address
	}{{"to", s.To}, {"cc", s.Cc}, {"bcc", s.Bcc}} {
		for _, a := range l.addrs {
			rcpt = append(rcpt, l.kind+" "+a.Address)
		}
	}
	return fmt.Sprintf("%q from %s, %s", s.Subject, s.From.Address, strings.Join(rcpt, ", "))
}
