package libs

import (
	"bytes"
	"context"
	"io"

	gomail "github.com/wneessen/go-mail"

	"github.com/postiemail/postie/bench/internal/fixture"
)

func init() {
	register(&Driver{Name: "gomail", Label: "wneessen/go-mail", Open: openGoMail})
}

// GoMailMsg builds f as a go-mail message; the attachment is read from att (its best
// streaming option, AttachReadSeeker) or from f.AttachData when att is nil.
func GoMailMsg(f *fixture.Fixture, att io.ReadSeeker) (*gomail.Msg, error) {
	m := gomail.NewMsg()
	if err := m.FromFormat(f.From.Name, f.From.Address); err != nil {
		return nil, err
	}
	for _, a := range f.To {
		if err := m.AddToFormat(a.Name, a.Address); err != nil {
			return nil, err
		}
	}
	m.Subject(f.Subject)
	m.SetBodyString(gomail.TypeTextPlain, f.Text)
	if f.HTML != "" {
		m.AddAlternativeString(gomail.TypeTextHTML, f.HTML)
	}
	if att == nil && f.AttachData != nil {
		att = bytes.NewReader(f.AttachData)
	}
	if att != nil {
		m.AttachReadSeeker(f.AttachName, att, gomail.WithFileContentType(gomail.ContentType(f.AttachType)))
	}
	return m, nil
}

// openGoMail gives every worker its own go-mail Client (one connection each; a Client
// serializes its sends). The NOOP go-mail sends before every Send by default is turned
// off, which only makes go-mail faster.
func openGoMail(t *Target, f *fixture.Fixture, _ int) (Session, error) {
	return simple(func(ctx context.Context) (Worker, error) {
		opts := []gomail.Option{gomail.WithPort(t.Port()), gomail.WithHELO("client.bench"), gomail.WithoutNoop()}
		if t.TLS != nil {
			opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory), gomail.WithTLSConfig(t.TLS.Clone()),
				gomail.WithSMTPAuth(gomail.SMTPAuthPlain), gomail.WithUsername(fixture.User), gomail.WithPassword(fixture.Password))
		} else {
			opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
		}
		c, err := gomail.NewClient(t.Host(), opts...)
		if err != nil {
			return nil, err
		}
		if err := c.DialWithContext(ctx); err != nil {
			return nil, err
		}
		return workerFuncs{
			send: func(context.Context) error {
				m, err := GoMailMsg(f, nil)
				if err != nil {
					return err
				}
				return c.Send(m)
			},
			close: c.Close,
		}, nil
	}), nil
}
