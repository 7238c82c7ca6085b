package transporttest

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/postiemail/postie/transport"
)

// content is a message reduced to what a reader sees, so that what was sent and what was
// delivered (as MIME bytes or as fields) compare with one function.
type content struct {
	From      mail.Address
	To        []mail.Address
	Cc        []mail.Address
	ReplyTo   []mail.Address
	Subject   string
	MessageID string
	Date      time.Time
	Headers   map[string][]string // extra headers, canonical names
	Text      string
	HTML      string
	Parts     []part
	raw       bool // decoded from MIME bytes (Date and Message-ID must be present)
}

// part is one attachment or inline part.
type part struct {
	Filename  string
	MediaType string // lower-case media type without parameters
	Inline    bool
	ContentID string
	Data      []byte
}

func (p part) String() string {
	kind := "attachment"
	if p.Inline {
		kind = "inline"
	}
	return fmt.Sprintf("%s %q (%s, cid %q, %d bytes)", kind, p.Filename, p.MediaType, p.ContentID, len(p.Data))
}

// contentOf reduces a message the suite sent (or a harness decoded from fields).
func contentOf(m *transport.Message) (*content, error) {
	c := &content{
		From: m.From, To: m.To, Cc: m.Cc, ReplyTo: m.ReplyTo,
		Subject: m.Subject, MessageID: m.MessageID, Date: m.Date,
		Text: normText(m.Text), HTML: normText(m.HTML),
		Headers: map[string][]string{},
	}
	for _, f := range m.Headers {
		k := textproto.CanonicalMIMEHeaderKey(f.Name)
		c.Headers[k] = append(c.Headers[k], f.Value)
	}
	for i := range m.Attachments {
		a := &m.Attachments[i]
		rc, err := a.Reader()
		if err != nil {
			return nil, fmt.Errorf("open attachment %q: %w", a.Filename, err)
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("read attachment %q: %w", a.Filename, err)
		}
		c.Parts = append(c.Parts, part{
			Filename: a.Filename, MediaType: mediaType(a.ContentType),
			Inline: a.Inline, ContentID: strings.Trim(a.ContentID, "<>"), Data: data,
		})
	}
	sortParts(c.Parts)
	return c, nil
}

func mediaType(ct string) string {
	if ct == "" {
		return "application/octet-stream"
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return strings.ToLower(strings.TrimSpace(ct))
	}
	return mt
}

func sortParts(ps []part) {
	slices.SortStableFunc(ps, func(a, b part) int {
		if c := strings.Compare(a.Filename, b.Filename); c != 0 {
			return c
		}
		return strings.Compare(a.ContentID, b.ContentID)
	})
}

// normText makes line endings comparable: MIME text uses CRLF, Go strings usually LF, and
// a writer may end the body with one more line break.
func normText(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return strings.TrimRight(s, "\n")
}

var wordDecoder = &mime.WordDecoder{CharsetReader: charsetReader}

func charsetReader(charset string, r io.Reader) (io.Reader, error) {
	switch strings.ToLower(charset) {
	case "utf-8", "us-ascii", "":
		return r, nil
	case "iso-8859-1", "latin1":
		b, err := io.ReadAll(r)
		if err != nil {
			return nil, err
		}
		var out []byte
		for _, c := range b {
			out = utf8.AppendRune(out, rune(c))
		}
		return bytes.NewReader(out), nil
	}
	return nil, fmt.Errorf("unsupported charset %q", charset)
}

// headerSection returns raw's header block, without the blank line and body.
func headerSection(raw []byte) []byte {
	for _, sep := range [][]byte{[]byte("\r\n\r\n"), []byte("\n\n")} {
		if i := bytes.Index(raw, sep); i >= 0 {
			return raw[:i+len(sep)/2]
		}
	}
	return raw
}

