package mime

import (
	"encoding/base64"
	"net/mail"
	"strings"
	"unicode/utf8"
)

const (
	foldLimit = 78 // lines of a header field are folded to at most this many characters
	ewLimit   = 76 // ... or this many when the line holds an encoded word (RFC 2047 2)
	ewMax     = 75 // the longest encoded word (RFC 2047 2)
	ewPrefix  = len("=?UTF-8?Q?")
	ewSuffix  = len("?=")
)

// hb builds header fields, folding them as it goes.
type hb struct {
	b       []byte
	col     int  // length of the current line
	first   bool // no token written since the field name
	ew      bool // the current line holds an encoded word
	longest int  // longest line written
}

func (h *hb) field(name string) {
	h.b = append(h.b, name...)
	h.b = append(h.b, ':')
	h.col = len(name) + 1
	h.first, h.ew = true, false
}

func (h *hb) end() {
	h.note()
	h.b = append(h.b, '\r', '\n')
	h.col = 0
}

func (h *hb) note() {
	if h.col > h.longest {
		h.longest = h.col
	}
}

// sep starts a token of n bytes: a space, or a fold (CRLF space) when the token would
// not fit on the line. The caller then appends exactly n bytes.
func (h *hb) sep(n int, ew bool) {
	limit := foldLimit
	if ew || h.ew {
		limit = ewLimit
	}
	if !h.first && h.col+1+n > limit {
		h.fold()
	} else {
		h.b = append(h.b, ' ')
		h.col++
	}
	h.first = false
	h.col += n
	if ew {
		h.ew = true
	}
}

func (h *hb) fold() {
	h.note()
	h.b = append(h.b, "\r\n "...)
	h.col, h.ew = 1, false
}

// token appends s as one unbreakable token.
func (h *hb) token(s string) {
	h.sep(len(s), false)
	h.b = append(h.b, s...)
}

// foldable reports whether v can be written raw, folded only at single spaces between
// non-blank characters, with no line over maxLine when the field name takes col columns.
func foldable(v string, col int) bool {
	run := col + 1
	for i := 0; i < len(v); i++ {
		if isFoldPoint(v, i) {
			if run > maxLine {
				return false
			}
			run = 1
			continue
		}
		run++
	}
	return run <= maxLine
}

// isFoldPoint reports whether v[i] is a single space between two non-blank characters:
// folding there survives every unfolding parser (net/textproto joins lines with one space).
func isFoldPoint(v string, i int) bool {
	return v[i] == ' ' && i > 0 && i+1 < len(v) && !isWSP(v[i-1]) && !isWSP(v[i+1])
}

func isWSP(c byte) bool { return c == ' ' || c == '\t' }

// rawText appends v split into tokens at its fold points. v is printable ASCII (and TAB).
func (h *hb) rawText(v string) {
	start := 0
	for i := 0; i < len(v); i++ {
		if isFoldPoint(v, i) {
			h.token(v[start:i])
			start = i + 1
		}
	}
	h.token(v[start:])
}

// plainText reports whether an unstructured value can be written as it is: printable
// ASCII or TAB, no "=?" a decoder would take for an encoded word, no blank at either end
// (parsers trim it), and foldable.
func plainText(v string, col int) bool {
	if v == "" {
		return true
	}
	if isWSP(v[0]) || isWSP(v[len(v)-1]) || strings.Contains(v, "=?") {
		return false
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < ' ' && c != '\t') || c >= 0x7f {
			return false
		}
	}
	return foldable(v, col)
}

// unstructured appends an unstructured value (Subject, extra fields): raw when it can be,
// RFC 2047 encoded words otherwise.
func (h *hb) unstructured(v string) {
	if plainText(v, h.col) {
		if v == "" {
			h.b = append(h.b, ' ')
			h.col++
			return
		}
		h.rawText(v)
		return
	}
	h.encodedWords(v)
}

// qSafe are the bytes an RFC 2047 Q word may carry literally in every context (5(3)).
func qSafe(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '!' || c == '*' || c == '+' || c == '-' || c == '/'
}

func qLen(c byte) int {
	if qSafe(c) || c == ' ' {
		return 1
	}
	return 3
}

// encodedWords appends v as UTF-8 encoded words, each at most 75 characters and holding
// whole characters, on lines of at most 76. It picks Q or B, whichever is shorter.
func (h *hb) encodedWords(v string) {
	q := 0
	for i := 0; i < len(v); i++ {
		q += qLen(v[i])
	}
	// Q keeps Latin text readable; B is shorter for most other scripts.
	useB := q > (len(v)+2)/3*4*4/3
	for len(v) > 0 {
		room := ewLimit - h.col - 1
		if room > ewMax {
			room = ewMax
		}
		k, n := fitWord(v, room-ewPrefix-ewSuffix, useB)
		if k == 0 {
			h.fold()
			h.first = true // the fold's space separates the word
			h.b = h.b[:len(h.b)-1]
			h.col = 0
			continue
		}
		h.sep(ewPrefix+n+ewSuffix, true)
		if useB {
			h.b = append(h.b, "=?UTF-8?B?"...)
			var tmp [ewMax]byte
			h.b = base64.StdEncoding.AppendEncode(h.b, tmp[:copy(tmp[:], v[:k])])
		} else {
			h.b = append(h.b, "=?UTF-8?Q?"...)
			for i := 0; i < k; i++ {
				switch c := v[i]; {
				case qSafe(c):
					h.b = append(h.b, c)
				case c == ' ':
					h.b = append(h.b, '_')
				default:
					h.b = append(h.b, '=', upperHex[c>>4], upperHex[c&15])
				}
			}
		}
		h.b = append(h.b, "?="...)
		v = v[k:]
	}
}

