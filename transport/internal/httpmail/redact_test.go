package httpmail_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/postiemail/postie/transport/mailgunmail"
	"github.com/postiemail/postie/transport/postmarkmail"
	"github.com/postiemail/postie/transport/resendmail"
	"github.com/postiemail/postie/transport/sendgridmail"
	"github.com/postiemail/postie/transport/sesmail"
)

// printedForms is v as every fmt verb, both slog handlers and encoding/json show it.
func printedForms(t *testing.T, v any) []string {
	t.Helper()
	var js, txt bytes.Buffer
	slog.New(slog.NewJSONHandler(&js, nil)).Info("m", "v", v)
	slog.New(slog.NewTextHandler(&txt, nil)).Info("m", "v", v)
	j, err := json.Marshal(v)
	if err != nil {
		t.Errorf("json.Marshal(%T): %v", v, err)
	}
	return []string{fmt.Sprintf("%v", v), fmt.Sprintf("%+v", v), fmt.Sprintf("%#v", v), fmt.Sprintf("%s", v),
		fmt.Sprint(v), js.String(), txt.String(), string(j)}
}

// Every provider's Options, and the URLOpener holding them, print without the secret,
// whatever prints them, and still show the other fields.
func TestProviderOptionsPrintNoSecret(t *testing.T) {
	const key = "SG.s3cret-KEY"
	for name, tc := range map[string]struct {
		v    any
		want string // a field that must still show
	}{
		"sendgridmail.Options":   {sendgridmail.Options{APIKey: key, BaseURL: "https://b.test"}, "https://b.test"},
		"*sendgridmail.Options":  {&sendgridmail.Options{APIKey: key, SandboxMode: true}, "SandboxMode"},
		"sendgridmail.URLOpener": {sendgridmail.URLOpener{Options: sendgridmail.Options{APIKey: key}}, "APIKey"},
		"mailgunmail.Options":    {mailgunmail.Options{APIKey: key, Domain: "mg.example.com"}, "mg.example.com"},
		"mailgunmail.URLOpener":  {&mailgunmail.URLOpener{Options: mailgunmail.Options{APIKey: key}}, "APIKey"},
		"postmarkmail.Options":   {postmarkmail.Options{ServerToken: key, MessageStream: "outbound"}, "outbound"},
		"postmarkmail.URLOpener": {postmarkmail.URLOpener{Options: postmarkmail.Options{ServerToken: key}}, "ServerToken"},
		"resendmail.Options":     {resendmail.Options{APIKey: key}, "APIKey"},
		"resendmail.URLOpener":   {resendmail.URLOpener{Options: resendmail.Options{APIKey: key}}, "APIKey"},
		"sesmail.Options": {sesmail.Options{Region: "eu-west-1", HTTPClient: http.DefaultClient,
			Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", key, key)}, "eu-west-1"},
		"sesmail.URLOpener": {&sesmail.URLOpener{Options: sesmail.Options{Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", key, key)}},
			"StaticCredentialsProvider"},
		"[]sendgridmail.Options":  {[]sendgridmail.Options{{APIKey: key}}, "APIKey"},
		"map of postmark options": {map[string]postmarkmail.Options{"a": {ServerToken: key}}, "ServerToken"},
	} {
		for _, s := range printedForms(t, tc.v) {
			if strings.Contains(s, key) {
				t.Errorf("%s printed as %q", name, s)
			}
			if !strings.Contains(s, tc.want) {
				t.Errorf("%s printed as %q, without %q", name, s, tc.want)
			}
		}
	}
	if s := fmt.Sprintf("%#v", sendgridmail.Options{APIKey: key}); !strings.HasPrefix(s, `sendgridmail.Options{APIKey:"[redacted]"`) {
		t.Errorf("%%#v = %s", s)
	}
	if s := fmt.Sprint(resendmail.Options{}); strings.Contains(s, "redacted") {
		t.Errorf("an unset key shows as set: %s", s)
	}
}
