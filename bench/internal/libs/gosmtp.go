package libs

import (
	"bytes"
	"context"
	"io"
	"time"

	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"github.com/postiemail/postie/bench/internal/fixture"
)

func init() {
	register(&Driver{Name: "gosmtp", Label: "emersion/go-smtp", Open: openGoSMTP})
}

// GoMessageWrite writes f with emersion/go-message, the MIME half of the emersion stack;
// the attachment comes from att (nil: f.AttachData).
func GoMessageWrite(w io.Writer, f *fixture.Fixture, date time.Time, id string, att io.Reader) error {
	var h mail.Header
	h.SetDate(date)
	h.SetAddressList("From", []*mail.Address{{Name: f.From.Name, Address: f.From.Address}})
	to := make([]*mail.Address, len(f.To))
	for i, a := range f.To {
		to[i] = &mail.Address{Name: a.Name, Address: a.Address}
	}
	h.SetAddressList("To", to)
	h.SetSubject(f.Subject)
	h.SetMessageID(id)
	h.Set("MIME-Version", "1.0")

	if att == nil && f.AttachData != nil {
		att = bytes.NewReader(f.AttachData)
	}
	textHeader := func(typ string) mail.InlineHeader {
		var ih mail.InlineHeader
		ih.SetContentType(typ, map[string]string{"charset": "utf-8"})
		return ih
	}
	writePart := func(pw io.WriteCloser, body string) error {
		if _, err := io.WriteString(pw, body); err != nil {
			return err
		}
		return pw.Close()
	}
	switch {
	case att != nil:
		mw, err := mail.CreateWriter(w, h)
		if err != nil {
			return err
		}
		pw, err := mw.CreateSingleInline(textHeader("text/plain"))
		if err != nil {
			return err
		}
		if err := writePart(pw, f.Text); err != nil {
			return err
		}
		var ah mail.AttachmentHeader
		ah.SetContentType(f.AttachType, nil)
		ah.SetFilename(f.AttachName)
		aw, err := mw.CreateAttachment(ah)
		if err != nil {
			return err
		}
		if _, err := io.Copy(aw, att); err != nil {
			return err
		}
		if err := aw.Close(); err != nil {
			return err
		}
		return mw.Close()
	case f.HTML != "":
		iw, err := mail.CreateInlineWriter(w, h)
		if err != nil {
			return err
		}
		for _, p := range []struct{ typ, body string }{{"text/plain", f.Text}, {"text/html", f.HTML}} {
			pw, err := iw.CreatePart(textHeader(p.typ))
			if err != nil {
				return err
			}
			if err := writePart(pw, p.body); err != nil {
				return err
			}
		}
		return iw.Close()
	default:
		h.SetContentType("text/plain", map[string]string{"charset": "utf-8"})
		pw, err := mail.CreateSingleInlineWriter(w, h)
		if err != nil {
			return err
		}
		return writePart(pw, f.Text)
	}
}

// openGoSMTP keeps one go-smtp client per worker and streams go-message output into DATA.
func openGoSMTP(t *Target, f *fixture.Fixture, _ int) (Session, error) {
	rcpts := f.Rcpts()
	return simple(func(context.Context) (Worker, error) {
		var c *gosmtp.Client
		var err error
		if t.TLS != nil {
			c, err = gosmtp.DialStartTLS(t.SMTP, t.TLS.Clone())
		} else {
			c, err = gosmtp.Dial(t.SMTP)
		}
		if err != nil {
			return nil, err
		}
		if t.TLS != nil {
			if err := c.Auth(sasl.NewPlainClient("", fixture.User, fixture.Password)); err != nil {
				c.Close()
				return nil, err
			}
		}
		return workerFuncs{
			send: func(context.Context) error {
				if err := c.Mail(f.From.Address, nil); err != nil {
					return err
				}
				for _, r := range rcpts {
					if err := c.Rcpt(r, nil); err != nil {
						return err
					}
				}
				w, err := c.Data()
				if err != nil {
					return err
				}
				if err := GoMessageWrite(w, f, time.Now(), msgID(), nil); err != nil {
					w.Close()
					return err
				}
				return w.Close()
			},
			close: c.Quit,
		}, nil
	}), nil
}
