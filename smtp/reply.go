package smtp

import (
	"bufio"
	"errors"
	"io"

	"github.com/postiemail/postie/transport"
)

// Reply limits. RFC 5321 allows 512 bytes per reply line; real servers send longer ones,
// so the bound is generous but finite, and so is the number of lines.
const (
	MaxReplyLineLen = 4096 // bytes per line, CRLF included
	MaxReplyLines   = 100
)

// replyReader parses SMTP replies from r into reusable buffers, so replies that are only
// checked (250 to MAIL and RCPT) cost no allocation; reply() builds a transport.Reply when
// one is kept.
type replyReader struct {
	r     *bufio.Reader
	heard bool // a byte of a reply was read since the flag was last cleared
	code  int
	enh   transport.Enhanced
	text  []byte // the text of every line, concatenated
	ends  []int  // end offset in text of each line
}

// read reads one complete reply. An I/O error is returned as is; a malformed reply is an
// Internal error wrapping ErrProtocol, after which the connection is unusable.
// log, when non-nil, gets each raw line.
func (rr *replyReader) read(log func(line []byte)) error {
	rr.code = 0
	rr.enh = transport.Enhanced{}
	rr.text = rr.text[:0]
	rr.ends = rr.ends[:0]
	for n := 0; ; n++ {
		line, err := rr.r.ReadSlice('\n')
		if len(line) > 0 {
			rr.heard = true
		}
		if err != nil {
			if errors.Is(err, bufio.ErrBufferFull) {
				return protocolf("reply line longer than %d bytes", MaxReplyLineLen)
			}
			if err == io.EOF && len(line) > 0 {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
		line = trimEOL(line)
		if log != nil {
			log(line)
		}
		if n == MaxReplyLines {
			return protocolf("reply longer than %d lines", MaxReplyLines)
		}
		code, more, text, ok := parseReplyLine(line)
		if !ok {
			return protocolf("malformed reply line %q", clip(line))
		}
		if n == 0 {
			rr.code = code
		} else if code != rr.code {
			return protocolf("reply line %q continues a %d reply with another code", clip(line), rr.code)
		}
		if enh, rest, ok := parseEnhanced(text, code); ok {
			if n == 0 {
				rr.enh = enh
			}
			if enh == rr.enh {
				text = rest
			}
		}
		rr.text = append(rr.text, text...)
		rr.ends = append(rr.ends, len(rr.text))
		if !more {
			return nil
		}
	}
}

// reply returns the last reply read as a transport.Reply (allocating).
func (rr *replyReader) reply() *transport.Reply {
	r := &transport.Reply{Code: rr.code, Enhanced: rr.enh, Lines: make([]string, len(rr.ends))}
	all := string(rr.text)
	start := 0
	for i, end := range rr.ends {
		r.Lines[i] = all[start:end]
		start = end
	}
	return r
}

// line returns the text of line i of the last reply, without allocating.
func (rr *replyReader) line(i int) []byte {
	start := 0
	if i > 0 {
		start = rr.ends[i-1]
	}
	return rr.text[start:rr.ends[i]]
}

func trimEOL(line []byte) []byte {
	line = line[:len(line)-1] // the '\n'
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	return line
}

// parseReplyLine splits "250-text", "250 text" or "250" into its parts.
func parseReplyLine(line []byte) (code int, more bool, text []byte, ok bool) {
	if len(line) < 3 {
		return 0, false, nil, false
	}
	c0, c1, c2 := line[0], line[1], line[2]
	if c0 < '2' || c0 > '5' || c1 < '0' || c1 > '9' || c2 < '0' || c2 > '9' {
		return 0, false, nil, false
	}
	code = int(c0-'0')*100 + int(c1-'0')*10 + int(c2-'0')
	if len(line) == 3 {
		return code, false, nil, true
	}
	switch line[3] {
	case ' ':
		return code, false, line[4:], true
	case '-':
		return code, true, line[4:], true
	}
	return 0, false, nil, false
}

// parseEnhanced parses an RFC 2034 enhanced status code at the start of text: class
// "." subject "." detail, followed by a space or the end. The class must agree with the
// reply code's first digit (RFC 3463: 2, 4 or 5).
func parseEnhanced(text []byte, code int) (e transport.Enhanced, rest []byte, ok bool) {
	if len(text) < 5 || int(text[0]-'0') != code/100 || text[1] != '.' {
		return e, text, false
	}
	e[0] = code / 100
	i := 2
	for part := 1; part < 3; part++ {
		n, digits := 0, 0
		for i < len(text) && text[i] >= '0' && text[i] <= '9' && digits < 3 {
			n = n*10 + int(text[i]-'0')
			i++
			digits++
		}
		if digits == 0 {
			return transport.Enhanced{}, text, false
		}
		e[part] = n
		if part == 1 {
			if i >= len(text) || text[i] != '.' {
				return transport.Enhanced{}, text, false
			}
			i++
		}
	}
	switch {
	case i == len(text):
		return e, text[i:], true
	case text[i] == ' ':
		return e, text[i+1:], true
	}
	return transport.Enhanced{}, text, false
}

// clip shortens a line for an error message.
func clip(b []byte) string {
	const n = 80
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}
