package smtp

import (
	"strconv"
	"strings"
)

// extensions is what an EHLO reply advertised.
type extensions struct {
	params map[string]string // keyword (upper case) -> parameters as sent
	size   int64             // SIZE limit in bytes; 0 when none was stated
	auth   []string          // SASL mechanisms, upper case, in the server's order

	pipelining, chunking, eightBit, smtpUTF8, dsn, enhanced, startTLS, requireTLS bool
}

// parseExtensions reads the keyword lines of an EHLO reply (every line but the first).
// Unknown keywords are kept; malformed lines are skipped, never fatal.
func parseExtensions(lines []string) extensions {
	x := extensions{params: make(map[string]string, len(lines))}
	for _, line := range lines {
		line = strings.TrimSpace(line)
		kw, params, _ := strings.Cut(line, " ")
		// Some old servers advertise "AUTH=LOGIN PLAIN" beside or instead of "AUTH ...".
		if k, v, ok := strings.Cut(kw, "="); ok && strings.EqualFold(k, "AUTH") {
			kw, params = k, strings.TrimSpace(v+" "+params)
		}
		if !validKeyword(kw) {
			continue
		}
		kw = strings.ToUpper(kw)
		params = strings.TrimSpace(params)
		switch kw {
		case "AUTH":
			for _, m := range strings.Fields(params) {
				m = strings.ToUpper(m)
				if !containsFold(x.auth, m) {
					x.auth = append(x.auth, m)
				}
			}
			params = strings.Join(x.auth, " ")
		case "SIZE":
			if n, err := strconv.ParseInt(params, 10, 64); err == nil && n > 0 {
				x.size = n
			}
		case "PIPELINING":
			x.pipelining = true
		case "CHUNKING":
			x.chunking = true
		case "8BITMIME":
			x.eightBit = true
		case "SMTPUTF8":
			x.smtpUTF8 = true
		case "DSN":
			x.dsn = true
		case "ENHANCEDSTATUSCODES":
			x.enhanced = true
		case "STARTTLS":
			x.startTLS = true
		case "REQUIRETLS":
			x.requireTLS = true
		}
		x.params[kw] = params
	}
	return x
}

// validKeyword reports whether s is an RFC 5321 ehlo-keyword: a letter or digit, then
// letters, digits and hyphens.
func validKeyword(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || c != '-') {
			return false
		}
	}
	return true
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}
