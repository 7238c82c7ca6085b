package mime_test

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"runtime"
	"testing"
	"time"

	"github.com/postiemail/postie/smtp/mime"
	"github.com/postiemail/postie/transport"
)

// genReader produces n pseudo-random bytes without holding them.
type genReader struct {
	n int64
	x uint64
}

func (g *genReader) Read(p []byte) (int, error) {
	if g.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > g.n {
		p = p[:g.n]
	}
	for i := range p {
		g.x = g.x*6364136223846793005 + 1442695040888963407
		p[i] = byte(g.x >> 56)
	}
	g.n -= int64(len(p))
	return len(p), nil
}

func (g *genReader) Close() error { return nil }

// heapSampler is a destination that records the peak live heap while it is written to.
type heapSampler struct {
	n     int64
	calls int
	base  uint64
	peak  uint64
}

func (s *heapSampler) Write(p []byte) (int, error) {
	s.n += int64(len(p))
	if s.calls%8 == 0 {
		s.sample()
	}
	s.calls++
	return len(p), nil
}

func (s *heapSampler) sample() {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	if ms.HeapAlloc > s.base && ms.HeapAlloc-s.base > s.peak {
		s.peak = ms.HeapAlloc - s.base
	}
}

func bigMessage(size int64) *transport.Message {
	m := base()
	m.Text = "The data set you asked for is attached."
	m.Attachments = []transport.Attachment{{
		Filename: "dataset.bin", ContentType: "application/octet-stream", Size: size,
		Open: func() (io.ReadCloser, error) { return &genReader{n: size, x: 42}, nil },
	}}
	return m
}

// measureWrite writes m to a heapSampler and returns the output length, the peak heap
// growth over the live heap before the call, and the bytes allocated during it.
func measureWrite(tb testing.TB, m *transport.Message) (n int64, peak, allocated uint64) {
	// Two collections empty sync.Pool, so the figure includes the buffers Write allocates
	// for itself: the cold-start cost, not only the steady state.
	runtime.GC()
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	s := &heapSampler{base: before.HeapAlloc}
	if err := mime.Write(s, m, nil); err != nil {
		tb.Fatal(err)
	}
	s.sample()
	runtime.ReadMemStats(&after)
	return s.n, s.peak, after.TotalAlloc - before.TotalAlloc
}

// TestStreamingMemory writes a message with a 100 MiB attachment generated on the fly and
// checks that the heap never grows by 4 MiB, and that the output has the promised size.
func TestStreamingMemory(t *testing.T) {
	size := int64(100 << 20)
	if testing.Short() || raceEnabled {
		size = 16 << 20 // the race detector makes 100 MiB slow; the bound is the same
	}
	m := bigMessage(size)
	n, peak, allocated := measureWrite(t, m)
	t.Logf("%d MiB attachment: %d bytes written, peak heap growth %d KiB, %d KiB allocated in all", size>>20, n, peak>>10, allocated>>10)
	if peak >= 4<<20 || allocated >= 4<<20 {
		t.Errorf("peak heap growth %d bytes, allocated %d bytes: want both under 4 MiB", peak, allocated)
	}
	if want, err := mime.Size(m, nil); err != nil || want != n {
		t.Errorf("Size = %d (%v), wrote %d", want, err, n)
	}
}

// TestSmallMessageAllocs bounds the allocations of a small text message.
func TestSmallMessageAllocs(t *testing.T) {
	m := smallMessage()
	var buf bytes.Buffer
	buf.Grow(4096)
	allocs := testing.AllocsPerRun(200, func() {
		buf.Reset()
		if err := mime.Write(&buf, m, nil); err != nil {
			t.Fatal(err)
		}
	})
	t.Logf("small text message: %.1f allocations per Write", allocs)
	if allocs > 20 {
		t.Errorf("%.1f allocations per Write, want at most 20", allocs)
	}
	sizeAllocs := testing.AllocsPerRun(200, func() {
		if _, err := mime.Size(m, nil); err != nil {
			t.Fatal(err)
		}
	})
	if sizeAllocs > 20 {
		t.Errorf("%.1f allocations per Size, want at most 20", sizeAllocs)
	}
}

func smallMessage() *transport.Message {
	m := base()
	m.Text = "Hi Ann,\n\nyour order #1234 has shipped. Track it at https://shop.example/t/1234.\n\nThe Shop\n"
	return m
}

func BenchmarkWriteSmall(b *testing.B) {
	m := smallMessage()
	var buf bytes.Buffer
	buf.Grow(4096)
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		if err := mime.Write(&buf, m, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(buf.Len()))
}

func BenchmarkSizeSmall(b *testing.B) {
	m := smallMessage()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := mime.Size(m, nil); err != nil {
			b.Fatal(err)
		}
	}
}

