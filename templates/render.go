package templates

import (
	"fmt"
	"slices"
	"strings"

	"github.com/postiemail/postie/mailer"
)

// Rendered is one notification rendered for one recipient.
type Rendered struct {
	Name   string // the notification
	Locale string // the locale of the templates used ("" for the base)

	Subject string
	Text    string // the text body, or the text derived from HTML
	HTML    string // the HTML body, images referenced as cid: URLs; "" when there is none

	// Inline holds the images the HTML refers to, as inline parts.
	Inline []mailer.Attachment
}

// Render renders notification name in locale (a BCP 47 tag such as "fr-CA"; "" for the
// base) with data. Locale variants fall back along fr-CA, fr, base. A missing key, a
// failing func or a subject that renders to more than one line is an error.
func (s *Set) Render(name, locale string, data any) (*Rendered, error) {
	u, err := s.lookup(name, locale)
	if err != nil {
		return nil, err
	}
	r := &Rendered{Name: name, Locale: u.locale}

	var b strings.Builder
	if err := u.subject.Execute(&b, data); err != nil {
		return nil, fmt.Errorf("templates: render %s subject: %w", name, err)
	}
	r.Subject = b.String()
	if strings.ContainsAny(r.Subject, "\r\n") {
		return nil, fmt.Errorf("templates: render %s: the subject (%s) contains a line break: a subject is one line; check the data it prints", name, u.subject.Name())
	}

	if u.html != nil {
		var b strings.Builder
		b.Grow(int(u.htmlHint.Load()))
		if err := u.html.Execute(&b, data); err != nil {
			return nil, fmt.Errorf("templates: render %s html: %w", name, err)
		}
		r.HTML = b.String()
		u.htmlHint.Store(int64(len(r.HTML)))
		r.Inline = s.inlineParts(r.HTML)
	}
	if u.text != nil {
		var b strings.Builder
		b.Grow(int(u.textHint.Load()))
		if err := u.text.Execute(&b, data); err != nil {
			return nil, fmt.Errorf("templates: render %s text: %w", name, err)
		}
		r.Text = b.String()
		u.textHint.Store(int64(len(r.Text)))
	} else {
		r.Text = HTMLToText(r.HTML)
	}
	return r, nil
}

func (s *Set) lookup(name, locale string) (*unit, error) {
	byLocale, ok := s.units[name]
	if !ok {
		return nil, fmt.Errorf("%w: %q (the set has %s)", ErrNotFound, name, strings.Join(s.names, ", "))
	}
	if u, ok := byLocale[locale]; ok {
		return u, nil
	}
	for _, loc := range localeChain(canonLocale(locale)) {
		if u, ok := byLocale[loc]; ok {
			return u, nil
		}
	}
	return byLocale[""], nil
}

// inlineParts returns the assets the HTML refers to as "cid:ID", in order of first use.
func (s *Set) inlineParts(h string) []mailer.Attachment {
	var out []mailer.Attachment
	for {
		i := strings.Index(h, "cid:")
		if i < 0 {
			return out
		}
		h = h[i+4:]
		end := strings.IndexAny(h, "\"' )>&")
		if end < 0 {
			end = len(h)
		}
		if a, ok := s.assets[h[:end]]; ok && !slices.ContainsFunc(out, func(b mailer.Attachment) bool { return b.ContentID == a.ContentID }) {
			out = append(out, a)
		}
		h = h[end:]
	}
}

// ApplyTo sets m's Subject, Text and HTML and adds the inline images (an image m already
// has, by Content-ID, is not added again).
func (r *Rendered) ApplyTo(m *mailer.Message) {
	m.Subject, m.Text, m.HTML = r.Subject, r.Text, r.HTML
	for _, a := range r.Inline {
		if !slices.ContainsFunc(m.Attachments, func(b mailer.Attachment) bool { return b.Inline && b.ContentID == a.ContentID }) {
			m.Attachments = append(m.Attachments, a)
		}
	}
}