// fitWord returns how many bytes k of v (whole characters) fit in an encoded word's
// payload of at most max characters, and the payload length n.
func fitWord(v string, max int, useB bool) (k, n int) {
	for k < len(v) {
		_, size := utf8.DecodeRuneInString(v[k:])
		var m int
		if useB {
			m = (k + size + 2) / 3 * 4
		} else {
			m = n
			for i := k; i < k+size; i++ {
				m += qLen(v[i])
			}
		}
		if m > max {
			break
		}
		k += size
		n = m
	}
	return k, n
}

// addressList appends addrs separated by commas.
func (h *hb) addressList(addrs []mail.Address) {
	for i := range addrs {
		h.address(&addrs[i], i < len(addrs)-1)
	}
}

// address appends one mailbox: "addr", `name <addr>`, `"quoted, name" <addr>` or
// encoded words followed by <addr>. The address was checked by checkAddr.
func (h *hb) address(a *mail.Address, comma bool) {
	local, domain := splitAddr(a.Address)
	quote := !dotAtom(local)
	n := len(local) + 1 + len(domain)
	if quote {
		n += 2 + strings.Count(local, `"`) + strings.Count(local, `\`)
	}
	if a.Name != "" {
		n += 2
		switch {
		case atomPhrase(a.Name):
			h.rawText(a.Name)
		case quotablePhrase(a.Name):
			h.quotedPhrase(a.Name)
		default:
			h.encodedWords(a.Name)
		}
	}
	if comma {
		n++
	}
	h.sep(n, false)
	if a.Name != "" {
		h.b = append(h.b, '<')
	}
	if quote {
		h.b = appendQuoted(h.b, local)
	} else {
		h.b = append(h.b, local...)
	}
	h.b = append(h.b, '@')
	h.b = append(h.b, domain...)
	if a.Name != "" {
		h.b = append(h.b, '>')
	}
	if comma {
		h.b = append(h.b, ',')
	}
}

func splitAddr(addr string) (local, domain string) {
	i := strings.LastIndexByte(addr, '@')
	return addr[:i], addr[i+1:]
}

// isAtext reports RFC 5322 atext, extended to UTF-8 by RFC 6532.
func isAtext(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c >= 0x80 ||
		strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0
}

func dotAtom(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '.' {
			if s[i-1] == '.' {
				return false
			}
			continue
		}
		if !isAtext(c) {
			return false
		}
	}
	return true
}

// atomPhrase reports whether a display name is ASCII atoms separated by single spaces.
func atomPhrase(s string) bool {
	if s == "" || strings.Contains(s, "=?") || !foldable(s, 40) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == ' ' {
			if !isFoldPoint(s, i) {
				return false
			}
			continue
		}
		if c >= 0x80 || !isAtext(c) {
			return false
		}
	}
	return true
}

// quotablePhrase reports whether a display name can be a quoted-string: printable ASCII.
func quotablePhrase(s string) bool {
	if strings.Contains(s, "=?") || !foldable(s, 40) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' || c >= 0x7f {
			return false
		}
	}
	return true
}

// quotedPhrase appends s as a quoted-string, folded at its fold points (RFC 5322 allows
// folding white space inside quotes; unfolding gives back the same single space).
func (h *hb) quotedPhrase(s string) {
	start := 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) && !isFoldPoint(s, i) {
			continue
		}
		seg := s[start:i]
		n := quotedLen(seg) - 2
		if start == 0 {
			n++
		}
		if i == len(s) {
			n++
		}
		h.sep(n, false)
		if start == 0 {
			h.b = append(h.b, '"')
		}
		for j := 0; j < len(seg); j++ {
			if c := seg[j]; c == '"' || c == '\\' {
				h.b = append(h.b, '\\')
			}
			h.b = append(h.b, seg[j])
		}
		if i == len(s) {
			h.b = append(h.b, '"')
		}
		start = i + 1
	}
}

func quotedLen(s string) int { return len(s) + 2 + strings.Count(s, `"`) + strings.Count(s, `\`) }

func appendQuoted(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '"' || c == '\\' {
			b = append(b, '\\')
		}
		b = append(b, s[i])
	}
	return append(b, '"')
}