// parseRaw decodes an RFC 5322 message with the standard library only: net/mail for the
// header, mime.WordDecoder for RFC 2047 words, mime/multipart for the tree,
// quoted-printable and base64 decoders for the parts, and mime.ParseMediaType for RFC 2231
// parameters (file names).
func parseRaw(raw []byte) (*content, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("net/mail cannot parse the delivered message: %w", err)
	}
	h := msg.Header
	c := &content{Headers: map[string][]string{}, raw: true}
	var errs []error
	from, err := addressList(h, "From")
	switch {
	case err != nil:
		errs = append(errs, err)
	case len(from) != 1:
		errs = append(errs, fmt.Errorf("From header has %d addresses, want 1", len(from)))
	default:
		c.From = from[0]
	}
	for _, f := range []struct {
		name string
		dst  *[]mail.Address
	}{{"To", &c.To}, {"Cc", &c.Cc}, {"Reply-To", &c.ReplyTo}} {
		l, err := addressList(h, f.name)
		if err != nil {
			errs = append(errs, err)
		}
		*f.dst = l
	}
	if c.Subject, err = wordDecoder.DecodeHeader(h.Get("Subject")); err != nil {
		errs = append(errs, fmt.Errorf("Subject %q: %w", h.Get("Subject"), err))
	}
	c.MessageID = strings.TrimSpace(h.Get("Message-Id"))
	c.MessageID = strings.TrimSuffix(strings.TrimPrefix(c.MessageID, "<"), ">")
	if h.Get("Date") != "" {
		if c.Date, err = h.Date(); err != nil {
			errs = append(errs, fmt.Errorf("Date header: %w", err))
		}
	}
	for k, vs := range h {
		for _, v := range vs {
			d, err := wordDecoder.DecodeHeader(v)
			if err != nil {
				d = v
			}
			c.Headers[textproto.CanonicalMIMEHeaderKey(k)] = append(c.Headers[textproto.CanonicalMIMEHeaderKey(k)], d)
		}
	}
	if err := walkPart(textproto.MIMEHeader(h), msg.Body, c, 0); err != nil {
		errs = append(errs, err)
	}
	sortParts(c.Parts)
	return c, errors.Join(errs...)
}

func addressList(h mail.Header, name string) ([]mail.Address, error) {
	if h.Get(name) == "" {
		return nil, nil
	}
	p := mail.AddressParser{WordDecoder: wordDecoder}
	l, err := p.ParseList(h.Get(name))
	if err != nil {
		return nil, fmt.Errorf("%s header %q: %w", name, h.Get(name), err)
	}
	out := make([]mail.Address, len(l))
	for i, a := range l {
		out[i] = *a
	}
	return out, nil
}

func walkPart(h textproto.MIMEHeader, body io.Reader, c *content, depth int) error {
	if depth > 10 {
		return errors.New("MIME tree nested more than 10 levels")
	}
	ct := h.Get("Content-Type")
	if ct == "" {
		ct = "text/plain; charset=us-ascii"
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return fmt.Errorf("Content-Type %q: %w", ct, err)
	}
	if strings.HasPrefix(mt, "multipart/") {
		if params["boundary"] == "" {
			return fmt.Errorf("Content-Type %q has no boundary", ct)
		}
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return fmt.Errorf("%s: %w", mt, err)
			}
			if err := walkPart(p.Header, p, c, depth+1); err != nil {
				return err
			}
		}
	}
	data, err := decodeBody(h.Get("Content-Transfer-Encoding"), body)
	if err != nil {
		return fmt.Errorf("part %s: %w", mt, err)
	}
	disp, dparams, _ := mime.ParseMediaType(h.Get("Content-Disposition"))
	filename := dparams["filename"]
	if filename == "" {
		filename = params["name"]
	}
	if d, err := wordDecoder.DecodeHeader(filename); err == nil {
		filename = d
	}
	cid := strings.TrimSpace(h.Get("Content-Id"))
	cid = strings.TrimSuffix(strings.TrimPrefix(cid, "<"), ">")
	isPart := disp == "attachment" || filename != "" || cid != ""
	if !isPart && (mt == "text/plain" || mt == "text/html") {
		text, err := charsetReader(params["charset"], bytes.NewReader(data))
		if err != nil {
			return fmt.Errorf("part %s: %w", mt, err)
		}
		b, _ := io.ReadAll(text)
		if mt == "text/plain" {
			c.Text = normText(string(b))
		} else {
			c.HTML = normText(string(b))
		}
		return nil
	}
	c.Parts = append(c.Parts, part{
		Filename: filename, MediaType: mt, ContentID: cid, Data: data,
		Inline: disp == "inline" || (disp == "" && cid != ""),
	})
	return nil
}

