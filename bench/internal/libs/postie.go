package libs

import (
	"bytes"
	"context"

	"github.com/postiemail/postie/mailer"
	"github.com/postiemail/postie/smtp"

	"github.com/postiemail/postie/bench/internal/fixture"
)

func init() {
	register(&Driver{Name: "postie", Label: "Postie", Open: openPostie})
	// The ceilings send Postie's own bytes when its MIME writer renders the fixture.
	std := RawBytes
	RawBytes = func(f *fixture.Fixture) ([]byte, error) {
		var b bytes.Buffer
		if err := PostieWrite(&b, f, nil, 0); err == nil {
			return b.Bytes(), nil
		}
		return std(f)
	}
}

// PostieOptions returns the smtp.Options the benchmark uses for t with workers workers:
// defaults except the pool size (one connection per worker, like every other library's
// setup here), the sink's certificate and the credentials.
func PostieOptions(t *Target, workers int) *smtp.Options {
	o := &smtp.Options{MaxConns: workers, LocalName: "client.bench"}
	if t.TLS != nil {
		o.TLS = smtp.TLSRequired
		o.TLSConfig = t.TLS.Clone()
		o.Username, o.Password = fixture.User, fixture.Password
	} else {
		o.TLS = smtp.TLSNone
	}
	return o
}

// openPostie shares one smtp.Transport (a pool of up to workers connections) under one
// mailer.Client; every send builds a mailer.Message and calls Client.Send.
func openPostie(t *Target, f *fixture.Fixture, workers int) (Session, error) {
	tr, err := smtp.New(t.SMTP, PostieOptions(t, workers))
	if err != nil {
		return nil, err
	}
	return &postieSession{c: mailer.New(tr, nil), f: f}, nil
}

type postieSession struct {
	c *mailer.Client
	f *fixture.Fixture
}

func (s *postieSession) Worker(context.Context) (Worker, error) {
	return sendFunc(func(ctx context.Context) error {
		_, err := s.c.Send(ctx, PostieMessage(s.f, nil, 0))
		return err
	}), nil
}

func (s *postieSession) Close() error { return s.c.Close() }
