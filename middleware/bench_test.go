package middleware_test

import (
	"context"
	"testing"

	metricnoop "go.opentelemetry.io/otel/metric/noop"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
	"golang.org/x/time/rate"

	"github.com/postiemail/postie/middleware"
	"github.com/postiemail/postie/transport"
	"github.com/postiemail/postie/transport/memmail"
)

// defaultStack is the stack postie.New builds: Tracing, Retry, RateLimit.
func defaultStack(base transport.Transport) transport.Transport {
	return transport.Chain(
		middleware.Tracing(&middleware.TracingOptions{
			TracerProvider: tracenoop.NewTracerProvider(),
			MeterProvider:  metricnoop.NewMeterProvider(),
			Transport:      "mem",
		}),
		middleware.Retry(nil),
		middleware.RateLimit(rate.NewLimiter(rate.Inf, 1), nil),
	)(base)
}

func benchSend(b *testing.B, t transport.Transport) {
	m := testMessage("ann@example.com", "bob@example.com")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := t.Send(ctx, m); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBare and BenchmarkStack measure what the default middleware stack adds to a
// send over memmail: compare their ns/op and allocs/op from the same run.
func BenchmarkBare(b *testing.B)  { benchSend(b, memmail.New(&memmail.Options{Max: 16})) }
func BenchmarkStack(b *testing.B) { benchSend(b, defaultStack(memmail.New(&memmail.Options{Max: 16}))) }

// The same over a transport that does nothing, so only the middleware is measured.
var nop = transport.SendFunc(func(_ context.Context, m *transport.Message) (*transport.Receipt, error) {
	return nil, nil
})

func BenchmarkBareNop(b *testing.B)  { benchSend(b, nop) }
func BenchmarkStackNop(b *testing.B) { benchSend(b, defaultStack(nop)) }