func decodeBody(cte string, body io.Reader) ([]byte, error) {
	switch strings.ToLower(strings.TrimSpace(cte)) {
	case "quoted-printable":
		b, err := io.ReadAll(quotedprintable.NewReader(body))
		if err != nil {
			return nil, fmt.Errorf("quoted-printable: %w", err)
		}
		return b, nil
	case "base64":
		b, err := io.ReadAll(base64.NewDecoder(base64.StdEncoding, body))
		if err != nil {
			return nil, fmt.Errorf("base64: %w", err)
		}
		return b, nil
	case "", "7bit", "8bit", "binary":
		return io.ReadAll(body)
	}
	return nil, fmt.Errorf("unknown Content-Transfer-Encoding %q", cte)
}

// diff lists every difference between what was sent and what was delivered.
func (want *content) diff(got *content) []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if got.From != want.From {
		add("From: got %s, want %s", fmtAddr(got.From), fmtAddr(want.From))
	}
	for _, f := range []struct {
		name      string
		got, want []mail.Address
	}{{"To", got.To, want.To}, {"Cc", got.Cc, want.Cc}, {"Reply-To", got.ReplyTo, want.ReplyTo}} {
		if !slices.Equal(f.got, f.want) {
			add("%s: got %s, want %s", f.name, fmtAddrs(f.got), fmtAddrs(f.want))
		}
	}
	if got.Subject != want.Subject {
		add("Subject: got %q, want %q", got.Subject, want.Subject)
	}
	if got.raw || got.MessageID != "" {
		if got.MessageID != want.MessageID {
			add("Message-ID: got %q, want %q (transports must keep the id mailer set)", got.MessageID, want.MessageID)
		}
	}
	if got.raw || !got.Date.IsZero() {
		if !got.Date.Truncate(time.Second).Equal(want.Date.Truncate(time.Second)) {
			add("Date: got %v, want %v", got.Date, want.Date)
		}
	}
	for k, wv := range want.Headers {
		if gv := got.Headers[k]; !slices.Equal(gv, wv) {
			add("header %s: got %q, want %q", k, gv, wv)
		}
	}
	if got.Text != want.Text {
		add("text body differs:\n%s", firstDifference(got.Text, want.Text))
	}
	if got.HTML != want.HTML {
		add("HTML body differs:\n%s", firstDifference(got.HTML, want.HTML))
	}
	if len(got.Parts) != len(want.Parts) {
		add("got %d attachments %v, want %d %v", len(got.Parts), got.Parts, len(want.Parts), want.Parts)
		return errs
	}
	for i, w := range want.Parts {
		g := got.Parts[i]
		if g.Filename != w.Filename || g.MediaType != w.MediaType || g.Inline != w.Inline || g.ContentID != w.ContentID {
			add("attachment %d: got %v, want %v", i, g, w)
		}
		if !bytes.Equal(g.Data, w.Data) {
			add("attachment %q: content differs:\n%s", w.Filename, firstDifference(string(g.Data), string(w.Data)))
		}
	}
	return errs
}

func fmtAddr(a mail.Address) string { return fmt.Sprintf("%q <%s>", a.Name, a.Address) }

func fmtAddrs(l []mail.Address) string {
	s := make([]string, len(l))
	for i, a := range l {
		s[i] = fmtAddr(a)
	}
	return "[" + strings.Join(s, ", ") + "]"
}

// firstDifference shows where got and want part ways, with a little context.
func firstDifference(got, want string) string {
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	lo := max(0, i-20)
	clip := func(s string) string {
		hi := min(len(s), i+40)
		if lo > len(s) {
			return ""
		}
		return s[lo:hi]
	}
	return fmt.Sprintf("\tat byte %d (lengths got %d, want %d)\n\tgot:  %q\n\twant: %q", i, len(got), len(want), clip(got), clip(want))
}
