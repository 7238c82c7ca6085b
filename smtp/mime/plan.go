package mime

import (
	"crypto/sha256"
	"fmt"
	"net/mail"
	"net/netip"
	"strings"
	"unicode/utf8"

	"github.com/postiemail/postie/transport"
)

// span is a range of plan.h.b.
type span struct{ start, end int }

type srcKind uint8

const (
	srcText  srcKind = iota // text, written with normalized line breaks
	srcBytes                // data, written verbatim or base64
	srcAtt                  // att's content, base64 (or verbatim 7bit when Data is text)
)

// node is one MIME entity of the rendered tree, stored in preorder.
type node struct {
	multipart   bool
	first, last int // children (multipart); -1 when none
	next        int // next sibling; -1 when none
	hdr         span
	bnd         span // boundary (multipart)

	sub     string // multipart: its type, "multipart/mixed;" and so on
	kind    srcKind
	enc     cte
	html    bool                   // the HTML body
	alt     *transport.Alternative // an alternative body
	text    string
	data    []byte
	att     *transport.Attachment
	normLen int64 // text length after line-break normalization
	endsNL  bool  // the written body ends with a line break
}

// plan is everything Write needs, built and checked before a byte is written.
type plan struct {
	m      *transport.Message
	nodes  []node
	h      hb
	main   span // the message's own header fields, the root part's excluded
	sha    []byte
	allow8 bool
}

func (p *plan) reset() {
	clear(p.nodes)
	p.nodes = p.nodes[:0]
	if cap(p.nodes) > 1024 {
		p.nodes = nil
	}
	p.h = hb{b: p.h.b[:0]}
	if cap(p.h.b) > 64<<10 {
		p.h.b = nil
	}
	p.m = nil
}

func invalid(format string, args ...any) error {
	return &transport.Error{Code: transport.InvalidArgument, Err: fmt.Errorf("mime: "+format, args...)}
}

func (p *plan) add(parent int, n node) int {
	n.first, n.last, n.next = -1, -1, -1
	i := len(p.nodes)
	p.nodes = append(p.nodes, n)
	if parent >= 0 {
		par := &p.nodes[parent]
		if par.last >= 0 {
			p.nodes[par.last].next = i
		} else {
			par.first = i
		}
		par.last = i
	}
	return i
}

// Multipart types, with the ';' that separates the boundary parameter.
const (
	mixedType       = "multipart/mixed;"
	alternativeType = "multipart/alternative;"
	relatedType     = "multipart/related;"
)

func (p *plan) multipart(parent int, sub string) int {
	return p.add(parent, node{multipart: true, sub: sub})
}

// build lays out m's tree and renders every header, reporting the first problem.
func (p *plan) build(m *transport.Message, opts *Options) error {
	p.m = m
	p.allow8 = opts != nil && opts.Allow8Bit
	if err := p.tree(m); err != nil {
		return err
	}
	if err := p.mainHeader(m); err != nil {
		return err
	}
	for i := range p.nodes {
		if err := p.partHeader(i); err != nil {
			return err
		}
	}
	if p.h.longest > maxLine {
		return invalid("a header line would be %d characters long, over the limit of %d: shorten the longest header value, name or parameter", p.h.longest, maxLine)
	}
	return nil
}

