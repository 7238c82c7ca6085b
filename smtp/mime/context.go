package mime

import (
	"context"
	"io"

	"github.com/postiemail/postie/transport"
)

// WriteContext is Write that stops when ctx ends: every write to w first checks ctx, so a
// long render (a 100 MiB attachment into a DKIM signer or a file) ends promptly with
// ctx's error instead of running to completion.
func WriteContext(ctx context.Context, w io.Writer, m *transport.Message, opts *Options) error {
	return Write(ctxWriter{ctx, w}, m, opts)
}

type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}
