package libs

import (
	"context"
	"net/smtp"
	"time"

	"github.com/postiemail/postie/bench/internal/fixture"
	"github.com/postiemail/postie/bench/internal/stdmime"
)

func init() {
	register(&Driver{Name: "netsmtp-new", Label: "net/smtp new conn", Open: openNetSMTPNew})
	register(&Driver{Name: "netsmtp-reuse", Label: "net/smtp reuse", Open: openNetSMTPReuse})
}

// netDial opens a net/smtp client, upgrading and authenticating when t has TLS.
func netDial(t *Target) (*smtp.Client, error) {
	c, err := smtp.Dial(t.SMTP)
	if err != nil {
		return nil, err
	}
	if err := c.Hello("client.bench"); err != nil {
		c.Close()
		return nil, err
	}
	if t.TLS != nil {
		if err := c.StartTLS(t.TLS.Clone()); err != nil {
			c.Close()
			return nil, err
		}
		if err := c.Auth(smtp.PlainAuth("", fixture.User, fixture.Password, t.Host())); err != nil {
			c.Close()
			return nil, err
		}
	}
	return c, nil
}

// netSend sends one message on c: MAIL, RCPT per recipient, DATA with the stdlib MIME.
func netSend(c *smtp.Client, f *fixture.Fixture, rcpts []string) error {
	if err := c.Mail(f.From.Address); err != nil {
		return err
	}
	for _, r := range rcpts {
		if err := c.Rcpt(r); err != nil {
			return err
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if err := stdmime.Write(w, f, time.Now(), msgID()); err != nil {
		w.Close()
		return err
	}
	return w.Close()
}

// openNetSMTPNew does what smtp.SendMail does (dial, EHLO, STARTTLS, AUTH, one
// transaction, QUIT) for every message, with the sink's certificate trusted.
func openNetSMTPNew(t *Target, f *fixture.Fixture, _ int) (Session, error) {
	rcpts := f.Rcpts()
	return simple(func(context.Context) (Worker, error) {
		return sendFunc(func(context.Context) error {
			c, err := netDial(t)
			if err != nil {
				return err
			}
			defer c.Close()
			if err := netSend(c, f, rcpts); err != nil {
				return err
			}
			return c.Quit()
		}), nil
	}), nil
}

// openNetSMTPReuse keeps one net/smtp connection per worker.
func openNetSMTPReuse(t *Target, f *fixture.Fixture, _ int) (Session, error) {
	rcpts := f.Rcpts()
	return simple(func(context.Context) (Worker, error) {
		c, err := netDial(t)
		if err != nil {
			return nil, err
		}
		return workerFuncs{
			send:  func(context.Context) error { return netSend(c, f, rcpts) },
			close: c.Quit,
		}, nil
	}), nil
}
