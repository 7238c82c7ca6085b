//go:build wireinject

package main

import (
	"context"

	"github.com/google/wire"

	"github.com/postiemail/postie/transport/memmail"
)

// setupLocal is the Wire injector for -env=local: messages stay in memory, so the program
// runs with no server at all. Wire copies the providers below into wire_gen.go.
func setupLocal(ctx context.Context, flags *cliFlags) (*application, func(), error) {
	panic(wire.Build(applicationSet, localTransport))
}

// localTransport keeps the last 100 messages in memory.
func localTransport() (baseTransport, func()) {
	t := memmail.New(&memmail.Options{Max: 100})
	return baseTransport{t}, func() { _ = t.Close() }
}
