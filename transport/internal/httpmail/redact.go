package httpmail

import (
	"fmt"
	"strings"
)

// Redacted stands in for a secret in printed options.
const Redacted = "[redacted]"

// Mask returns Redacted for a set secret and "" for an unset one, so printed options tell
// whether a secret is set, never what it is.
func Mask(secret string) string {
	if secret == "" {
		return ""
	}
	return Redacted
}

// GoString renders v, a methodless copy of an options value with its secrets masked, as
// %#v does, under typeName, the name of the type it copies ("sendgridmail.Options").
func GoString(typeName string, v any) string {
	s := fmt.Sprintf("%#v", v)
	if i := strings.IndexByte(s, '{'); i >= 0 {
		return typeName + s[i:]
	}
	return s
}
