package middleware

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/postiemail/postie/internal/redact"
	"github.com/postiemail/postie/smtp/mime"
	"github.com/postiemail/postie/transport"
)

// DKIMOptions configures DKIM. Domain, Selector and Signer are required.
type DKIMOptions struct {
	// Domain is the signing domain (d=), under which the public key is published as a TXT
	// record at <Selector>._domainkey.<Domain>.
	Domain string
	// Selector names the key (s=).
	Selector string
	// Signer holds the private key: an *rsa.PrivateKey of at least 1024 bits (2048 is the
	// usual choice) for rsa-sha256, or an ed25519.PrivateKey for ed25519-sha256. It is used
	// only to sign; it never reaches an error or a log.
	Signer crypto.Signer
	// Identifier is the optional agent or user identifier (i=), such as "@mail.example.com".
	Identifier string
	// HeaderKeys lists the header fields to sign (h=); it must contain From. Listing a name
	// more times than the message has it "oversigns" it, so the field cannot be added
	// later. Default: From, Reply-To, Subject, Date, To, Cc, Message-ID, In-Reply-To,
	// References, MIME-Version, Content-Type, Content-Transfer-Encoding, List-Unsubscribe,
	// List-Unsubscribe-Post.
	HeaderKeys []string
	// Expiration, when positive, sets the signature's expiry (x=) that long after signing.
	Expiration time.Duration
	// MIME are the options the transport below renders the message with; the signature
	// holds only when both renders are identical. Default nil, like the SMTP engine's
	// default.
	MIME *mime.Options
}

// printedDKIMOptions is DKIMOptions as it prints, logs and marshals: the Signer by its type only. An ed25519.PrivateKey is a byte slice and an
// *rsa.PrivateKey a struct of big integers, so printing or encoding the options as they
// are would show the private key.
type printedDKIMOptions struct {
	Domain, Selector string
	Signer           string
	Identifier       string
	HeaderKeys       []string
	Expiration       time.Duration
	MIME             *mime.Options
}

func (o DKIMOptions) printed() printedDKIMOptions {
	p := printedDKIMOptions{Domain: o.Domain, Selector: o.Selector, Identifier: o.Identifier,
		HeaderKeys: o.HeaderKeys, Expiration: o.Expiration, MIME: o.MIME}
	if o.Signer != nil {
		p.Signer = fmt.Sprintf("%s %T", redact.Redacted, o.Signer)
	}
	return p
}

// Format prints the options with the private key redacted, for every verb (and slog's
// text handler); MarshalJSON encodes them so (and slog's JSON handler).
func (o DKIMOptions) Format(f fmt.State, verb rune) {
	redact.Format(f, verb, "middleware.DKIMOptions", o.printed())
}

func (o DKIMOptions) MarshalJSON() ([]byte, error) { return json.Marshal(o.printed()) }

var defaultDKIMHeaders = []string{"From", "Reply-To", "Subject", "Date", "To", "Cc", "Message-ID",
	"In-Reply-To", "References", "MIME-Version", "Content-Type", "Content-Transfer-Encoding",
	"List-Unsubscribe", "List-Unsubscribe-Post"}

// DKIM returns middleware that adds a DKIM-Signature (RFC 6376, relaxed/relaxed
// canonicalization) to every message.
//
// It never holds the message in memory: it renders the message once with smtp/mime.Write
// straight into the signer, which hashes it as it streams by, then passes on a Clone
// carrying the DKIM-Signature field. The transport renders the same bytes again (mime
// output is deterministic and puts DKIM-Signature first), so the signature verifies.
// Place it inside Retry: every attempt then sends the same signed message, and a
// message is signed once per attempt.
//
// Bad options make every send fail with FailedPrecondition, saying what to fix.
func DKIM(opts *DKIMOptions) transport.Middleware {
	so, cfgErr := dkimSignOptions(opts)
	var expiry time.Duration
	var mimeOpts *mime.Options
	if opts != nil {
		expiry, mimeOpts = opts.Expiration, opts.MIME
	}
	return func(next transport.Transport) transport.Transport {
		return transport.Wrap(next, func(ctx context.Context, m *transport.Message) (*transport.Receipt, error) {
			if cfgErr != nil {
				return nil, cfgErr
			}
			o := *so
			if expiry > 0 {
				o.Expiration = time.Now().Add(expiry)
			}
			sig, err := dkimSign(ctx, m, &o, mimeOpts)
			if err != nil {
				return nil, err
			}
			c := m.Clone()
			c.Headers = append(append(make([]transport.Field, 0, len(m.Headers)+1),
				transport.Field{Name: "DKIM-Signature", Value: sig}), m.Headers...)
			return next.Send(ctx, c)
		})
	}
}

