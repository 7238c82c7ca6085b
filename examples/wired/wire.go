//go:build wireinject

package main

import (
	"context"

	"github.com/google/wire"

	"github.com/postiemail/postie"
)

// initNotifier builds the default Postie stack from cfg and the Notifier on top of it.
func initNotifier(ctx context.Context, cfg postie.Config) (*Notifier, func(), error) {
	wire.Build(postie.MailerSet, NewNotifier)
	return nil, nil, nil
}
