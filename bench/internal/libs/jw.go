package libs

import (
	"context"
	"net/smtp"
	"net/textproto"
	"time"

	"github.com/jordan-wright/email"

	"github.com/postiemail/postie/bench/internal/fixture"
)

func init() {
	register(&Driver{Name: "jw-send", Label: "jordan-wright Send", Open: openJWSend})
	register(&Driver{Name: "jw-pool", Label: "jordan-wright Pool", Open: openJWPool})
}

// JWEmail builds f as a jordan-wright/email message. The attachment shares f's bytes
// (Email.Attach would copy them).
func JWEmail(f *fixture.Fixture) *email.Email {
	e := email.NewEmail()
	e.From = f.From.String()
	for _, a := range f.To {
		e.To = append(e.To, a.String())
	}
	e.Subject = f.Subject
	e.Text = []byte(f.Text)
	if f.HTML != "" {
		e.HTML = []byte(f.HTML)
	}
	if f.AttachData != nil {
		e.Attachments = append(e.Attachments, &email.Attachment{
			Filename: f.AttachName, ContentType: f.AttachType, Header: textproto.MIMEHeader{}, Content: f.AttachData,
		})
	}
	return e
}

func jwAuth(t *Target) smtp.Auth {
	if t.TLS == nil {
		return nil
	}
	return smtp.PlainAuth("", fixture.User, fixture.Password, t.Host())
}

// openJWSend uses Email.Send (smtp.SendMail) in cleartext and Email.SendWithStartTLS with
// TLS: a new connection per message either way.
func openJWSend(t *Target, f *fixture.Fixture, _ int) (Session, error) {
	auth := jwAuth(t)
	return simple(func(context.Context) (Worker, error) {
		return sendFunc(func(context.Context) error {
			e := JWEmail(f)
			if t.TLS == nil {
				return e.Send(t.SMTP, nil)
			}
			return e.SendWithStartTLS(t.SMTP, auth, t.TLS.Clone())
		}), nil
	}), nil
}

// openJWPool shares one email.Pool of size workers.
func openJWPool(t *Target, f *fixture.Fixture, workers int) (Session, error) {
	var p *email.Pool
	var err error
	if t.TLS != nil {
		p, err = email.NewPool(t.SMTP, workers, jwAuth(t), t.TLS.Clone())
	} else {
		p, err = email.NewPool(t.SMTP, workers, nil)
	}
	if err != nil {
		return nil, err
	}
	return &jwPoolSession{p: p, f: f}, nil
}

type jwPoolSession struct {
	p *email.Pool
	f *fixture.Fixture
}

func (s *jwPoolSession) Worker(context.Context) (Worker, error) {
	return sendFunc(func(context.Context) error { return s.p.Send(JWEmail(s.f), 10*time.Second) }), nil
}

func (s *jwPoolSession) Close() error { s.p.Close(); return nil }
