package resendmail

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
//	resend://[?base_url=https://...]
//
// base_url overrides the base URL (a test fake). The API key comes from Options.APIKey or
// $RESEND_API_KEY, never from the URL.
type URLOpener struct {
	// Client sends the requests; nil means a default *http.Client.
	Client Doer
	// Options are the defaults the URL's parameters override.
	Options Options
}

// OpenTransportURL implements mailer.URLOpener.
func (o *URLOpener) OpenTransportURL(ctx context.Context, u *url.URL) (transport.Transport, error) {
	q, err := httpmail.URLParams(provider, u, "base_url")
	if err != nil {
		return nil, err
	}
	if u.Host != "" || (u.Path != "" && u.Path != "/") {
		return nil, transport.Errorf(transport.InvalidArgument, false, "%s: open %q: the URL takes no host or path: use resend://", provider, u.Redacted())
	}
	opts := o.Options
	if b := q.Get("base_url"); b != "" {
		opts.BaseURL = b
	}
	return New(o.Client, &opts)
}