const oneMiB = 1 << 20

var benchData = pseudo(oneMiB, 5)

// BenchmarkWrite1MiB writes a message with a 1 MiB attachment; SetBytes counts the
// attachment only, so MB/s compares directly with the base64 benchmarks below.
func BenchmarkWrite1MiB(b *testing.B) {
	m := base()
	m.Text = "see attached"
	m.Attachments = []transport.Attachment{{Filename: "data.bin", ContentType: "application/octet-stream", Data: benchData}}
	b.SetBytes(oneMiB)
	b.ReportAllocs()
	for b.Loop() {
		if err := mime.Write(io.Discard, m, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWrite1MiBOpen is the same with the attachment read through an Open func.
func BenchmarkWrite1MiBOpen(b *testing.B) {
	m := base()
	m.Text = "see attached"
	m.Attachments = []transport.Attachment{{Filename: "data.bin", ContentType: "application/octet-stream",
		Open: opener(benchData, nil), Size: oneMiB}}
	b.SetBytes(oneMiB)
	b.ReportAllocs()
	for b.Loop() {
		if err := mime.Write(io.Discard, m, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBase64Encoder is the baseline: encoding/base64's streaming encoder on the same
// 1 MiB (no line breaks at all).
func BenchmarkBase64Encoder(b *testing.B) {
	b.SetBytes(oneMiB)
	b.ReportAllocs()
	for b.Loop() {
		enc := base64.NewEncoder(base64.StdEncoding, io.Discard)
		enc.Write(benchData)
		enc.Close()
	}
}

// BenchmarkBase64Encode is the stricter baseline: StdEncoding.Encode into a ready buffer.
func BenchmarkBase64Encode(b *testing.B) {
	dst := make([]byte, base64.StdEncoding.EncodedLen(oneMiB))
	b.SetBytes(oneMiB)
	b.ReportAllocs()
	for b.Loop() {
		base64.StdEncoding.Encode(dst, benchData)
	}
}

// BenchmarkWrite100MiB reports the peak heap growth and the bytes allocated while
// writing a message with a 100 MiB attachment generated by its Open func.
func BenchmarkWrite100MiB(b *testing.B) {
	m := bigMessage(100 << 20)
	b.SetBytes(100 << 20)
	var peak, allocated uint64
	for b.Loop() {
		_, p, a := measureWrite(b, m)
		peak, allocated = max(peak, p), max(allocated, a)
	}
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
	b.ReportMetric(float64(allocated)/(1<<20), "alloc-MiB")
}

// TestConcurrentWrites renders messages from many goroutines at once: pooled buffers must
// never leak one message's bytes into another's (gomail#200).
func TestConcurrentWrites(t *testing.T) {
	cases := structures()
	want := make([][]byte, len(cases))
	for i, c := range cases {
		want[i] = render(t, c.m, nil)
	}
	errs := make(chan error, 8)
	for g := range 8 {
		go func() {
			var err error
			for k := range 40 {
				i := (g + k) % len(cases)
				var b bytes.Buffer
				if werr := mime.Write(&b, cases[i].m, nil); werr != nil {
					err = werr
				} else if !bytes.Equal(b.Bytes(), want[i]) {
					err = fmt.Errorf("%s: concurrent render differs", cases[i].name)
				}
			}
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// BenchmarkSpeedRatio1MiB times Write (a message with a 1 MiB attachment) and
// encoding/base64 on the same bytes alternately, iteration by iteration, so both see the
// same machine load, and reports Write's throughput as a fraction of each baseline's
// (the target is >= 0.70): "of-encoder" against base64.NewEncoder, "of-encode" against
// StdEncoding.Encode into a ready buffer.
func BenchmarkSpeedRatio1MiB(b *testing.B) {
	m := base()
	m.Text = "see attached"
	m.Attachments = []transport.Attachment{{Filename: "data.bin", ContentType: "application/octet-stream", Data: benchData}}
	dst := make([]byte, base64.StdEncoding.EncodedLen(oneMiB))
	var tWrite, tEncoder, tEncode time.Duration
	b.SetBytes(oneMiB)
	for b.Loop() {
		t0 := time.Now()
		if err := mime.Write(io.Discard, m, nil); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		enc := base64.NewEncoder(base64.StdEncoding, io.Discard)
		enc.Write(benchData)
		enc.Close()
		t2 := time.Now()
		base64.StdEncoding.Encode(dst, benchData)
		t3 := time.Now()
		tWrite += t1.Sub(t0)
		tEncoder += t2.Sub(t1)
		tEncode += t3.Sub(t2)
	}
	b.ReportMetric(float64(tEncoder)/float64(tWrite), "of-encoder")
	b.ReportMetric(float64(tEncode)/float64(tWrite), "of-encode")
}
