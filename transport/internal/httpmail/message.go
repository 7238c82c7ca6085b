package httpmail

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/mail"
	"slices"
	"strings"

	"github.com/postiemail/postie/transport"
)

// FeatureError is the cause of the InvalidArgument error an adapter returns for a message
// feature its provider cannot carry: the message is refused rather than sent without it.
type FeatureError struct {
	Provider string // "postmarkmail"
	Feature  string // what the message asked for, e.g. "more than one tag"
	Fix      string // how to send it anyway
}

func (e *FeatureError) Error() string {
	return e.Provider + ": " + e.Feature + " is not supported: " + e.Fix
}

// Unsupported returns the InvalidArgument error for a feature the provider cannot carry.
func Unsupported(provider, feature, fix string) error {
	return &transport.Error{Code: transport.InvalidArgument, Err: &FeatureError{Provider: provider, Feature: feature, Fix: fix}}
}

// LimitError is the cause of the error an adapter returns when a message exceeds one of its
// provider's documented limits, checked before anything is sent.
type LimitError struct {
	Provider string
	What     string // "message size", "recipients", "tags"
	Got      int64
	Limit    int64
	Fix      string
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("%s: %s %d exceeds the provider's limit of %d: %s", e.Provider, e.What, e.Got, e.Limit, e.Fix)
}

// TooMany returns the InvalidArgument error for a count over the provider's limit.
func TooMany(provider, what string, got, limit int, fix string) error {
	return &transport.Error{Code: transport.InvalidArgument, Err: &LimitError{Provider: provider, What: what, Got: int64(got), Limit: int64(limit), Fix: fix}}
}

// TooLarge returns the ResourceExhausted (permanent) error for a message over the
// provider's size limit, the same class as an HTTP 413 or an SMTP 552.
func TooLarge(provider string, got, limit int64) error {
	return &transport.Error{Code: transport.ResourceExhausted, Err: &LimitError{Provider: provider, What: "message size in bytes", Got: got, Limit: limit,
		Fix: "send large files as links, or split the attachments over several messages"}}
}

// Recipients are the envelope recipients placed in the header field they appear in.
type Recipients struct {
	To, Cc, Bcc []mail.Address
}

// Len is the number of recipients.
func (r *Recipients) Len() int { return len(r.To) + len(r.Cc) + len(r.Bcc) }

// Addrs returns the recipients' addresses, To then Cc then Bcc: a Receipt's Accepted.
func (r *Recipients) Addrs() []string {
	out := make([]string, 0, r.Len())
	for _, l := range [][]mail.Address{r.To, r.Cc, r.Bcc} {
		for _, a := range l {
			out = append(out, a.Address)
		}
	}
	return out
}

// SplitRecipients returns who an HTTP provider must send m to. The envelope decides (retry
// middleware narrows Envelope.To to the recipients still owed the message): each envelope
// recipient goes in the first of To, Cc, Bcc that names it, keeping its display name, and a
// recipient named in no header goes in Bcc, which is what it is. Header addresses missing
// from the envelope are not sent to.
func SplitRecipients(provider string, m *transport.Message) (Recipients, error) {
	var r Recipients
	if len(m.Envelope.To) == 0 {
		return r, transport.Errorf(transport.InvalidArgument, false, "%s: Envelope.To is empty: set Envelope.To, or send through mailer.Client, which fills it from To, Cc and Bcc", provider)
	}
	where := make(map[string]int, len(m.To)+len(m.Cc)+len(m.Bcc))
	names := make(map[string]string, len(where))
	for i, list := range [][]mail.Address{m.To, m.Cc, m.Bcc} {
		for _, a := range list {
			k := transport.AddrKey(a.Address)
			if _, seen := where[k]; !seen {
				where[k], names[k] = i, a.Name
			}
		}
	}
	seen := make(map[string]bool, len(m.Envelope.To))
	for _, addr := range m.Envelope.To {
		k := transport.AddrKey(addr)
		if seen[k] {
			continue
		}
		seen[k] = true
		a := mail.Address{Name: names[k], Address: addr}
		i, named := where[k]
		switch {
		case named && i == 0:
			r.To = append(r.To, a)
		case named && i == 1:
			r.Cc = append(r.Cc, a)
		default:
			r.Bcc = append(r.Bcc, a)
		}
	}
	return r, nil
}

