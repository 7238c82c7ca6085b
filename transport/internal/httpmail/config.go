package httpmail

import (
	"net/url"
	"os"
	"slices"
	"strings"

	"github.com/postiemail/postie/internal/loopback"
	"github.com/postiemail/postie/mailer"
	"github.com/postiemail/postie/transport"
)

// Secret returns opt when set, else the first of envs set in the environment. field is
// the Options field that holds it ("APIKey"). The error says where a secret may come from,
// never a value.
func Secret(provider, field, opt string, envs ...string) (string, error) {
	if opt = strings.TrimSpace(opt); opt != "" {
		return opt, nil
	}
	for _, name := range envs {
		if v := strings.TrimSpace(os.Getenv(name)); v != "" {
			return v, nil
		}
	}
	return "", transport.Errorf(transport.FailedPrecondition, false,
		"%s: Options.%s is empty and %s is not set: set one of them", provider, field, strings.Join(envs, " or "))
}

// BaseURL parses a provider base URL (def when s is empty). It must be https, or http on
// a loopback host (an httptest fake), so an API key never crosses the network in clear
// text, and it must not carry credentials or a query.
func BaseURL(provider, s, def string) (*url.URL, error) {
	if s == "" {
		s = def
	}
	u, err := url.Parse(strings.TrimRight(s, "/"))
	if err != nil {
		// url.Error quotes the whole URL, credentials and all.
		return nil, transport.Errorf(transport.InvalidArgument, false, "%s: base URL %q does not parse: use e.g. %s", provider, mailer.RedactURL(s), def)
	}
	switch {
	case u.User != nil:
		return nil, transport.Errorf(transport.InvalidArgument, false, "%s: base URL %q carries credentials: pass them in Options instead", provider, shown(u))
	case u.Host == "":
		return nil, transport.Errorf(transport.InvalidArgument, false, "%s: base URL %q has no host: use e.g. %s", provider, shown(u), def)
	case u.RawQuery != "" || u.Fragment != "":
		return nil, transport.Errorf(transport.InvalidArgument, false, "%s: base URL %q has a query or fragment: remove it", provider, shown(u))
	case u.Scheme == "https":
	case u.Scheme == "http" && loopback.Host(u.Hostname()):
	default:
		return nil, transport.Errorf(transport.InvalidArgument, false, "%s: base URL %q: use https (plain http is allowed only for a loopback test server)", provider, shown(u))
	}
	return u, nil
}

// shown is u for an error message: without its user information (a provider URL takes
// none, so whatever is there, a user name included, may be a key) and with its query
// values hidden (mailer.RedactURL), as a key may be pasted into a parameter.
func shown(u *url.URL) string {
	c := *u
	c.User = nil
	return mailer.RedactURL(c.String())
}

// URLParams returns the query of a transport URL such as "sendgrid://?region=eu",
// refusing parameters not in allowed (a typo must not be ignored) and credentials in the
// URL (secrets come from Options or the environment, never from a URL that ends up in
// logs).
func URLParams(provider string, u *url.URL, allowed ...string) (url.Values, error) {
	if u.User != nil {
		return nil, transport.Errorf(transport.InvalidArgument, false, "%s: open %q: the URL carries credentials: set them in the environment or Options instead", provider, shown(u))
	}
	q := u.Query()
	for k := range q {
		if !slices.Contains(allowed, k) {
			return nil, transport.Errorf(transport.InvalidArgument, false, "%s: open %q: unknown parameter %q (known: %s)", provider, shown(u), k, strings.Join(allowed, ", "))
		}
	}
	return q, nil
}

// URLBool parses a boolean URL parameter; empty means false.
func URLBool(provider string, q url.Values, name string) (bool, error) {
	switch strings.ToLower(q.Get(name)) {
	case "", "0", "false", "no":
		return false, nil
	case "1", "true", "yes":
		return true, nil
	}
	return false, transport.Errorf(transport.InvalidArgument, false, "%s: parameter %s=%q: use true or false", provider, name, q.Get(name))
}
