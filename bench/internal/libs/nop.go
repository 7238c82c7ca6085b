package libs

import (
	"context"
	"errors"

	"github.com/postiemail/postie/transport"
)

type nopTransport struct{}

func (nopTransport) Send(context.Context, *transport.Message) (*transport.Receipt, error) {
	return nil, errors.New("nopTransport: not for sending")
}
func (nopTransport) Close() error { return nil }