// tree builds mixed( alternative( text, related( html, inline... ), alternatives... ), attachments... ).
// alternative appears only with two bodies or more, related only with HTML and inline
// parts, mixed only with attachments (inline parts without HTML count as attachments).
func (p *plan) tree(m *transport.Message) error {
	inline, regular := 0, 0
	for i := range m.Attachments {
		a := &m.Attachments[i]
		if a.Inline {
			if a.ContentID == "" {
				return invalid("Attachments[%d] (%q) is inline but has no ContentID: set ContentID and reference it from the HTML as cid:<ContentID>", i, a.Filename)
			}
			inline++
		} else {
			regular++
		}
	}
	rel := m.HTML != "" && inline > 0
	bodies := len(m.Alternatives)
	if m.Text != "" {
		bodies++
	}
	if m.HTML != "" {
		bodies++
	}
	mixed := -1
	if regular > 0 || (inline > 0 && !rel) {
		mixed = p.multipart(-1, mixedType)
	}
	parent := mixed
	if bodies > 1 {
		parent = p.multipart(mixed, alternativeType)
	}
	if bodies == 0 && mixed < 0 {
		p.textLeaf(parent, "")
	}
	if m.Text != "" {
		p.textLeaf(parent, m.Text)
	}
	if m.HTML != "" {
		hp := parent
		if rel {
			hp = p.multipart(parent, relatedType)
		}
		p.nodes[p.textLeaf(hp, m.HTML)].html = true
		if rel {
			for i := range m.Attachments {
				if m.Attachments[i].Inline {
					p.attLeaf(hp, &m.Attachments[i])
				}
			}
		}
	}
	for i := range m.Alternatives {
		a := &m.Alternatives[i]
		if strings.ContainsAny(a.ContentType, "\r\n") {
			return invalid("Alternatives[%d].ContentType contains CR or LF: remove the line breaks", i)
		}
		mt, _, err := parseMediaType(a.ContentType)
		if err != nil {
			return invalid("Alternatives[%d].ContentType %q is not a media type (%v): use e.g. \"text/calendar; method=REQUEST; charset=UTF-8\"", i, a.ContentType, err)
		}
		if strings.HasPrefix(mt, "multipart/") {
			return invalid("Alternatives[%d].ContentType is %q: a multipart type cannot be given as one body; pass its parts instead", i, mt)
		}
		if strings.HasPrefix(mt, "text/") {
			p.nodes[p.textLeaf(parent, string(a.Body))].alt = a
		} else {
			sc := scanBody(a.Body)
			n := node{kind: srcBytes, data: a.Body, enc: cteBase64, alt: a}
			if verbatim7bit(&sc) {
				n.enc, n.endsNL = cte7bit, sc.endsNL
			}
			p.add(parent, n)
		}
	}
	for i := range m.Attachments {
		a := &m.Attachments[i]
		if !a.Inline || !rel {
			p.attLeaf(mixed, a)
		}
	}
	// A single-part body gets a final CRLF when it lacks one; that would change data
	// that is not text, so such data goes base64 instead.
	if root := &p.nodes[0]; root.kind != srcText && root.enc == cte7bit && !root.endsNL && len(root.data)+len(attData(root.att)) > 0 {
		root.enc = cteBase64
	}
	return nil
}

func attData(a *transport.Attachment) []byte {
	if a == nil {
		return nil
	}
	return a.Data
}

func (p *plan) textLeaf(parent int, s string) int {
	sc := scanBody(s)
	return p.add(parent, node{kind: srcText, text: s, enc: textCTE(s, &sc, p.allow8), normLen: sc.normLen, endsNL: sc.endsNL})
}

func (p *plan) attLeaf(parent int, a *transport.Attachment) {
	n := node{kind: srcAtt, att: a, enc: cteBase64}
	if a.Data != nil && strings.HasPrefix(strings.ToLower(a.ContentType), "text/") {
		// Text held in memory goes out as it is when it can: the file's exact bytes.
		if sc := scanBody(a.Data); verbatim7bit(&sc) {
			n.enc, n.endsNL = cte7bit, sc.endsNL
		}
	}
	p.add(parent, n)
}

// header order (after any DKIM-Signature fields, which go first).
var reserved = []string{"From", "Sender", "To", "Cc", "Bcc", "Reply-To", "Subject", "Date",
	"Message-Id", "Mime-Version", "Content-Type", "Content-Transfer-Encoding",
	"Content-Disposition", "Content-Id"}

