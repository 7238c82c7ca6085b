package smtp

import (
	"context"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/postiemail/postie/mailer"
	"github.com/postiemail/postie/transport"
)

func init() {
	o := mailer.URLOpenerFunc(openURL)
	mailer.DefaultURLMux().Register("smtp", o)
	mailer.DefaultURLMux().Register("smtps", o)
}

func openURL(_ context.Context, u *url.URL) (transport.Transport, error) {
	addr, opts, err := parseURL(u)
	if err != nil {
		return nil, err
	}
	return New(addr, opts)
}

// urlParams are the query parameters ParseURL knows, with what they set.
var urlParams = map[string]func(o *Options, v string) error{
	"tls": func(o *Options, v string) (err error) {
		o.TLS, err = ParseTLSPolicy(v)
		return err
	},
	"auth": func(o *Options, v string) error {
		switch strings.ToLower(v) {
		case "plain", "login", "cram-md5", "xoauth2":
			o.Mechanism = strings.ToUpper(v)
			return nil
		}
		return invalidf("unknown auth %q; use plain, login, cram-md5 or xoauth2", v)
	},
	"helo": func(o *Options, v string) error {
		if v == "" || strings.ContainsAny(v, " \t\r\n") {
			return invalidf("helo %q is empty or contains white space", v)
		}
		o.LocalName = v
		return nil
	},
	"timeout": func(o *Options, v string) error {
		d, err := parseDuration(v)
		o.Timeouts = o.Timeouts.All(d)
		return err
	},
	"dial_timeout": func(o *Options, v string) (err error) {
		o.Timeouts.Dial, err = parseDuration(v)
		return err
	},
	"max_conns": func(o *Options, v string) (err error) {
		o.MaxConns, err = parsePositive(v)
		return err
	},
	"max_messages": func(o *Options, v string) (err error) {
		o.MaxMessagesPerConn, err = parsePositive(v)
		return err
	},
	"idle_timeout": func(o *Options, v string) (err error) {
		o.IdleTimeout, err = parseDuration(v)
		return err
	},
	"health_check_after": func(o *Options, v string) (err error) {
		o.HealthCheckAfter, err = parseDuration(v)
		return err
	},
	"all_or_nothing": func(o *Options, v string) (err error) {
		o.AllOrNothing, err = parseBool(v)
		return err
	},
	"allow_8bit": func(o *Options, v string) (err error) {
		o.Allow8Bit, err = parseBool(v)
		return err
	},
	"insecure": func(o *Options, v string) (err error) {
		o.Insecure, err = parseBool(v)
		return err
	},
	"pipelining": func(o *Options, v string) error {
		on, err := parseBool(v)
		o.NoPipelining = !on
		return err
	},
	"chunking": func(o *Options, v string) error {
		on, err := parseBool(v)
		o.NoChunking = !on
		return err
	},
}

// ParseURL turns an smtp:// or smtps:// URL into an address and Options for New or Dial:
//
//	smtp://user:password@host:port?tls=required|opportunistic|none|implicit
//	    &auth=plain|login|cram-md5|xoauth2&helo=NAME&timeout=30s&dial_timeout=10s
//	    &max_conns=4&max_messages=100&idle_timeout=30s&health_check_after=5s
//	    &all_or_nothing=true&allow_8bit=true&insecure=true&pipelining=false&chunking=false
//
// smtp:// defaults to port 587 and STARTTLS (tls=required); port 465, or smtps://
// (default port 465), means implicit TLS. The user name and password are percent-decoded;
// with auth=xoauth2 the password is used as a fixed access token. An unknown parameter is
// an error that lists the known ones. No error or String ever shows the password.
func ParseURL(rawurl string) (addr string, opts *Options, err error) {
	u, err := url.Parse(strings.TrimSpace(rawurl))
	if err != nil {
		return "", nil, invalidf("smtp: malformed URL %q: %s", mailer.RedactURL(rawurl), redactURLError(rawurl, err))
	}
	return parseURL(u)
}

func parseURL(u *url.URL) (string, *Options, error) {
	shown := mailer.RedactURL(u.String()) // no password, no query value: a secret may be pasted into an unknown parameter
	scheme := strings.ToLower(u.Scheme)
	if scheme != "smtp" && scheme != "smtps" {
		return "", nil, invalidf("smtp: URL %q: scheme must be smtp or smtps", shown)
	}
	host, port := u.Hostname(), u.Port()
	if host == "" {
		return "", nil, invalidf("smtp: URL %q has no host; use smtp://host:587", shown)
	}
	if u.Path != "" && u.Path != "/" {
		return "", nil, invalidf("smtp: URL %q: unexpected path %q", shown, u.Path)
	}
	o := &Options{}
	if port == "" {
		port = "587"
		if scheme == "smtps" {
			port = "465"
		}
	}
	switch {
	case scheme == "smtps", port == "465":
		o.TLS = TLSImplicit
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return "", nil, invalidf("smtp: URL %q: malformed query: %v", shown, err)
	}
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	// timeout sets every phase; the specific ones given beside it win.
	slices.SortFunc(keys, func(a, b string) int {
		return cmpBool(strings.EqualFold(b, "timeout"), strings.EqualFold(a, "timeout"))
	})
	for _, k := range keys {
		vs := q[k]
		set, ok := urlParams[strings.ToLower(k)]
		if !ok {
			return "", nil, invalidf("smtp: URL %q: unknown parameter %q; known parameters: %s", shown, k, strings.Join(knownParams(), ", "))
		}
		if len(vs) != 1 {
			return "", nil, invalidf("smtp: URL %q: parameter %q given %d times", shown, k, len(vs))
		}
		if err := set(o, vs[0]); err != nil {
			return "", nil, invalidf("smtp: URL %q: parameter %s: %s", shown, k, strings.TrimPrefix(err.Error(), "InvalidArgument: "))
		}
	}
	if scheme == "smtps" && o.TLS != TLSImplicit {
		return "", nil, invalidf("smtp: URL %q: smtps:// always uses implicit TLS; use smtp:// for tls=%s", shown, o.TLS)
	}
	if u.User != nil {
		o.Username = u.User.Username()
		o.Password, _ = u.User.Password()
	}
	if o.Mechanism == "XOAUTH2" {
		if o.Password == "" {
			return "", nil, invalidf("smtp: URL %q: auth=xoauth2 needs the access token as the password", shown)
		}
		tok := o.Password
		o.TokenSource = TokenSourceFunc(func(context.Context) (string, error) { return tok, nil })
		o.Password = ""
	}
	return net.JoinHostPort(host, port), o, nil
}

func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

func knownParams() []string {
	names := make([]string, 0, len(urlParams))
	for k := range urlParams {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}

func parseDuration(v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, invalidf("%q is not a positive duration such as 30s", v)
	}
	return d, nil
}

func parsePositive(v string) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		return 0, invalidf("%q is not a positive integer", v)
	}
	return n, nil
}

func parseBool(v string) (bool, error) {
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, invalidf("%q is not true or false", v)
	}
	return b, nil
}

// redactURLError keeps the cause of a url.Parse error only when the URL has no user
// information: the cause may quote a piece of the password ("invalid port").
func redactURLError(raw string, err error) string {
	if ue, ok := err.(*url.Error); ok && !strings.Contains(raw, "@") {
		return ue.Err.Error()
	}
	return "percent-encode reserved characters in the user name and password"
}
