package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/postiemail/postie/smtp/smtptest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func flags(t *testing.T, args ...string) *cliFlags {
	t.Helper()
	f, err := parseFlags(args, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestLocalNeedsNoServer(t *testing.T) {
	var out bytes.Buffer
	if err := run(t.Context(), flags(t), &out); err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^env local: sent <[0-9a-f]+@example\.com> to you@example\.com through \*memmail\.Transport\nbackend id: mem-1\n$`).Match(out.Bytes()) {
		t.Errorf("output:\n%s", out.String())
	}
}

func TestSMTP(t *testing.T) {
	srv, err := smtptest.NewServer(&smtptest.ServerOptions{TLS: smtptest.NoTLS, Users: map[string]string{"app": "pw-from-env"}, InsecureAuth: true})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	t.Setenv("SMTP_PASSWORD", "pw-from-env")
	var out bytes.Buffer
	err = run(t.Context(), flags(t, "-env=smtp", "-smtp-addr="+srv.Addr(), "-smtp-tls=none", "-smtp-user=app", "-to=ann@example.org"), &out)
	if err != nil {
		t.Fatal(err)
	}
	msgs := srv.Messages()
	if len(msgs) != 1 || msgs[0].User != "app" || strings.Join(msgs[0].To, ",") != "ann@example.org" || !bytes.Contains(msgs[0].Raw, []byte("Subject: Welcome aboard")) {
		t.Fatalf("server got %+v", msgs)
	}
	if s := out.String(); !strings.Contains(s, "env smtp: sent <") || !strings.Contains(s, "through smtp://app@"+srv.Addr()) || strings.Contains(s, "pw-from-env") {
		t.Errorf("output:\n%s", s)
	}
}

func TestSES(t *testing.T) {
	var body []byte
	var auth string
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ = io.ReadAll(r.Body)
		auth = r.Header.Get("Authorization")
		if r.URL.Path != "/v2/email/outbound-emails" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"MessageId":"0102018e-ses-1"}`)
	}))
	defer api.Close()
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDMULTIENV")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "multienv-secret")
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	var out bytes.Buffer
	err := run(t.Context(), flags(t, "-env=ses", "-ses-region=eu-west-1", "-ses-endpoint="+api.URL, "-ses-configuration-set=welcome"), &out)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential=AKIDMULTIENV/") || !strings.Contains(auth, "/eu-west-1/ses/aws4_request") {
		t.Errorf("Authorization %q", auth)
	}
	var req struct {
		ConfigurationSetName string
		Content              struct{ Raw struct{ Data string } }
	}
	if err := json.Unmarshal(body, &req); err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.StdEncoding.DecodeString(req.Content.Raw.Data)
	if req.ConfigurationSetName != "welcome" || !bytes.Contains(raw, []byte("Subject: Welcome aboard")) {
		t.Errorf("request %s", body)
	}
	if s := out.String(); !strings.Contains(s, "through sesmail(eu-west-1)") || !strings.Contains(s, "backend id: 0102018e-ses-1") || strings.Contains(s, "multienv-secret") {
		t.Errorf("output:\n%s", s)
	}
}

func TestBadFlags(t *testing.T) {
	if err := run(t.Context(), flags(t, "-env=gcp"), io.Discard); err == nil || !strings.Contains(err.Error(), "use local, smtp or ses") {
		t.Errorf("unknown env: %v", err)
	}
	if err := run(t.Context(), flags(t, "-env=smtp", "-smtp-tls=maybe"), io.Discard); err == nil || !strings.Contains(err.Error(), "TLS policy") {
		t.Errorf("bad TLS policy: %v", err)
	}
	if err := run(t.Context(), flags(t, "-to=not an address"), io.Discard); err == nil || !strings.Contains(err.Error(), "-to") {
		t.Errorf("bad recipient: %v", err)
	}
	if _, err := parseFlags([]string{"stray"}, io.Discard); err == nil {
		t.Errorf("a stray argument was accepted")
	}
}
