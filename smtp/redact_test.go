package smtp

import (
	"strings"
	"testing"
)

// A secret pasted into a parameter ParseURL does not know (a password or token given as
// ?password=...) must not come back in the error that names the parameter.
func TestParseURLErrorHidesQueryValues(t *testing.T) {
	const secret = "Pa55-w0rd"
	for _, u := range []string{
		"smtp://u@h?password=" + secret,
		"smtp://u@h?token=" + secret + "&tls=none",
		"smtp://u@h?tls=none&tls=" + secret,
	} {
		_, _, err := ParseURL(u)
		if err == nil {
			t.Errorf("ParseURL(%q) succeeded", u)
			continue
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("ParseURL(%q) error shows the secret: %q", u, err)
		}
	}
	_, _, err := ParseURL("smtp://u@h?password=" + secret)
	if err == nil || !strings.Contains(err.Error(), `unknown parameter "password"`) {
		t.Errorf("the error should still name the parameter: %v", err)
	}
}
