package smtp

import (
	"context"
	"testing"
)

// TestPooledSendAllocs bounds the allocations of a small message sent through the pool
// on a warm connection, over DATA and over BDAT with SIZE, against an allocation-free
// sink: the per-message cost the issue caps (2 KB; this is about 270 bytes in 7
// allocations, the receipt's). It catches a per-send allocation slipping into the hot
// path.
func TestPooledSendAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector drops sync.Pool entries at random")
	}
	for _, exts := range [][]string{{"PIPELINING", "SIZE 100000000"}, {"PIPELINING", "CHUNKING", "SIZE 100000000"}} {
		s := newSink(t, 0, exts...)
		o := cleartext()
		o.MaxConns = 1
		tp := newTransport(t, s.ln.Addr().String(), o)
		m := testMessage("b@x.test")
		ctx := context.Background()
		send := func() {
			if _, err := tp.Send(ctx, m); err != nil {
				t.Fatal(err)
			}
		}
		send() // dial and warm up
		n := testing.AllocsPerRun(100, send)
		t.Logf("%v: %.1f allocations per pooled send", exts, n)
		if n > 8 {
			t.Errorf("%v: %.1f allocations per pooled send, want at most 8", exts, n)
		}
	}
}
