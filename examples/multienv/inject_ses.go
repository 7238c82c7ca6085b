//go:build wireinject

package main

import (
	"context"

	"github.com/google/wire"

	"github.com/postiemail/postie/transport/sesmail"
)

// setupSES is the Wire injector for -env=ses: Amazon SES v2, with credentials and (unless
// -ses-region is given) the region from the AWS default chain.
func setupSES(ctx context.Context, flags *cliFlags) (*application, func(), error) {
	panic(wire.Build(applicationSet, sesTransport))
}

// sesTransport opens an SES transport; the cleanup releases its connections.
func sesTransport(ctx context.Context, flags *cliFlags) (baseTransport, func(), error) {
	t, err := sesmail.Open(ctx, &sesmail.Options{
		Region:               flags.sesRegion,
		ConfigurationSetName: flags.sesConfiguration,
		BaseEndpoint:         flags.sesEndpoint,
	})
	if err != nil {
		return baseTransport{}, nil, err
	}
	return baseTransport{t}, func() { _ = t.Close() }, nil
}
