package mime

import (
	"errors"
	stdmime "mime"
	"slices"
	"strings"
	"unicode/utf8"
)

// param is one media-type parameter to write.
type param struct {
	key, value string
	ext        bool // always write the RFC 2231 extended form (key*=)
	quote      bool // quote the value even when it is a token (file names, for old clients)
}

// mediaType appends "type/subtype; k=v; ..." with parameters in the given order, folding
// between parameters. Values are tokens, quoted strings, or RFC 2231 encoded (with
// continuations) when they are not ASCII or too long for one line.
func (h *hb) mediaType(mt string, params []param) {
	n := len(mt)
	if len(params) > 0 {
		n++
	}
	h.sep(n, false)
	h.b = append(h.b, mt...)
	if len(params) > 0 {
		h.b = append(h.b, ';')
	}
	for i, p := range params {
		h.param(p, i < len(params)-1)
	}
}

// param appends key=value, followed by ';' when more follows.
func (h *hb) param(p param, more bool) {
	key, value := p.key, p.value
	semi := 0
	if more {
		semi = 1
	}
	switch {
	case p.ext:
		h.param2231(key, value, more)
		return
	case !p.quote && isToken(value) && len(key)+1+len(value)+semi <= foldLimit-2:
		h.sep(len(key)+1+len(value)+semi, false)
		h.b = append(h.b, key...)
		h.b = append(h.b, '=')
		h.b = append(h.b, value...)
	case printableASCII(value) && len(key)+1+quotedLen(value)+semi <= foldLimit-2:
		h.sep(len(key)+1+quotedLen(value)+semi, false)
		h.b = append(h.b, key...)
		h.b = append(h.b, '=')
		h.b = appendQuoted(h.b, value)
	default:
		h.param2231(key, value, more)
		return
	}
	if more {
		h.b = append(h.b, ';')
	}
}

// param2231 appends the RFC 2231 extended form (key*=, charset UTF-8, percent-encoded),
// split into key*0*=, key*1*=, ... segments of whole characters when one line cannot
// hold it (RFC 2231 sections 3 and 4).
func (h *hb) param2231(key, value string, more bool) {
	const charset = "UTF-8''"
	// Room for one segment's value: " key*NN*=" + value + ";" within foldLimit.
	budget := foldLimit - 1 - len(key) - len("*NN*=") - 1
	if whole := pctLen(value); len(key)+2+len(charset)+whole+1 <= foldLimit-1 {
		h.sep(len(key)+2+len(charset)+whole+boolInt(more), false)
		h.b = append(h.b, key...)
		h.b = append(h.b, "*="+charset...)
		h.b = appendPct(h.b, value)
		if more {
			h.b = append(h.b, ';')
		}
		return
	}
	for seg := 0; value != ""; seg++ {
		room := budget
		if seg == 0 {
			room -= len(charset)
		}
		k, n := 0, 0
		for k < len(value) {
			_, size := utf8.DecodeRuneInString(value[k:])
			m := pctLen(value[k : k+size])
			if n+m > room && k > 0 {
				break
			}
			k += size
			n += m
		}
		last := k == len(value)
		idx := itoa(seg)
		tl := len(key) + 1 + len(idx) + 2 + n
		if seg == 0 {
			tl += len(charset)
		}
		if !last || more {
			tl++
		}
		h.sep(tl, false)
		h.b = append(h.b, key...)
		h.b = append(h.b, '*')
		h.b = append(h.b, idx...)
		h.b = append(h.b, "*="...)
		if seg == 0 {
			h.b = append(h.b, charset...)
		}
		h.b = appendPct(h.b, value[:k])
		if !last || more {
			h.b = append(h.b, ';')
		}
		value = value[k:]
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func itoa(i int) string {
	const digits = "0123456789"
	if i < 10 {
		return digits[i : i+1]
	}
	return itoa(i/10) + digits[i%10:i%10+1]
}

// attrChar is RFC 2231 / RFC 5987 attribute-char: what a parameter value carries unescaped.
func attrChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		strings.IndexByte("!#$&+-.^_`|~", c) >= 0
}

func pctLen(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		if attrChar(s[i]) {
			n++
		} else {
			n += 3
		}
	}
	return n
}

func appendPct(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; attrChar(c) {
			b = append(b, c)
		} else {
			b = append(b, '%', upperHex[c>>4], upperHex[c&15])
		}
	}
	return b
}

// isToken reports an RFC 2045 token: printable ASCII without space or tspecials.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`()<>@,;:\"/[]?=`, c) >= 0 {
			return false
		}
	}
	return true
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' || c >= 0x7f {
			return false
		}
	}
	return true
}

// parseMediaType checks a caller's media type and returns it lowercased with its
// parameters sorted by name, so the output does not depend on how it was spelled.
func parseMediaType(v string) (string, []param, error) {
	mt, ps, err := stdmime.ParseMediaType(v)
	if err != nil {
		return "", nil, err
	}
	if typ, sub, ok := strings.Cut(mt, "/"); !ok || typ == "" || sub == "" {
		return "", nil, errors.New("no type/subtype")
	}
	out := make([]param, 0, len(ps)+2)
	for k, v := range ps {
		out = append(out, param{key: k, value: v})
	}
	slices.SortFunc(out, func(a, b param) int { return strings.Compare(a.key, b.key) })
	return mt, out, nil
}

func hasParam(ps []param, key string) bool {
	for _, p := range ps {
		if p.key == key {
			return true
		}
	}
	return false
}

// fallbackName is an ASCII stand-in for a file name, for clients that ignore RFC 2231:
// unsafe characters become '_' and long names are cut, keeping the extension.
func fallbackName(name string) string {
	const max = 60
	var b strings.Builder
	for _, r := range name {
		if r >= ' ' && r < 0x7f && r != '"' && r != '\\' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	s := b.String()
	if len(s) <= max {
		return s
	}
	ext := ""
	if i := strings.LastIndexByte(s, '.'); i >= 0 && len(s)-i <= 16 {
		ext = s[i:]
	}
	return s[:max-len(ext)] + ext
}

// filenameParams returns the parameters that carry a file name under key ("filename" or
// "name"): the name itself when it is short, printable ASCII; otherwise an ASCII fallback
// plus, with rfc2231, the exact name in the RFC 2231 extended form (key*=) for clients that read it.
func filenameParams(key, name string, rfc2231 bool) []param {
	if printableASCII(name) && len(key)+1+quotedLen(name)+1 <= foldLimit-2 {
		return []param{{key: key, value: name, quote: true}}
	}
	ps := []param{{key: key, value: fallbackName(name), quote: true}}
	if rfc2231 {
		ps = append(ps, param{key: key, value: name, ext: true})
	}
	return ps
}
