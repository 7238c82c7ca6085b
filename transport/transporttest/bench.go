package transporttest

import (
	"context"
	"testing"

	"github.com/postiemail/postie/transport"
)

// RunBenchmarks measures tr's Send on a small text message, on a message with a 1 MiB
// attachment, and on small messages sent in parallel. Each transport's test file calls
// it from a Benchmark function; compare runs with benchstat.
func RunBenchmarks(b *testing.B, tr transport.Transport) {
	ctx := context.Background()
	small := newMessage("Benchmark/Text")
	b.Run("Text", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(small.Text)))
		for b.Loop() {
			if _, err := tr.Send(ctx, small); err != nil {
				b.Fatal(err)
			}
		}
	})
	big := newMessage("Benchmark/Attachment1MiB")
	big.Attachments = []transport.Attachment{{Filename: "big.bin", ContentType: "application/octet-stream", Data: binaryData(1 << 20)}}
	b.Run("Attachment1MiB", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(1 << 20)
		for b.Loop() {
			if _, err := tr.Send(ctx, big); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(small.Text)))
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := tr.Send(ctx, small); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
