// Package redact prints option values with their secrets masked. A type that holds a
// secret (an API key, a private key, a URL with a password) defines a methodless copy of
// itself with the secret replaced, and two methods that print and encode that copy:
//
//	func (o Options) Format(f fmt.State, verb rune)  { redact.Format(f, verb, "pkg.Options", o.printed()) }
//	func (o Options) MarshalJSON() ([]byte, error) { return json.Marshal(o.printed()) }
//
// Format serves every fmt verb (%v, %+v, %#v, %s) and log/slog's text handler; MarshalJSON
// serves encoding/json and slog's JSON handler.
package redact

import (
	"fmt"
	"io"
	"strings"
)

// Redacted stands in for a secret.
const Redacted = "[redacted]"

// Mask returns Redacted for a set secret and "" for an unset one, so printed options tell
// whether a secret is set, never what it is.
func Mask(secret string) string {
	if secret == "" {
		return ""
	}
	return Redacted
}

// Format prints v, the masked copy of a value of the type typeName ("sendgridmail.Options"):
// %#v as Go syntax under typeName, any other verb as %+v prints v.
func Format(f fmt.State, verb rune, typeName string, v any) {
	if verb == 'v' && f.Flag('#') {
		s := fmt.Sprintf("%#v", v)
		if i := strings.IndexByte(s, '{'); i >= 0 {
			s = typeName + s[i:]
		}
		io.WriteString(f, s)
		return
	}
	fmt.Fprintf(f, "%+v", v)
}