// CheckEnvelope refuses the SMTP envelope features HTTP send APIs have no field for: a
// bounce address other than From, delivery status notifications and REQUIRETLS (unless
// requireTLS says the provider can honour it).
func CheckEnvelope(provider string, m *transport.Message, requireTLS bool) error {
	switch {
	case m.Envelope.From != m.From.Address:
		return Unsupported(provider, fmt.Sprintf("an envelope sender %q different from From", m.Envelope.From),
			"the provider sets the bounce address itself; leave EnvelopeFrom empty")
	case m.Envelope.DSN != nil:
		return Unsupported(provider, "a DSN request", "the provider reports bounces through its webhooks; leave DSN nil")
	case m.Envelope.RequireTLS && !requireTLS:
		return Unsupported(provider, "RequireTLS", "enforce TLS in the provider's account settings and leave RequireTLS false")
	}
	return nil
}

// Address formats a for a provider field that takes "Name <addr>": a bare address when
// there is no name, otherwise an RFC 5322 address with the name quoted or RFC 2047
// encoded as needed.
func Address(a mail.Address) string {
	if a.Name == "" {
		return a.Address
	}
	return a.String()
}

// Addresses formats each of list with Address.
func Addresses(list []mail.Address) []string {
	if len(list) == 0 {
		return nil
	}
	out := make([]string, len(list))
	for i, a := range list {
		out[i] = Address(a)
	}
	return out
}

// Part is one attachment read whole, for a provider that takes attachments inside its
// request body.
type Part struct {
	*transport.Attachment
	// Name is what the provider files the part under: its Filename, or for an inline part
	// without one its ContentID.
	Name string
	// Data is the content, read within the size budget.
	Data []byte
	// ContentType is the media type, application/octet-stream when unset.
	ContentType string
}

// ReadAttachments reads m's attachments within budget bytes in total (what is left of the
// provider's size limit), so a huge file is refused after reading at most budget+1 bytes.
// It refuses a part without a name (the JSON send APIs require one); check, when set, may
// refuse a part for a provider rule before it is read. Attachments are read again on
// every send: they are not one-shot.
func ReadAttachments(provider string, m *transport.Message, budget int64, check func(i int, p *Part) error) ([]Part, error) {
	if len(m.Attachments) == 0 {
		return nil, nil
	}
	parts := make([]Part, len(m.Attachments))
	for i := range m.Attachments {
		p := &parts[i]
		p.Attachment = &m.Attachments[i]
		p.Name, p.ContentType = p.Filename, ContentType(p.Attachment)
		if p.Name == "" && p.Inline {
			p.Name = p.ContentID
		}
		if p.Name == "" {
			return nil, Unsupported(provider, fmt.Sprintf("attachment %d without a file name", i), "the provider requires one: set Filename")
		}
		if check != nil {
			if err := check(i, p); err != nil {
				return nil, err
			}
		}
		data, err := readAttachment(provider, i, p.Attachment, budget)
		if err != nil {
			return nil, err
		}
		p.Data = data
		budget -= int64(len(data))
	}
	return parts, nil
}

// readAttachment reads attachment i, refusing to read more than budget bytes.
func readAttachment(provider string, i int, a *transport.Attachment, budget int64) ([]byte, error) {
	if n, ok := a.Len(); ok && n > budget {
		return nil, TooLarge(provider, n, budget)
	}
	if a.Data != nil {
		return a.Data, nil
	}
	rc, err := a.Reader()
	if err != nil {
		return nil, transport.Errorf(transport.InvalidArgument, false, "%s: attachment %d (%q): open: %w", provider, i, a.Filename, err)
	}
	defer rc.Close()
	var b bytes.Buffer
	if n, ok := a.Len(); ok {
		b.Grow(int(n))
	}
	n, err := b.ReadFrom(io.LimitReader(rc, budget+1))
	if err != nil {
		return nil, transport.Errorf(transport.InvalidArgument, false, "%s: attachment %d (%q): read: %w", provider, i, a.Filename, err)
	}
	if n > budget {
		return nil, TooLarge(provider, n, budget)
	}
	return b.Bytes(), nil
}

