package mime_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/postiemail/postie/smtp/mime"
	"github.com/postiemail/postie/transport"
)

// cancelAfter cancels ctx once n bytes have been written through it.
type cancelAfter struct {
	n      int
	cancel context.CancelFunc
	got    int
}

func (c *cancelAfter) Write(p []byte) (int, error) {
	c.got += len(p)
	if c.got >= c.n {
		c.cancel()
	}
	return len(p), nil
}

func TestWriteContextStopsWhenCtxEnds(t *testing.T) {
	m := &transport.Message{
		Envelope:  transport.Envelope{From: "a@example.com", To: []string{"b@example.com"}},
		Date:      time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC),
		MessageID: "ctx@example.com",
		Text:      "hi",
		Attachments: []transport.Attachment{{Filename: "big.bin", ContentType: "application/octet-stream",
			Open: func() (io.ReadCloser, error) { return io.NopCloser(io.LimitReader(zeros{}, 64<<20)), nil }}},
	}
	m.From.Address = "a@example.com"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := &cancelAfter{n: 1 << 20, cancel: cancel}
	err := mime.WriteContext(ctx, w, m, nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("WriteContext = %v, want context.Canceled", err)
	}
	if w.got >= 8<<20 {
		t.Errorf("wrote %d bytes after the cancel at 1 MiB; the render should stop at the next write", w.got)
	}

	var b bytes.Buffer
	if err := mime.WriteContext(context.Background(), &b, m, nil); err != nil || b.Len() < 64<<20 {
		t.Fatalf("WriteContext with a live ctx: %v after %d bytes", err, b.Len())
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }
