package mailer

import (
	"net/url"
	"strings"
)

// redactedText replaces what RedactURL hides.
const redactedText = "xxxxx"

// RedactURL returns rawurl fit for an error message, a log line or a String method: the
// password and the value of every query parameter are replaced by "xxxxx", so neither a
// password nor a key pasted into a parameter (?api_key=...) is shown. A URL that does not
// parse is redacted too: everything between "://" and the last "@" (a password may hold
// "/", "?" or "#") and everything after the first "?" or "#" that follows. The members of
// a composite URL ("failover(URL URL ...)") are redacted one by one.
//
// Drivers use it in their URL errors; the user name stays visible.
func RedactURL(rawurl string) string {
	if name, args, ok := splitComposite(strings.TrimSpace(rawurl)); ok {
		for i, a := range args {
			args[i] = RedactURL(a)
		}
		return name + "(" + strings.Join(args, " ") + ")"
	}
	u, err := url.Parse(rawurl)
	if err != nil {
		return redactRaw(rawurl)
	}
	s := redactParsed(u)
	// url.URL.String drops the "//" of an empty authority ("sendgrid://?region=eu").
	if n := len(u.Scheme); n > 0 && strings.HasPrefix(rawurl[n:], "://") && !strings.HasPrefix(s[n:], "://") {
		s = s[:n] + "://" + s[n+1:]
	}
	return s
}

func redactParsed(u *url.URL) string {
	c := *u
	if i := strings.LastIndexByte(c.Opaque, '@'); i >= 0 {
		// "user:secret@host" (a forgotten "smtp://") parses as scheme "user", opaque "secret@host".
		c.Opaque = redactedText + c.Opaque[i:]
	}
	if c.RawQuery != "" || c.ForceQuery {
		parts := strings.Split(c.RawQuery, "&")
		for i, p := range parts {
			if k, _, ok := strings.Cut(p, "="); ok {
				parts[i] = k + "=" + redactedText
			} else if p != "" {
				parts[i] = redactedText // a bare value: it may be the key itself
			}
		}
		c.RawQuery, c.ForceQuery = strings.Join(parts, "&"), false
	}
	if c.Fragment != "" {
		c.Fragment, c.RawFragment = redactedText, ""
	}
	return c.Redacted()
}

// redactRaw redacts a URL that did not parse (see RedactURL).
func redactRaw(s string) string {
	prefix, rest, ok := strings.Cut(s, "://")
	if ok {
		prefix += "://"
	} else {
		prefix, rest = "", s
	}
	if at := strings.LastIndexByte(rest, '@'); at >= 0 {
		rest = redactedText + rest[at:]
	}
	if q := strings.IndexAny(rest, "?#"); q >= 0 {
		rest = rest[:q+1] + redactedText
	}
	return prefix + rest
}

// parseProblem says why url.Parse refused rawurl. It keeps url.Parse's reason only when
// the URL has no user information: the reason may quote a piece of the password (a
// password holding "/" ends the host early and its start is reported as an invalid port).
func parseProblem(rawurl string, err error) string {
	if ue, ok := err.(*url.Error); ok && !strings.Contains(rawurl, "@") {
		return ue.Err.Error()
	}
	return "percent-encode reserved characters (such as / ? # @ :) in the user name and password"
}