func (p *plan) mainHeader(m *transport.Message) error {
	h := &p.h
	p.main.start = len(h.b)

	// Check the extra fields first: their names and values decide where they go.
	sender := -1
	for i, f := range m.Headers {
		if err := checkFieldName(f.Name); err != nil {
			return invalid("Headers[%d]: %v", i, err)
		}
		if strings.ContainsAny(f.Value, "\r\n") {
			return invalid("Headers[%d] (%s) contains CR or LF: header values are one line, long ones are folded for you", i, f.Name)
		}
		for _, r := range reserved {
			if strings.EqualFold(f.Name, r) {
				if r == "Sender" {
					if sender >= 0 {
						return invalid("Headers has two Sender fields: a message has at most one")
					}
					sender = i
					break
				}
				return invalid("Headers[%d] is %s, which is written from the Message's own fields: set those instead", i, f.Name)
			}
		}
	}
	for _, f := range m.Headers {
		if strings.EqualFold(f.Name, "DKIM-Signature") {
			if err := h.extra(f); err != nil {
				return err
			}
		}
	}

	if m.From.Address == "" {
		return invalid("From has no address: set Message.From")
	}
	if err := h.addressField("From", []mail.Address{m.From}); err != nil {
		return err
	}
	if sender >= 0 {
		if err := h.extra(m.Headers[sender]); err != nil {
			return err
		}
	}
	for _, l := range [...]struct {
		name  string
		addrs []mail.Address
	}{{"To", m.To}, {"Cc", m.Cc}, {"Reply-To", m.ReplyTo}} {
		if len(l.addrs) == 0 {
			continue
		}
		if err := h.addressField(l.name, l.addrs); err != nil {
			return err
		}
	}
	if m.Subject != "" {
		if strings.ContainsAny(m.Subject, "\r\n") {
			return invalid("Subject contains CR or LF: a subject is one line")
		}
		h.field("Subject")
		h.unstructured(m.Subject)
		h.end()
	}
	if m.Date.IsZero() {
		return invalid("Date is zero: set it once per message (mailer.Client does) so every render is the same")
	}
	if y := m.Date.Year(); y < 1900 || y > 9999 {
		return invalid("Date %v is out of range: use a year from 1900 to 9999", m.Date)
	}
	h.field("Date")
	h.sep(len(" Mon, 02 Jan 2006 15:04:05 -0700")-1, false)
	h.b = m.Date.AppendFormat(h.b, "Mon, 02 Jan 2006 15:04:05 -0700")
	h.end()
	if err := checkMessageID(m.MessageID); err != nil {
		return err
	}
	h.field("Message-ID")
	h.sep(len(m.MessageID)+2, false)
	h.b = append(h.b, '<')
	h.b = append(h.b, m.MessageID...)
	h.b = append(h.b, '>')
	h.end()
	h.b = append(h.b, "MIME-Version: 1.0\r\n"...)
	for i, f := range m.Headers {
		if i == sender || strings.EqualFold(f.Name, "DKIM-Signature") {
			continue
		}
		if err := h.extra(f); err != nil {
			return err
		}
	}
	p.main.end = len(h.b)
	return nil
}

func checkFieldName(name string) error {
	if name == "" {
		return fmt.Errorf("empty header name")
	}
	if len(name) > 900 {
		return fmt.Errorf("header name of %d characters is too long", len(name))
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c < '!' || c > '~' || c == ':' {
			return fmt.Errorf("header name %q has %q, which a name cannot hold: use printable ASCII without spaces or colons", name, c)
		}
	}
	return nil
}

func checkMessageID(id string) error {
	if id == "" {
		return invalid("MessageID is empty: set it once per message (mailer.Client does) so retries and DKIM see the same message")
	}
	if len(id) > 900 {
		return invalid("MessageID is %d characters long: keep it under 900", len(id))
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c <= ' ' || c >= 0x7f || c == '<' || c == '>' {
			return invalid("MessageID %q holds %q: use a bare id of printable ASCII such as \"abc123@example.com\", without angle brackets", id, c)
		}
	}
	return nil
}

