//go:build wireinject

package main

import (
	"context"
	"os"

	"github.com/google/wire"

	"github.com/postiemail/postie/smtp"
)

// setupSMTP is the Wire injector for -env=smtp: Postie's SMTP engine, with the server,
// user and TLS policy from the flags and the password from $SMTP_PASSWORD.
func setupSMTP(ctx context.Context, flags *cliFlags) (*application, func(), error) {
	panic(wire.Build(applicationSet, smtpTransport))
}

// smtpTransport opens a pooled SMTP transport; the cleanup closes its connections.
func smtpTransport(flags *cliFlags) (baseTransport, func(), error) {
	policy, err := smtp.ParseTLSPolicy(flags.smtpTLS)
	if err != nil {
		return baseTransport{}, nil, err
	}
	t, err := smtp.New(flags.smtpAddr, &smtp.Options{
		TLS:      policy,
		Username: flags.smtpUser,
		Password: os.Getenv("SMTP_PASSWORD"),
	})
	if err != nil {
		return baseTransport{}, nil, err
	}
	return baseTransport{t}, func() { _ = t.Close() }, nil
}
