package mime

import "unicode/utf8"

// maxLine is RFC 5322's hard limit on a line, CRLF excluded.
const maxLine = 998

// cte is a Content-Transfer-Encoding.
type cte uint8

const (
	cte7bit cte = iota
	cte8bit
	cteQP
	cteBase64
)

func (c cte) String() string {
	switch c {
	case cte8bit:
		return "8bit"
	case cteQP:
		return "quoted-printable"
	case cteBase64:
		return "base64"
	}
	return "7bit"
}

// scan describes a body's content; lengths count lines after CRLF normalization.
type scan struct {
	normLen  int64 // length with every CR, LF and CRLF written as CRLF
	longest  int   // longest line, line break excluded
	nonASCII bool  // a byte >= 0x80
	ctl      bool  // a control byte other than TAB, CR, LF (NUL, DEL, ...)
	bare     bool  // a CR or LF that is not part of a CRLF pair
	delim    bool  // a line starts with "--=_", which could close a part (see boundary)
	endsNL   bool  // the last byte is a line break
}

func scanBody[T string | []byte](s T) scan {
	var r scan
	line := 0 // bytes in the current line so far
	n := len(s)
	r.normLen = int64(n)
	for i := 0; i < n; i++ {
		c := s[i]
		if line == 0 && c == '-' && i+3 < n && s[i+1] == '-' && s[i+2] == '=' && s[i+3] == '_' {
			r.delim = true
		}
		switch {
		case c == '\r' || c == '\n':
			if c == '\r' && i+1 < n && s[i+1] == '\n' {
				i++
			} else {
				r.bare = true
				r.normLen++
			}
			if line > r.longest {
				r.longest = line
			}
			line = 0
			continue
		case c >= 0x80:
			r.nonASCII = true
		case c < 0x20 && c != '\t', c == 0x7f:
			r.ctl = true
		}
		line++
	}
	if line > r.longest {
		r.longest = line
	}
	r.endsNL = n > 0 && (s[n-1] == '\n' || s[n-1] == '\r')
	return r
}

// textCTE picks the encoding of a text body that is written with normalized line breaks.
func textCTE[T string | []byte](s T, sc *scan, allow8Bit bool) cte {
	if sc.ctl || sc.longest > maxLine || sc.delim {
		return cteQP
	}
	if !sc.nonASCII {
		return cte7bit
	}
	if allow8Bit && validUTF8(s) {
		return cte8bit
	}
	return cteQP
}

func validUTF8[T string | []byte](s T) bool {
	switch v := any(s).(type) {
	case string:
		return utf8.ValidString(v)
	case []byte:
		return utf8.Valid(v)
	}
	return false
}

// verbatim7bit reports whether bytes can go out unchanged as 7bit: ASCII, no controls,
// CRLF line breaks only, short lines, and nothing that looks like a boundary.
func verbatim7bit(sc *scan) bool {
	return !sc.nonASCII && !sc.ctl && !sc.bare && !sc.delim && sc.longest <= maxLine
}

// text writes s, which starts at the beginning of a line, with every CR, LF or CRLF as
// CRLF; with o.stuff, every line that starts with "." gets one more.
func (o *out) text(s string) {
	for len(s) > 0 {
		if o.stuff && s[0] == '.' {
			o.str(".")
		}
		i := indexNL(s)
		if i < 0 {
			o.str(s)
			return
		}
		o.str(s[:i])
		o.str("\r\n")
		if s[i] == '\r' && i+1 < len(s) && s[i+1] == '\n' {
			i++
		}
		s = s[i+1:]
	}
}

func indexNL(s string) int {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '\n' || c == '\r' {
			return i
		}
	}
	return -1
}

const upperHex = "0123456789ABCDEF"

// qpMax is the longest quoted-printable line before a soft break's "=": lines stay <= 76.
const qpMax = 75

// qp writes s quoted-printable (RFC 2045 6.7) with its line breaks as hard CRLF breaks.
// A "." that would start a line is encoded as "=2E", so no line of the output starts with
// one and SMTP's dot-stuffing never applies to it. It reports whether the output ends
// with a hard line break.
func (o *out) qp(s string) bool {
	if o.counting {
		return o.qpCount(s)
	}
	col := 0
	var tok [3]byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\r' || c == '\n' {
			if c == '\r' && i+1 < len(s) && s[i+1] == '\n' {
				i++
			}
			o.str("\r\n")
			col = 0
			continue
		}
		// Fast path: a run of literal characters that fits on the line.
		if c >= '!' && c <= '~' && c != '=' && (c != '.' || col > 0) {
			j := i + 1
			lim := i + (qpMax - col)
			if lim > len(s) {
				lim = len(s)
			}
			for j < lim {
				d := s[j]
				if d < '!' || d > '~' || d == '=' {
					break
				}
				j++
			}
			if col+(j-i) > qpMax {
				o.str("=\r\n")
				col = 0
				i--
				continue
			}
			o.str(s[i:j])
			col += j - i
			i = j - 1
			continue
		}
		n := 3
		if (c == ' ' || c == '\t') && !lineEnds(s, i+1) {
			n = 1
		}
		if col+n > qpMax {
			o.str("=\r\n")
			col = 0
		}
		if n == 1 {
			tok[0] = c
		} else {
			tok[0], tok[1], tok[2] = '=', upperHex[c>>4], upperHex[c&15]
		}
		o.bytes(tok[:n])
		col += n
	}
	return len(s) > 0 && (s[len(s)-1] == '\n' || s[len(s)-1] == '\r')
}

// qpCount adds to o.n what qp would write, without building it.
func (o *out) qpCount(s string) bool {
	col := 0
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\r' || c == '\n' {
			if c == '\r' && i+1 < len(s) && s[i+1] == '\n' {
				i++
			}
			n += 2
			col = 0
			continue
		}
		k := 3
		switch {
		case c >= '!' && c <= '~' && c != '=' && (c != '.' || col > 0):
			k = 1
		case (c == ' ' || c == '\t') && !lineEnds(s, i+1):
			k = 1
		}
		if col+k > qpMax {
			n += 3
			col = 0
			if c == '.' {
				k = 3 // now at the start of a line: "=2E"
			}
		}
		n += int64(k)
		col += k
	}
	o.n += n
	return len(s) > 0 && (s[len(s)-1] == '\n' || s[len(s)-1] == '\r')
}

// lineEnds reports whether position i of s is the end of a line.
func lineEnds(s string, i int) bool {
	return i >= len(s) || s[i] == '\r' || s[i] == '\n'
}
