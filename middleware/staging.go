package middleware

import (
	"context"
	"net/mail"
	"strings"

	"github.com/postiemail/postie/transport"
)

// HeaderOriginalRecipients is the header field in which Redirect and AllowList keep the
// message's original To and Cc addresses, so a staging inbox shows who would have got it.
// Bcc addresses are never written into it: Bcc stays private.
const HeaderOriginalRecipients = "X-Postie-Original-Recipients"

// Redirect returns middleware for staging systems that sends every message to the single
// address to ("qa@example.com" or "QA <qa@example.com>") instead of its recipients. The
// envelope and the To, Cc and Bcc fields are rewritten to match (To holds only to), and the
// original To and Cc addresses go into the X-Postie-Original-Recipients header.
//
// A malformed to makes every send fail with InvalidArgument rather than reach anyone.
func Redirect(to string) transport.Middleware {
	addr, perr := mail.ParseAddress(to)
	return func(next transport.Transport) transport.Transport {
		return transport.Wrap(next, func(ctx context.Context, m *transport.Message) (*transport.Receipt, error) {
			if perr != nil {
				return nil, transport.Errorf(transport.InvalidArgument, false,
					"middleware.Redirect: %q is not an address (%v); pass an address such as qa@example.com", to, perr)
			}
			c := m.Clone()
			c.To, c.Cc, c.Bcc = []mail.Address{*addr}, nil, nil
			c.Envelope.To = []string{addr.Address}
			addOriginalRecipients(c, m)
			return next.Send(ctx, c)
		})
	}
}

// AllowList returns middleware for staging systems that drops every recipient outside
// allowed, from the envelope and the To, Cc and Bcc fields alike. An entry is an address
// ("qa@example.com"), a domain ("example.com") or every subdomain of one
// ("*.example.com"); matching ignores case. When recipients were dropped the original To
// and Cc addresses go into the X-Postie-Original-Recipients header; dropped recipients are
// not reported as refused. A message with no allowed recipient is not sent: Send fails with
// PermissionDenied.
func AllowList(allowed ...string) transport.Middleware {
	al, cerr := newAllowList(allowed)
	return func(next transport.Transport) transport.Transport {
		return transport.Wrap(next, func(ctx context.Context, m *transport.Message) (*transport.Receipt, error) {
			if cerr != nil {
				return nil, cerr
			}
			if al.allowsAll(m) {
				return next.Send(ctx, m)
			}
			c := m.Clone()
			c.To, c.Cc, c.Bcc = al.filter(m.To), al.filter(m.Cc), al.filter(m.Bcc)
			c.Envelope.To = c.Envelope.To[:0]
			for _, to := range m.Envelope.To {
				if al.allows(to) {
					c.Envelope.To = append(c.Envelope.To, to)
				}
			}
			if len(c.Envelope.To) == 0 {
				// No address in the error: errors get logged.
				return nil, transport.Errorf(transport.PermissionDenied, false,
					"middleware.AllowList: none of the %d recipient(s) of <%s> is on the allow-list, so nothing was sent; add their address or domain to the list",
					len(m.Envelope.To), m.MessageID)
			}
			addOriginalRecipients(c, m)
			return next.Send(ctx, c)
		})
	}
}

type allowList struct {
	addrs, domains, suffixes map[string]bool
}

func newAllowList(entries []string) (*allowList, error) {
	al := &allowList{addrs: map[string]bool{}, domains: map[string]bool{}, suffixes: map[string]bool{}}
	if len(entries) == 0 {
		return nil, transport.Errorf(transport.InvalidArgument, false,
			"middleware.AllowList: the list is empty, so no message could be sent; pass addresses or domains such as \"example.com\"")
	}
	for _, e := range entries {
		e = strings.ToLower(strings.TrimSpace(e))
		switch {
		case e == "" || strings.ContainsAny(e, " \t\r\n<>,"):
			return nil, transport.Errorf(transport.InvalidArgument, false,
				"middleware.AllowList: entry %q is not an address or a domain; use \"qa@example.com\", \"example.com\" or \"*.example.com\"", e)
		case strings.HasPrefix(e, "*."):
			al.suffixes[e[1:]] = true // ".example.com"
		case strings.Contains(e, "@"):
			al.addrs[e] = true
		default:
			al.domains[e] = true
		}
	}
	return al, nil
}

func (al *allowList) allows(addr string) bool {
	a := strings.ToLower(addr)
	if al.addrs[a] {
		return true
	}
	d := a[strings.LastIndexByte(a, '@')+1:]
	if al.domains[d] {
		return true
	}
	for rest := d; ; {
		i := strings.IndexByte(rest, '.')
		if i < 0 {
			break
		}
		if al.suffixes[rest[i:]] {
			return true
		}
		rest = rest[i+1:]
	}
	return false
}

func (al *allowList) allowsAll(m *transport.Message) bool {
	for _, l := range [][]mail.Address{m.To, m.Cc, m.Bcc} {
		for _, a := range l {
			if !al.allows(a.Address) {
				return false
			}
		}
	}
	for _, to := range m.Envelope.To {
		if !al.allows(to) {
			return false
		}
	}
	return true
}

func (al *allowList) filter(l []mail.Address) []mail.Address {
	var out []mail.Address
	for _, a := range l {
		if al.allows(a.Address) {
			out = append(out, a)
		}
	}
	return out
}

// addOriginalRecipients records orig's To and Cc addresses in c, unless an earlier staging
// middleware already did.
func addOriginalRecipients(c, orig *transport.Message) {
	if _, ok := c.Header(HeaderOriginalRecipients); ok {
		return
	}
	var b strings.Builder
	for _, l := range [][]mail.Address{orig.To, orig.Cc} {
		for _, a := range l {
			if b.Len() > 0 {
				b.WriteString(", ")
			}
			b.WriteString(a.Address)
		}
	}
	if b.Len() == 0 {
		return
	}
	c.Headers = append(c.Headers, transport.Field{Name: HeaderOriginalRecipients, Value: b.String()})
}