func dkimSignOptions(opts *DKIMOptions) (*dkim.SignOptions, error) {
	bad := func(format string, args ...any) error {
		return transport.Errorf(transport.FailedPrecondition, false, "middleware.DKIM: "+format, args...)
	}
	if opts == nil {
		return nil, bad("no options: set Domain, Selector and Signer")
	}
	if opts.Domain == "" || opts.Selector == "" {
		return nil, bad("Domain and Selector are required: the key is published at <Selector>._domainkey.<Domain>")
	}
	// The values go into the DKIM-Signature field as d=, s=, i= and h= tags: a ";" would
	// add a tag of its own (an l= body length, say) and a ":" a signed header name.
	if !dkimToken(opts.Domain, "") || !dkimToken(opts.Selector, "") {
		return nil, bad("Domain %q or Selector %q is not a domain name: use letters, digits, '-', '_' and '.'", opts.Domain, opts.Selector)
	}
	if opts.Identifier != "" && !dkimToken(opts.Identifier, "@+!#$%&'*/=?^`{|}~") {
		return nil, bad("Identifier %q is not an identity such as \"@mail.example.com\"", opts.Identifier)
	}
	if opts.Signer == nil {
		return nil, bad("Signer is required: an *rsa.PrivateKey or an ed25519.PrivateKey")
	}
	switch pub := opts.Signer.Public().(type) {
	case *rsa.PublicKey:
		if pub.N.BitLen() < 1024 {
			return nil, bad("the RSA key has %d bits; verifiers reject keys under 1024 bits (RFC 8301), use 2048", pub.N.BitLen())
		}
	case ed25519.PublicKey:
	default:
		return nil, bad("unsupported key type %T: use an *rsa.PrivateKey or an ed25519.PrivateKey", pub)
	}
	keys := opts.HeaderKeys
	if keys == nil {
		keys = defaultDKIMHeaders
	}
	for _, k := range keys {
		if !dkimToken(k, "") {
			return nil, bad("HeaderKeys holds %q, which is not a header name such as List-Unsubscribe", k)
		}
	}
	if !slices.ContainsFunc(keys, func(k string) bool { return strings.EqualFold(k, "From") }) {
		return nil, bad("HeaderKeys must contain From (RFC 6376 section 5.4)")
	}
	return &dkim.SignOptions{
		Domain:                 opts.Domain,
		Selector:               opts.Selector,
		Identifier:             opts.Identifier,
		Signer:                 opts.Signer,
		Hash:                   crypto.SHA256,
		HeaderCanonicalization: dkim.CanonicalizationRelaxed,
		BodyCanonicalization:   dkim.CanonicalizationRelaxed,
		HeaderKeys:             slices.Clone(keys),
	}, nil
}

// dkimToken reports whether s is non-empty and holds only letters, digits, "-", "_", "."
// and the characters of extra: what a domain, a selector or a header name needs, and
// nothing that could end a tag (";"), separate header names (":") or a line.
func dkimToken(s, extra string) bool {
	return s != "" && !strings.ContainsFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' || strings.ContainsRune(extra, r))
	})
}

// dkimSign renders m into a DKIM signer and returns the DKIM-Signature field's value,
// unfolded (smtp/mime folds it again).
func dkimSign(ctx context.Context, m *transport.Message, so *dkim.SignOptions, mo *mime.Options) (string, error) {
	s, err := dkim.NewSigner(so)
	if err != nil {
		return "", transport.Errorf(transport.FailedPrecondition, false, "middleware.DKIM: %v", err)
	}
	werr := mime.WriteContext(ctx, s, m, mo)
	cerr := s.Close() // always: it ends the signer's goroutine
	switch {
	case ctx.Err() != nil:
		return "", transport.FromContext(ctx, werr)
	case werr != nil:
		return "", fmt.Errorf("middleware.DKIM: render <%s>: %w", m.MessageID, werr)
	case cerr != nil:
		return "", transport.Errorf(transport.Internal, false, "middleware.DKIM: sign <%s>: %v", m.MessageID, cerr)
	}
	field := s.Signature() // "DKIM-Signature: v=1; ...\r\n b=...\r\n"
	_, value, _ := strings.Cut(field, ":")
	return strings.Join(strings.Fields(value), " "), nil
}
