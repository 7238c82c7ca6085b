package sink_test

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/postiemail/postie/smtp/smtptest"

	"github.com/postiemail/postie/bench/internal/fixture"
	"github.com/postiemail/postie/bench/internal/libs"
	"github.com/postiemail/postie/bench/internal/sink"
)

// BenchmarkServers measures how many messages per second each candidate peer absorbs
// from 8 hand-pipelined clients on loopback with no delay: the lean sink of this package
// and smtptest.Server (go-smtp based). The peer must be much faster than any client it
// serves, or it, not the client, sets the figures.
func BenchmarkServers(b *testing.B) {
	servers := []struct {
		name  string
		start func(b *testing.B) string
	}{
		{"sink", func(b *testing.B) string {
			srv := sink.New(sink.Config{})
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			go srv.ServeSMTP(ln)
			b.Cleanup(func() { srv.Close() })
			return ln.Addr().String()
		}},
		{"smtptest", func(b *testing.B) string {
			srv, err := smtptest.NewServer(&smtptest.ServerOptions{TLS: smtptest.NoTLS, Discard: true})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { srv.Close() })
			return srv.Addr()
		}},
	}
	for _, kind := range []fixture.Kind{fixture.Small, fixture.Attach} {
		for _, proto := range []string{"raw-data", "raw-bdat"} {
			var drv *libs.Driver
			for _, d := range libs.All() {
				if d.Name == proto {
					drv = d
				}
			}
			for _, s := range servers {
				b.Run("kind="+string(kind)+"/client="+proto+"/server="+s.name, func(b *testing.B) {
					addr := s.start(b)
					const workers = 8
					sess, err := drv.Open(&libs.Target{SMTP: addr}, fixture.Get(kind), workers)
					if err != nil {
						b.Fatal(err)
					}
					ws := make([]libs.Worker, workers)
					for i := range ws {
						if ws[i], err = sess.Worker(context.Background()); err != nil {
							b.Fatal(err)
						}
					}
					var next atomic.Int64
					var wg sync.WaitGroup
					b.ResetTimer()
					for _, w := range ws {
						wg.Add(1)
						go func() {
							defer wg.Done()
							for next.Add(1) <= int64(b.N) {
								if err := w.Send(context.Background()); err != nil {
									b.Error(err)
									return
								}
							}
						}()
					}
					wg.Wait()
					b.StopTimer()
					b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
					for _, w := range ws {
						w.Close()
					}
				})
			}
		}
	}
}
