package postie_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/postiemail/postie"
	"github.com/postiemail/postie/middleware"
)

// A Config is the kind of value that gets logged at startup: its URL may carry an SMTP
// password and its DKIM options a private key, and neither may show.
func TestConfigPrintsNoSecret(t *testing.T) {
	const pass = "s3cret-Pa55"
	_, key, _ := ed25519.GenerateKey(nil)
	keyBytes := strings.Trim(fmt.Sprint([]byte(key.Seed()[:6])), "[]")
	for _, url := range []string{"smtp://app:" + pass + "@mail.example.com:587", "failover(smtp://app:" + pass + "@a mem://)", "sendgrid://?api_key=" + pass} {
		c := postie.Config{URL: url, DKIM: &middleware.DKIMOptions{Domain: "example.com", Selector: "s1", Signer: key}}
		var js, txt bytes.Buffer
		slog.New(slog.NewJSONHandler(&js, nil)).Info("config", "cfg", c)
		slog.New(slog.NewTextHandler(&txt, nil)).Info("config", "cfg", &c)
		j, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range []string{fmt.Sprintf("%v", c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c), fmt.Sprint(&c), js.String(), txt.String(), string(j)} {
			if strings.Contains(s, pass) || strings.Contains(s, keyBytes) {
				t.Errorf("%s: printed as %q", url, s)
			}
			if !strings.Contains(s, "xxxxx") {
				t.Errorf("%s: printed as %q, without the URL", url, s)
			}
		}
	}
}
