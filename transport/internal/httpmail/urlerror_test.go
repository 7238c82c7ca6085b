package httpmail

import (
	"net/url"
	"strings"
	"testing"
)

// Neither a base URL nor a transport URL may bring a secret back in its error: url.Parse's
// error quotes the whole URL, a key may be pasted as the user name or into a parameter.
func TestURLErrorsHideSecrets(t *testing.T) {
	const secret = "SG.s3cret-KEY"
	for _, base := range []string{
		"https://api:" + secret + "/x@api.example.com", // does not parse
		"https://" + secret + "@api.example.com",       // a key as the user name
		"https://api:" + secret + "@api.example.com",
		"https://api.example.com?key=" + secret,
		"http://api.example.com?key=" + secret,
		"ftp://" + secret + "@x",
	} {
		_, err := BaseURL("p", base, "https://d.example")
		if err == nil || strings.Contains(err.Error(), secret) {
			t.Errorf("BaseURL(%q): %v", base, err)
		}
	}
	for _, raw := range []string{"sendgrid://?api_key=" + secret, "sendgrid://" + secret + "@", "sendgrid://apikey:" + secret + "@"} {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		_, err = URLParams("p", u, "region")
		if err == nil || strings.Contains(err.Error(), secret) {
			t.Errorf("URLParams(%q): %v", raw, err)
		}
	}
	u, _ := url.Parse("sendgrid://?api_key=" + secret)
	if _, err := URLParams("p", u, "region"); err == nil || !strings.Contains(err.Error(), `unknown parameter "api_key"`) {
		t.Errorf("the error should name the parameter: %v", err)
	}
}