// Base64Len is the length of n bytes in standard base64.
func Base64Len(n int) int64 { return int64((n + 2) / 3 * 4) }

// JSON marshals a provider request without escaping <, > and & (HTML bodies stay readable
// and smaller), and refuses it with ResourceExhausted when it is over limit bytes: the
// providers limit the request as a whole, so the check belongs with the encoding.
func JSON(provider string, v any, limit int) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, &transport.Error{Code: transport.Internal, Err: err}
	}
	if b.Len() > limit {
		return nil, TooLarge(provider, int64(b.Len()), int64(limit))
	}
	return b.Bytes(), nil
}

// ContentType returns a's media type, application/octet-stream when unset.
func ContentType(a *transport.Attachment) string {
	if a.ContentType == "" {
		return "application/octet-stream"
	}
	return a.ContentType
}

// Tag is one entry of a name/value tag list: a message tag (Meta false, Value empty) or a
// metadata entry.
type Tag struct {
	Name, Value string
	Meta        bool
}

// Tags returns m's tags in order, then its metadata sorted by key (the same message always
// makes the same request body), for providers that carry both as name/value tags (SES
// message tags, Resend tags). It refuses what those APIs refuse: a name, or a value unless
// emptyValues, that is empty, longer than max or holds characters other than ASCII letters,
// digits, "_" and "-"; a tag given twice; a metadata key that is also a tag. what names the
// provider's tags in the fix, e.g. "SES message tags".
func Tags(provider, what string, m *transport.Message, max int, emptyValues bool) ([]Tag, error) {
	if len(m.Tags)+len(m.Metadata) == 0 {
		return nil, nil
	}
	check := func(field, s string) error {
		if s == "" || len(s) > max || strings.ContainsFunc(s, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-')
		}) {
			return Unsupported(provider, fmt.Sprintf("the %s %q", field, s), fmt.Sprintf("%s take 1 to %d ASCII letters, digits, _ and -: rename it", what, max))
		}
		return nil
	}
	out := make([]Tag, 0, len(m.Tags)+len(m.Metadata))
	seen := make(map[string]bool, cap(out))
	for _, t := range m.Tags {
		if err := check("tag", t); err != nil {
			return nil, err
		}
		if seen[t] {
			return nil, Unsupported(provider, fmt.Sprintf("the tag %q given twice", t), "give each tag once")
		}
		seen[t] = true
		out = append(out, Tag{Name: t})
	}
	for _, k := range slices.Sorted(maps.Keys(m.Metadata)) {
		v := m.Metadata[k]
		if err := check("metadata key", k); err != nil {
			return nil, err
		}
		if v != "" || !emptyValues {
			if err := check("value of metadata "+k, v); err != nil {
				return nil, err
			}
		}
		if seen[k] {
			return nil, Unsupported(provider, fmt.Sprintf("the metadata key %q, also a tag", k), fmt.Sprintf("%s keep both as tags: rename one", what))
		}
		seen[k] = true
		out = append(out, Tag{Name: k, Value: v, Meta: true})
	}
	return out, nil
}

// MergeHeaders returns m's extra header fields as a name → value map for providers that
// take an object, refusing a name given twice (an object cannot hold both values).
func MergeHeaders(provider string, m *transport.Message) (map[string]string, error) {
	if len(m.Headers) == 0 {
		return nil, nil
	}
	h := make(map[string]string, len(m.Headers))
	seen := make(map[string]bool, len(m.Headers))
	for _, f := range m.Headers {
		k := strings.ToLower(f.Name)
		if seen[k] {
			return nil, Unsupported(provider, fmt.Sprintf("header %q given more than once", f.Name), "join the values into one field")
		}
		seen[k] = true
		h[f.Name] = f.Value
	}
	return h, nil
}
