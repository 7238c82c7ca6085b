package sendgridmail

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
//	sendgrid://[?region=eu][&sandbox=true][&base_url=https://...]
//
// region=eu selects EUBaseURL; base_url overrides the base URL (a test fake). The API key
// comes from Options.APIKey or $SENDGRID_API_KEY, never from the URL.
type URLOpener struct {
	// Client sends the requests; nil means a default *http.Client.
	Client Doer
	// Options are the defaults the URL's parameters override.
	Options Options
}

// OpenTransportURL implements mailer.URLOpener.
func (o *URLOpener) OpenTransportURL(ctx context.Context, u *url.URL) (transport.Transport, error) {
	q, err := httpmail.URLParams(provider, u, "region", "sandbox", "base_url")
	if err != nil {
		return nil, err
	}
	if u.Host != "" || (u.Path != "" && u.Path != "/") {
		return nil, transport.Errorf(transport.InvalidArgument, false, "%s: open %q: the URL takes no host or path: use sendgrid://?region=eu", provider, u.Redacted())
	}
	opts := o.Options
	switch r := q.Get("region"); r {
	case "":
	case "eu":
		opts.BaseURL = EUBaseURL
	case "global", "us":
		opts.BaseURL = DefaultBaseURL
	default:
		return nil, transport.Errorf(transport.InvalidArgument, false, "%s: open %q: unknown region %q: use eu or global", provider, u.Redacted(), r)
	}
	if b := q.Get("base_url"); b != "" {
		opts.BaseURL = b
	}
	if q.Has("sandbox") {
		if opts.SandboxMode, err = httpmail.URLBool(provider, q, "sandbox"); err != nil {
			return nil, err
		}
	}
	return New(o.Client, &opts)
}
