package mailer

import (
	"context"

	"github.com/postiemail/postie/transport"
)

// The composite URL forms "failover(URL URL ...)" and "roundrobin(URL URL ...)" open a
// transport.Failover or transport.RoundRobin with default options over the member URLs,
// which may nest: "failover(smtp://a roundrobin(ses:// sendgrid://))".
func init() {
	DefaultURLMux().RegisterComposite("failover", func(_ context.Context, members []transport.Transport) (transport.Transport, error) {
		return transport.NewFailover(nil, members...), nil
	})
	DefaultURLMux().RegisterComposite("roundrobin", func(_ context.Context, members []transport.Transport) (transport.Transport, error) {
		return transport.NewRoundRobin(nil, members...), nil
	})
}
