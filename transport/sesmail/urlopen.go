package sesmail

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
//	ses://[?region=eu-west-1][&configuration_set=name][&endpoint=https://...]
//
// region overrides the AWS config chain's region, configuration_set names the SES
// configuration set, endpoint overrides the SES endpoint (a VPC endpoint or a test fake).
// Credentials come from Options or the AWS default chain, never from the URL.
type URLOpener struct {
	// Options are the defaults the URL's parameters override.
	Options Options
}

// OpenTransportURL implements mailer.URLOpener.
func (o *URLOpener) OpenTransportURL(ctx context.Context, u *url.URL) (transport.Transport, error) {
	q, err := httpmail.URLParams(provider, u, "region", "configuration_set", "endpoint")
	if err != nil {
		return nil, err
	}
	if u.Host != "" || (u.Path != "" && u.Path != "/") {
		return nil, transport.Errorf(transport.InvalidArgument, false, "%s: open %q: the URL takes no host or path: use ses://?region=eu-west-1", provider, u.Redacted())
	}
	opts := o.Options
	if r := q.Get("region"); r != "" {
		opts.Region = r
	}
	if c := q.Get("configuration_set"); c != "" {
		opts.ConfigurationSetName = c
	}
	if e := q.Get("endpoint"); e != "" {
		opts.BaseEndpoint = e
	}
	return Open(ctx, &opts)
}
