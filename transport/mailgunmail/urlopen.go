package mailgunmail

import (
	"context"
	"net/url"

	"github.com/postiemail/postie/mailer"
	"github.com/postiemail/postie/transport"
	"github.com/postiemail/postie/transport/internal/httpmail"
)

func init() {
	mailer.DefaultURLMux().Register(Scheme, &URLOpener{})
}

// URLOpener opens transports from URLs of the form
//
//	mailgun://[domain][?region=eu][&testmode=true][&base_url=https://...]
//
// The host is the sending domain (default $MAILGUN_DOMAIN); region=eu selects EUBaseURL;
// base_url overrides the base URL (a test fake). The API key comes from Options.APIKey or
// $MAILGUN_API_KEY, never from the URL.
type URLOpener struct {
	// Client sends the requests; nil means a default *http.Client.
	Client Doer
	// Options are the defaults the URL overrides.
	Options Options
}

// OpenTransportURL implements mailer.URLOpener.
func (o *URLOpener) OpenTransportURL(ctx context.Context, u *url.URL) (transport.Transport, error) {
	q, err := httpmail.URLParams(provider, u, "region", "testmode", "base_url")
	if err != nil {
		return nil, err
	}
	if u.Path != "" && u.Path != "/" || u.Port() != "" {
		return nil, transport.Errorf(transport.InvalidArgument, false, "%s: open %q: the URL takes only a domain: use mailgun://mg.example.com?region=eu", provider, u.Redacted())
	}
	opts := o.Options
	if u.Host != "" {
		opts.Domain = u.Host
	}
	switch r := q.Get("region"); r {
	case "":
	case "eu":
		opts.BaseURL = EUBaseURL
	case "us":
		opts.BaseURL = DefaultBaseURL
	default:
		return nil, transport.Errorf(transport.InvalidArgument, false, "%s: open %q: unknown region %q: use us or eu", provider, u.Redacted(), r)
	}
	if b := q.Get("base_url"); b != "" {
		opts.BaseURL = b
	}
	if q.Has("testmode") {
		if opts.TestMode, err = httpmail.URLBool(provider, q, "testmode"); err != nil {
			return nil, err
		}
	}
	return New(o.Client, &opts)
}
