package smtp

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/postiemail/postie/smtp/smtptest"
	"github.com/postiemail/postie/transport"
)

func TestProbe(t *testing.T) {
	s := smtptest.NewScripted(t, steps(greet("STARTTLS", "SIZE 1000"), []step{
		{Expect: "STARTTLS", Reply: "220 go", StartTLS: true},
		{Expect: "EHLO client.test", Reply: ehloReply("AUTH PLAIN LOGIN", "SIZE 2000", "PIPELINING")},
		{Expect: "AUTH PLAIN *", Reply: "235 ok"},
	}, quitStep))
	res, err := Probe(testCtx(t), s.Addr(), &Options{LocalName: "client.test", TLSConfig: s.ClientTLSConfig(), Username: "u", Password: "topsecret"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Banner != "scripted.test ESMTP" || res.Hello != "EHLO" || res.HelloReply != "scripted.test" || res.MaxSize != 2000 ||
		!slices.Equal(res.AuthMechanisms, []string{"PLAIN", "LOGIN"}) || res.Extensions["PIPELINING"] != "" || len(res.Extensions) != 3 {
		t.Errorf("result %+v", res)
	}
	if res.TLS == nil || res.TLS.Mode != "starttls" || !strings.HasPrefix(res.TLS.Version, "TLS 1.") || res.TLS.CipherSuite == "" ||
		res.TLS.Peer == nil || !strings.Contains(res.TLS.Peer.Subject, "localhost") || !strings.Contains(res.TLS.Peer.Issuer, "smtptest CA") ||
		res.TLS.Peer.NotAfter.IsZero() {
		t.Errorf("TLS %+v, peer %+v", res.TLS, res.TLS.Peer)
	}
	if res.Auth == nil || !res.Auth.OK || res.Auth.Mechanism != "PLAIN" || res.Error != "" {
		t.Errorf("auth %+v", res.Auth)
	}
	js, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"banner":"scripted.test ESMTP"`, `"auth_mechanisms":["PLAIN","LOGIN"]`, `"timings":{"auth":"`, `"peer_certificate":{"subject":`} {
		if !strings.Contains(string(js), want) {
			t.Errorf("JSON lacks %s: %s", want, js)
		}
	}
	if strings.Contains(string(js), "topsecret") {
		t.Error("JSON shows the password")
	}
	s.Wait()
}

func TestProbeFailures(t *testing.T) {
	t.Run("auth refused", func(t *testing.T) {
		s := smtptest.NewScripted(t, steps(greet("AUTH PLAIN"), []step{{Expect: "AUTH PLAIN *", Reply: "535 5.7.8 bad credentials"}}, quitStep))
		res, err := ProbeURL(testCtx(t), "smtp://u:topsecret@"+s.Addr()+"?tls=none&helo=client.test")
		wantCode(t, err, transport.PermissionDenied, false)
		if res.Auth == nil || res.Auth.OK || !strings.Contains(res.Auth.Error, "535") || res.Banner == "" || res.Error == "" {
			t.Errorf("result %+v, auth %+v", res, res.Auth)
		}
		if strings.Contains(res.Error+res.Auth.Error, "topsecret") {
			t.Error("the password shows")
		}
		s.Wait()
	})
	t.Run("STARTTLS missing", func(t *testing.T) {
		s := smtptest.NewScripted(t, steps(greet("AUTH PLAIN", "SIZE 10")))
		res, err := Probe(testCtx(t), s.Addr(), &Options{LocalName: "client.test"})
		wantCode(t, err, transport.Unimplemented, false)
		if res.Banner == "" || res.Extensions["SIZE"] != "10" || res.TLS != nil || !strings.Contains(res.Error, "STARTTLS") {
			t.Errorf("result %+v", res)
		}
		s.Wait()
	})
	t.Run("nobody listening", func(t *testing.T) {
		res, err := ProbeURL(testCtx(t), "smtp://127.0.0.1:1?tls=none")
		wantCode(t, err, transport.Unavailable, true)
		if res == nil || res.Error == "" || res.Addr != "127.0.0.1:1" {
			t.Errorf("result %+v", res)
		}
	})
	t.Run("bad URL", func(t *testing.T) {
		res, err := ProbeURL(testCtx(t), "smtp://u:topsecret@h?x=1")
		if err == nil || res == nil || strings.Contains(res.Error, "topsecret") {
			t.Errorf("%+v, %v", res, err)
		}
	})
}
