package mime_test

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	stdmime "mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"testing"
)

// entity is a MIME entity parsed back with the standard library only (net/mail,
// mime, mime/multipart and the standard decoders): the oracle the tests compare against.
type entity struct {
	header    map[string][]string
	mediaType string
	params    map[string]string
	cte       string
	body      []byte // decoded; nil for multiparts
	raw       []byte // as written
	parts     []*entity
}

// parseMessage parses raw as a whole message and fails t on any parse error.
func parseMessage(t testing.TB, raw []byte) (*mail.Message, *entity) {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("net/mail cannot read the message: %v\n%s", err, raw)
	}
	e, err := parseEntity(msg.Header, msg.Body)
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, raw)
	}
	return msg, e
}

func parseEntity(h map[string][]string, body io.Reader) (*entity, error) {
	e := &entity{header: h}
	ct := first(h, "Content-Type")
	if ct == "" {
		return nil, fmt.Errorf("no Content-Type")
	}
	var err error
	e.mediaType, e.params, err = stdmime.ParseMediaType(ct)
	if err != nil {
		return nil, fmt.Errorf("Content-Type %q: %v", ct, err)
	}
	if strings.HasPrefix(e.mediaType, "multipart/") {
		if len(h["Content-Transfer-Encoding"]) > 0 {
			if c := strings.ToLower(first(h, "Content-Transfer-Encoding")); c != "7bit" && c != "8bit" {
				return nil, fmt.Errorf("multipart with Content-Transfer-Encoding %q", c)
			}
		}
		mr := multipart.NewReader(body, e.params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("%s: %v", e.mediaType, err)
			}
			c, err := parseEntity(p.Header, p)
			if err != nil {
				return nil, err
			}
			e.parts = append(e.parts, c)
		}
		if len(e.parts) == 0 {
			return nil, fmt.Errorf("%s has no parts", e.mediaType)
		}
		return e, nil
	}
	e.cte = strings.ToLower(first(h, "Content-Transfer-Encoding"))
	raw, err := io.ReadAll(body)
	if err != nil {
		return nil, err
	}
	e.raw = raw
	if err := strictBody(e.cte, raw); err != nil {
		return nil, fmt.Errorf("%s: %s body is not canonical: %v", e.mediaType, e.cte, err)
	}
	var r io.Reader = bytes.NewReader(raw)
	switch e.cte {
	case "", "7bit", "8bit":
	case "quoted-printable":
		r = quotedprintable.NewReader(r)
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, r)
	default:
		return nil, fmt.Errorf("unknown Content-Transfer-Encoding %q", e.cte)
	}
	e.body, err = io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("%s (%s): %v", e.mediaType, e.cte, err)
	}
	if e.body == nil {
		e.body = []byte{}
	}
	return e, nil
}

func first(h map[string][]string, k string) string {
	if v := h[k]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// shape renders the tree as "mixed(alternative(text/plain,text/html),application/pdf)".
func (e *entity) shape() string {
	if e.parts == nil {
		return e.mediaType
	}
	var b strings.Builder
	b.WriteString(strings.TrimPrefix(e.mediaType, "multipart/"))
	b.WriteByte('(')
	for i, p := range e.parts {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(p.shape())
	}
	b.WriteByte(')')
	return b.String()
}

// leaves returns the non-multipart entities in order.
func (e *entity) leaves() []*entity {
	if e.parts == nil {
		return []*entity{e}
	}
	var out []*entity
	for _, p := range e.parts {
		out = append(out, p.leaves()...)
	}
	return out
}

// crlf normalizes every CR, LF and CRLF to CRLF, as Write does for text.
func crlf(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\r':
			if i+1 < len(s) && s[i+1] == '\n' {
				i++
			}
			b.WriteString("\r\n")
		case '\n':
			b.WriteString("\r\n")
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// checkLines fails t if a line of raw is over 998 characters or does not end in CRLF.
func checkLines(t testing.TB, raw []byte) {
	t.Helper()
	if err := lineError(raw); err != nil {
		t.Fatal(err)
	}
}

func lineError(raw []byte) error {
	if len(raw) > 0 && !bytes.HasSuffix(raw, []byte("\r\n")) {
		return fmt.Errorf("output does not end in CRLF")
	}
	for n, line := range bytes.Split(raw, []byte("\r\n")) {
		if len(line) > 998 {
			return fmt.Errorf("line %d is %d characters long", n+1, len(line))
		}
		if i := bytes.IndexAny(line, "\r\n"); i >= 0 {
			return fmt.Errorf("line %d has a bare CR or LF at %d: %q", n+1, i, line)
		}
	}
	return nil
}

// headerBlock returns the message's header section, unfolded lines kept as written.
func headerBlock(raw []byte) string {
	i := bytes.Index(raw, []byte("\r\n\r\n"))
	if i < 0 {
		return string(raw)
	}
	return string(raw[:i+2])
}

// fieldNames lists the header field names of a header block in order.
func fieldNames(block string) []string {
	var names []string
	for _, line := range strings.Split(strings.TrimSuffix(block, "\r\n"), "\r\n") {
		if line == "" || line[0] == ' ' || line[0] == '\t' {
			continue
		}
		name, _, _ := strings.Cut(line, ":")
		names = append(names, name)
	}
	return names
}

// strictBody checks an encoded body against RFC 2045 to the letter; the standard decoders
// are lenient (quotedprintable.Reader passes raw 8-bit bytes through, for one).
func strictBody(cte string, raw []byte) error {
	lines := bytes.Split(bytes.TrimSuffix(raw, []byte("\r\n")), []byte("\r\n"))
	for n, l := range lines {
		switch cte {
		case "", "7bit", "8bit":
			for _, c := range l {
				if c == 0 || c == '\r' || c == '\n' || (cte != "8bit" && c >= 0x80) {
					return fmt.Errorf("line %d holds byte %#x", n+1, c)
				}
			}
		case "quoted-printable":
			if len(l) > 76 {
				return fmt.Errorf("line %d is %d characters long", n+1, len(l))
			}
			if k := len(l); k > 0 && (l[k-1] == ' ' || l[k-1] == '\t') {
				return fmt.Errorf("line %d ends in white space", n+1)
			}
			for i := 0; i < len(l); i++ {
				c := l[i]
				switch {
				case c == '=':
					if i == len(l)-1 {
						continue // soft line break
					}
					if i+2 >= len(l) || !isUpperHex(l[i+1]) || !isUpperHex(l[i+2]) {
						return fmt.Errorf("line %d: bad escape at %d: %q", n+1, i, l)
					}
					i += 2
				case c == ' ' || c == '\t' || c >= '!' && c <= '~':
				default:
					return fmt.Errorf("line %d holds byte %#x", n+1, c)
				}
			}
		case "base64":
			if len(l) > 76 || (n < len(lines)-1 && len(l) != 76) {
				return fmt.Errorf("line %d is %d characters long", n+1, len(l))
			}
			for _, c := range l {
				if !strings.ContainsRune("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=", rune(c)) {
					return fmt.Errorf("line %d holds %q", n+1, c)
				}
			}
		}
	}
	return nil
}

func isUpperHex(c byte) bool { return '0' <= c && c <= '9' || 'A' <= c && c <= 'F' }