// extra appends an extra field: ASCII values as they are (folded at spaces), others as
// RFC 2047 encoded words.
func (h *hb) extra(f transport.Field) error {
	h.field(f.Name)
	switch {
	case !printableText(f.Value):
		h.encodedWords(f.Value)
	case f.Value == "":
		h.b = append(h.b, ' ')
		h.col++
	case foldable(f.Value, h.col):
		h.rawText(f.Value)
	default:
		return invalid("header %s has a run of characters without a space too long to fold under %d characters per line: shorten it", f.Name, maxLine)
	}
	h.end()
	return nil
}

// printableText reports printable ASCII and TAB.
func printableText(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < ' ' && c != '\t') || c >= 0x7f {
			return false
		}
	}
	return true
}

func (h *hb) addressField(name string, addrs []mail.Address) error {
	for i := range addrs {
		if err := checkAddr(&addrs[i]); err != nil {
			if len(addrs) == 1 && name == "From" {
				return invalid("From: %v", err)
			}
			return invalid("%s[%d]: %v", name, i, err)
		}
	}
	h.field(name)
	h.addressList(addrs)
	h.end()
	return nil
}

// checkAddr checks what address writes: an addr-spec and a one-line display name.
func checkAddr(a *mail.Address) error {
	if strings.ContainsAny(a.Name, "\r\n") {
		return fmt.Errorf("display name %q contains CR or LF: remove the line breaks", a.Name)
	}
	s := a.Address
	if strings.ContainsAny(s, "\r\n") {
		return fmt.Errorf("address %q contains CR or LF: remove the line breaks", s)
	}
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || at == len(s)-1 {
		return fmt.Errorf("address %q is not of the form local@domain: pass a bare address and put the name in Name", s)
	}
	if len(s) > 900 {
		return fmt.Errorf("address is %d characters long", len(s))
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("address %q is not valid UTF-8", s)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' || c == 0x7f {
			return fmt.Errorf("address %q holds control character %q", s, c)
		}
	}
	domain := s[at+1:]
	if domain[0] == '[' {
		// An address literal (RFC 5321 4.1.3): an IPv4 address or "IPv6:" and an IPv6 one.
		lit, ok := strings.CutSuffix(domain[1:], "]")
		v6, isV6 := strings.CutPrefix(lit, "IPv6:")
		ip, err := netip.ParseAddr(v6)
		if !ok || err != nil || ip.Zone() != "" || ip.Is4() == isV6 {
			return fmt.Errorf("address %q has a malformed address literal: use [192.0.2.1] or [IPv6:2001:db8::1]", s)
		}
		return nil
	}
	if !dotAtom(domain) {
		return fmt.Errorf("address %q has an invalid domain %q", s, domain)
	}
	return nil
}

