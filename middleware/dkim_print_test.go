package middleware_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/postiemail/postie/middleware"
	"github.com/postiemail/postie/transport"
	"github.com/postiemail/postie/transport/memmail"
)

// Printing, logging or encoding DKIMOptions must never show the private key: an
// ed25519.PrivateKey is a byte slice that fmt prints byte by byte, an *rsa.PrivateKey a
// struct of big integers that encoding/json writes out.
func TestDKIMOptionsPrintNoKey(t *testing.T) {
	for name, k := range map[string]crypto.Signer{"rsa": rsaKey(), "ed25519": edKey()} {
		var secrets []string
		switch k := k.(type) {
		case *rsa.PrivateKey:
			secrets = []string{k.D.String(), k.Primes[0].String(), fmt.Sprint(k.D)}
		case ed25519.PrivateKey:
			seed := k.Seed()
			secrets = []string{ // the seed (the key's first half) as %v, %#v, JSON and hex show it
				strings.Trim(fmt.Sprint(seed[:6]), "[]"), fmt.Sprintf("%#x, %#x, %#x, %#x", seed[0], seed[1], seed[2], seed[3]),
				base64.StdEncoding.EncodeToString(seed[:9]), hex.EncodeToString(seed[:8])}
		}
		o := middleware.DKIMOptions{Domain: "example.com", Selector: "s1", Signer: k}
		var js, txt bytes.Buffer
		slog.New(slog.NewJSONHandler(&js, nil)).Info("m", "dkim", o)
		slog.New(slog.NewTextHandler(&txt, nil)).Info("m", "dkim", &o)
		j, err := json.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range []string{fmt.Sprintf("%v", o), fmt.Sprintf("%+v", o), fmt.Sprintf("%#v", o), fmt.Sprint(&o),
			fmt.Sprintf("%+v", struct{ D *middleware.DKIMOptions }{&o}), fmt.Sprintf("%v", []middleware.DKIMOptions{o}), js.String(), txt.String(), string(j)} {
			for _, secret := range secrets {
				if strings.Contains(s, secret) {
					t.Errorf("%s: printed as %q, which holds %q", name, s, secret)
				}
			}
			if !strings.Contains(s, "example.com") || !strings.Contains(s, "redacted") {
				t.Errorf("%s: printed as %q", name, s)
			}
		}
	}
}

// Domain, Selector, Identifier and HeaderKeys become tags of the DKIM-Signature field: a
// ";" in one would add a tag of its own (an l= body length lets anyone append to the
// signed body), a ":" a signed header name. Such options fail every send instead.
func TestDKIMRefusesTagInjection(t *testing.T) {
	for name, edit := range map[string]func(o *middleware.DKIMOptions){
		"domain":     func(o *middleware.DKIMOptions) { o.Domain = "example.com; l=0" },
		"selector":   func(o *middleware.DKIMOptions) { o.Selector = "sel; t=y" },
		"identifier": func(o *middleware.DKIMOptions) { o.Identifier = "@example.com; l=0" },
		"header key": func(o *middleware.DKIMOptions) { o.HeaderKeys = []string{"From", "Subject:Bcc"} },
		"line break": func(o *middleware.DKIMOptions) { o.Domain = "example.com\r\nBcc: x@example.net" },
	} {
		o := dkimOpts(edKey())
		edit(o)
		mem := memmail.New(nil)
		_, err := middleware.DKIM(o)(mem).Send(context.Background(), richMessage())
		if transport.CodeOf(err) != transport.FailedPrecondition {
			t.Errorf("%s: got %v, want FailedPrecondition", name, err)
		}
	}
	o := dkimOpts(edKey())
	o.Identifier = "news+tag@example.com"
	if _, err := middleware.DKIM(o)(memmail.New(nil)).Send(context.Background(), richMessage()); err != nil {
		t.Errorf("a valid identifier: %v", err)
	}
}
