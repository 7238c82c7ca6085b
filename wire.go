//go:build wireinject

package postie

import (
	"context"

	"github.com/google/wire"

	"github.com/postiemail/postie/mailer"
)

// New builds the default stack described by cfg: the transport cfg.URL names, the middleware
// chain, and the Client. Call the returned cleanup to close the transport.
func New(ctx context.Context, cfg Config) (*mailer.Client, func(), error) {
	wire.Build(Set)
	return nil, nil, nil
}