// partHeader renders node i's Content-* fields.
func (p *plan) partHeader(i int) error {
	n := &p.nodes[i]
	h := &p.h
	n.hdr.start = len(h.b)
	if n.multipart {
		p.boundary(i)
		h.field("Content-Type")
		h.token(n.sub)
		if n.sub == relatedType {
			h.token(`type="text/html";`) // the root part's type, required by RFC 2387
		}
		h.sep(len(`boundary=""`)+n.bnd.end-n.bnd.start, false)
		h.b = append(h.b, `boundary="`...)
		h.b = append(h.b, h.b[n.bnd.start:n.bnd.end]...)
		h.b = append(h.b, '"')
		h.end()
		n.hdr.start = n.bnd.end // the boundary itself is not part of the header
		n.hdr.end = len(h.b)
		return nil
	}
	h.field("Content-Type")
	switch {
	case n.att != nil:
		mt, ps, err := attMediaType(n.att)
		if err != nil {
			return err
		}
		if !hasParam(ps, "name") && n.att.Filename != "" {
			ps = append(ps, filenameParams("name", n.att.Filename, false)...)
		}
		h.mediaType(mt, ps)
	case n.alt != nil:
		mt, ps, _ := parseMediaType(n.alt.ContentType) // checked in tree
		if n.kind == srcText && !hasParam(ps, "charset") {
			ps = append(ps, param{key: "charset", value: "utf-8"})
		}
		h.mediaType(mt, ps)
	case n.html:
		h.rawText("text/html; charset=utf-8")
	default:
		h.rawText("text/plain; charset=utf-8")
	}
	h.end()
	h.field("Content-Transfer-Encoding")
	h.token(n.enc.String())
	h.end()
	if a := n.att; a != nil {
		if err := checkFilename(a.Filename); err != nil {
			return err
		}
		h.field("Content-Disposition")
		disp := "attachment"
		if a.Inline {
			disp = "inline"
		}
		var ps []param
		if a.Filename != "" {
			ps = filenameParams("filename", a.Filename, true)
		}
		h.mediaType(disp, ps)
		h.end()
		if a.ContentID != "" {
			if err := checkContentID(a.ContentID); err != nil {
				return err
			}
			h.field("Content-ID")
			h.sep(len(a.ContentID)+2, false)
			h.b = append(h.b, '<')
			h.b = append(h.b, a.ContentID...)
			h.b = append(h.b, '>')
			h.end()
		}
	}
	n.hdr.end = len(h.b)
	return nil
}

func attMediaType(a *transport.Attachment) (string, []param, error) {
	if a.ContentType == "" {
		return "application/octet-stream", nil, nil
	}
	if strings.ContainsAny(a.ContentType, "\r\n") {
		return "", nil, invalid("attachment %q: ContentType contains CR or LF: remove the line breaks", a.Filename)
	}
	mt, ps, err := parseMediaType(a.ContentType)
	if err != nil {
		return "", nil, invalid("attachment %q: ContentType %q is not a media type (%v): use e.g. \"application/pdf\" or leave it empty", a.Filename, a.ContentType, err)
	}
	if strings.HasPrefix(mt, "multipart/") {
		return "", nil, invalid("attachment %q: ContentType %q: an attachment cannot be multipart; attach it as message/rfc822 or application/octet-stream", a.Filename, mt)
	}
	return mt, ps, nil
}

func checkFilename(name string) error {
	if strings.ContainsAny(name, "\r\n") {
		return invalid("attachment file name %q contains CR or LF: remove the line breaks", name)
	}
	if len(name) > 900 {
		return invalid("attachment file name is %d bytes long: keep it under 900", len(name))
	}
	return nil
}

func checkContentID(id string) error {
	if len(id) > 900 {
		return invalid("Content-ID is %d characters long: keep it under 900", len(id))
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c <= ' ' || c >= 0x7f || c == '<' || c == '>' {
			return invalid("ContentID %q holds %q: use a bare id of printable ASCII such as \"logo@shop.example\", without angle brackets or spaces", id, c)
		}
	}
	return nil
}

// boundary derives node i's boundary from the Message-ID and i, the node's position:
// "=_" and 24 hex digits. No encoded body can hold "=_" (quoted-printable writes "=" as
// "=3D", base64 has neither character), and 7bit bodies with a line starting "--=_" are
// sent quoted-printable instead, so the boundary never occurs in content.
func (p *plan) boundary(i int) {
	p.sha = append(p.sha[:0], p.m.MessageID...)
	p.sha = append(p.sha, 0, byte(i>>8), byte(i))
	sum := sha256.Sum256(p.sha)
	h := &p.h
	n := &p.nodes[i]
	n.bnd.start = len(h.b)
	h.b = append(h.b, '=', '_')
	for _, c := range sum[:12] {
		h.b = append(h.b, lowerHex[c>>4], lowerHex[c&15])
	}
	n.bnd.end = len(h.b)
}

const lowerHex = "0123456789abcdef"
