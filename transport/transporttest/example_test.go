package transporttest_test

import (
	"context"
	"testing"

	"github.com/postiemail/postie/transport"
	"github.com/postiemail/postie/transport/memmail"
	"github.com/postiemail/postie/transport/transporttest"
)

// memHarness is a whole harness: a transport, a view of what its backend got, and the
// faults it can inject (it answers false for the rest, and the suite skips those cases).
type memHarness struct{ t *memmail.Transport }

func (h *memHarness) MakeTransport(context.Context) (transport.Transport, error) { return h.t, nil }
func (h *memHarness) Deliveries(context.Context) ([]transporttest.Delivery, error) {
	var ds []transporttest.Delivery
	for _, m := range h.t.Messages() {
		ds = append(ds, transporttest.Delivery{Envelope: m.Envelope, Message: m})
	}
	return ds, nil
}
func (h *memHarness) InjectFault(f transporttest.Fault) bool {
	if f.Kind == transporttest.Stall {
		h.t.Stall()
		return true
	}
	return false
}
func (h *memHarness) Close() { h.t.Close() }

// A transport's conformance test is a harness and one call, in its _test.go file:
//
//	func TestConformance(t *testing.T) {
//		transporttest.RunConformanceTests(t, newHarness, nil)
//	}
func ExampleRunConformanceTests() {
	newHarness := func(ctx context.Context, t *testing.T) (transporttest.Harness, error) {
		return &memHarness{t: memmail.New(nil)}, nil
	}
	_ = transporttest.HarnessMaker(newHarness)
}

// A transport's benchmarks are one call too, in its _test.go file (an Example cannot run
// them: they need a *testing.B):
//
//	func BenchmarkSend(b *testing.B) {
//		transporttest.RunBenchmarks(b, memmail.New(&memmail.Options{Max: 1}))
//	}
//
// Compare two runs with benchstat; run with -count=5 or more on a shared machine.
func ExampleRunBenchmarks() {
	bench := func(b *testing.B) { transporttest.RunBenchmarks(b, memmail.New(&memmail.Options{Max: 1})) }
	_ = bench
}
