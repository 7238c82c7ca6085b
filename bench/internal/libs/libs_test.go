package libs_test

import (
	"context"
	"crypto/tls"
	"net"
	"testing"

	"github.com/postiemail/postie/bench/internal/certs"
	"github.com/postiemail/postie/bench/internal/fixture"
	"github.com/postiemail/postie/bench/internal/libs"
	"github.com/postiemail/postie/bench/internal/sink"
)

// TestDriversDeliver sends every kind through every driver, in cleartext and with
// STARTTLS+AUTH, with two workers, and checks that the sink counted every message (or,
// for raw TCP, that the peer confirmed every byte).
func TestDriversDeliver(t *testing.T) {
	cert, pemBytes, err := certs.New()
	if err != nil {
		t.Fatal(err)
	}
	clientTLS, err := certs.ClientConfig(pemBytes)
	if err != nil {
		t.Fatal(err)
	}
	for _, withTLS := range []bool{false, true} {
		cfg := sink.Config{}
		if withTLS {
			cfg.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
		}
		srv := sink.New(cfg)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		dl, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go srv.ServeSMTP(ln)
		go srv.ServeDiscard(dl)
		target := &libs.Target{SMTP: ln.Addr().String(), Discard: dl.Addr().String()}
		if withTLS {
			target.TLS = clientTLS
		}
		for _, d := range libs.All() {
			for _, k := range fixture.Kinds {
				name := d.Name + "/" + string(k)
				if withTLS {
					name += "/tls"
				}
				t.Run(name, func(t *testing.T) {
					ctx := context.Background()
					sess, err := d.Open(target, fixture.Get(k), 2)
					if err != nil {
						t.Fatal(err)
					}
					defer sess.Close()
					before := srv.Stats()
					var confirmed int64
					for range 2 {
						w, err := sess.Worker(ctx)
						if err != nil {
							t.Fatal(err)
						}
						for range 3 {
							if err := w.Send(ctx); err != nil {
								t.Fatal(err)
							}
						}
						n, err := w.Finish()
						if err != nil {
							t.Fatal(err)
						}
						confirmed += n
						w.Close()
					}
					if d.Name == "raw-tcp" {
						body, _ := libs.RawBytes(fixture.Get(k))
						if confirmed != 6*int64(len(body)) {
							t.Errorf("peer confirmed %d bytes, want %d", confirmed, 6*len(body))
						}
						return
					}
					if got := srv.Stats().Messages - before.Messages; got != 6 {
						t.Errorf("sink counted %d messages, want 6", got)
					}
				})
			}
		}
		srv.Close()
	}
}
