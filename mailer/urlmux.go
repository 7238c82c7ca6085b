package mailer

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"

	"github.com/postiemail/postie/transport"
)

// URLOpener opens a transport from a URL whose scheme it registered for.
type URLOpener interface {
	OpenTransportURL(ctx context.Context, u *url.URL) (transport.Transport, error)
}

// URLOpenerFunc adapts a function to a URLOpener.
type URLOpenerFunc func(ctx context.Context, u *url.URL) (transport.Transport, error)

// OpenTransportURL calls f(ctx, u).
func (f URLOpenerFunc) OpenTransportURL(ctx context.Context, u *url.URL) (transport.Transport, error) {
	return f(ctx, u)
}

// CompositeOpener builds a transport over several others, for URLs of the form
// "name(URL URL ...)" such as "failover(smtp://a smtp://b)". It owns the transports it is given.
type CompositeOpener func(ctx context.Context, members []transport.Transport) (transport.Transport, error)

// URLMux maps URL schemes to openers. Its zero value is ready to use.
type URLMux struct {
	mu         sync.RWMutex
	schemes    map[string]URLOpener
	composites map[string]CompositeOpener
}

var defaultMux URLMux

// DefaultURLMux returns the mux that drivers register their schemes with in init, and that
// OpenMailer and OpenTransport use. It is the one global in Postie.
func DefaultURLMux() *URLMux { return &defaultMux }

// OpenMailer opens a Client over the transport named by urlstr, such as "mem://",
// "file:///var/mail/out" or "smtp://user@mail.example:587". The transport's package must
// be imported so its scheme is registered.
func OpenMailer(ctx context.Context, urlstr string) (*Client, error) {
	return defaultMux.OpenMailer(ctx, urlstr)
}

// OpenTransport opens the transport named by urlstr on the default mux.
func OpenTransport(ctx context.Context, urlstr string) (transport.Transport, error) {
	return defaultMux.OpenTransport(ctx, urlstr)
}

// Register adds an opener for scheme. Registering a scheme twice is a programming error
// and panics, as in database/sql.
func (m *URLMux) Register(scheme string, o URLOpener) {
	m.mu.Lock()
	defer m.mu.Unlock()
	scheme = strings.ToLower(scheme)
	if _, dup := m.schemes[scheme]; dup {
		panic("mailer: scheme registered twice: " + scheme)
	}
	if m.schemes == nil {
		m.schemes = make(map[string]URLOpener)
	}
	m.schemes[scheme] = o
}

// RegisterComposite adds a composite form "name(URL URL ...)". Registering a name twice panics.
func (m *URLMux) RegisterComposite(name string, o CompositeOpener) {
	m.mu.Lock()
	defer m.mu.Unlock()
	name = strings.ToLower(name)
	if _, dup := m.composites[name]; dup {
		panic("mailer: composite registered twice: " + name)
	}
	if m.composites == nil {
		m.composites = make(map[string]CompositeOpener)
	}
	m.composites[name] = o
}

// Schemes returns the registered schemes and composite names, sorted.
func (m *URLMux) Schemes() []string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var s []string
	for k := range m.schemes {
		s = append(s, k)
	}
	for k := range m.composites {
		s = append(s, k+"(...)")
	}
	slices.Sort(s)
	return s
}

// OpenMailer opens a Client with default Options over the transport urlstr names.
func (m *URLMux) OpenMailer(ctx context.Context, urlstr string) (*Client, error) {
	t, err := m.OpenTransport(ctx, urlstr)
	if err != nil {
		return nil, err
	}
	return New(t, nil), nil
}

// OpenTransport opens the transport urlstr names.
func (m *URLMux) OpenTransport(ctx context.Context, urlstr string) (transport.Transport, error) {
	urlstr = strings.TrimSpace(urlstr)
	if name, args, ok := splitComposite(urlstr); ok {
		return m.openComposite(ctx, name, args)
	}
	u, err := url.Parse(urlstr)
	if err != nil {
		return nil, transport.Errorf(transport.InvalidArgument, false, "mailer: open %q: malformed URL: %s", RedactURL(urlstr), parseProblem(urlstr, err))
	}
	if u.Scheme == "" {
		return nil, transport.Errorf(transport.InvalidArgument, false, "mailer: open %q: no scheme; use a URL such as smtp://host:587 (known schemes: %s)", RedactURL(urlstr), strings.Join(m.Schemes(), ", "))
	}
	m.mu.RLock()
	o := m.schemes[strings.ToLower(u.Scheme)]
	m.mu.RUnlock()
	if o == nil {
		return nil, transport.Errorf(transport.InvalidArgument, false, "mailer: open %q: unknown scheme %q; known schemes: %s (is the driver package imported?)", RedactURL(urlstr), u.Scheme, strings.Join(m.Schemes(), ", "))
	}
	return o.OpenTransportURL(ctx, u)
}

func (m *URLMux) openComposite(ctx context.Context, name string, args []string) (transport.Transport, error) {
	m.mu.RLock()
	o := m.composites[name]
	m.mu.RUnlock()
	if o == nil {
		return nil, transport.Errorf(transport.InvalidArgument, false, "mailer: open: unknown composite %q; known: %s", name, strings.Join(m.Schemes(), ", "))
	}
	if len(args) == 0 {
		return nil, transport.Errorf(transport.InvalidArgument, false, "mailer: open %s(): no member URL; use %s(URL URL ...)", name, name)
	}
	members := make([]transport.Transport, 0, len(args))
	closeAll := func() {
		for _, t := range members {
			_ = t.Close()
		}
	}
	for _, a := range args {
		t, err := m.OpenTransport(ctx, a)
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("mailer: open %s member: %w", name, err)
		}
		members = append(members, t)
	}
	t, err := o(ctx, members)
	if err != nil {
		closeAll()
		return nil, err
	}
	return t, nil
}

// splitComposite splits "name(a b (c d))" into name and its top-level space-separated members.
func splitComposite(s string) (name string, args []string, ok bool) {
	open := strings.IndexByte(s, '(')
	if open <= 0 || !strings.HasSuffix(s, ")") || strings.Contains(s[:open], ":") {
		return "", nil, false
	}
	name = strings.ToLower(s[:open])
	inner := s[open+1 : len(s)-1]
	depth, start := 0, -1
	for i, r := range inner + " " {
		switch {
		case r == '(':
			depth++
		case r == ')':
			depth--
		case (r == ' ' || r == '\t' || r == '\n') && depth == 0:
			if start >= 0 {
				args = append(args, inner[start:i])
				start = -1
			}
			continue
		}
		if start < 0 {
			start = i
		}
	}
	return name, args, depth == 0
}
