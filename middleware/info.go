package middleware

import (
	"context"
	"sync/atomic"
	"time"
)

// sendInfo is what the middleware of one logical send learn about it, shared through ctx:
// the outermost of Tracing and Logging creates it, Retry counts attempts into it and
// RateLimit adds the time it waited, so the outer middleware can report them.
type sendInfo struct {
	attempts atomic.Int64
	waited   atomic.Int64 // nanoseconds spent waiting for rate-limit tokens
	limited  atomic.Bool  // a RateLimit middleware ran
}

type sendInfoKey struct{}

// infoCtx carries a sendInfo: one allocation instead of a sendInfo plus a
// context.WithValue. It only adds a value, so the context package treats it like its parent.
type infoCtx struct {
	context.Context
	info sendInfo
}

func (c *infoCtx) Value(key any) any {
	if key == (sendInfoKey{}) {
		return &c.info
	}
	return c.Context.Value(key)
}

// withSendInfo returns the sendInfo already in ctx, or a new one in a derived ctx.
func withSendInfo(ctx context.Context) (context.Context, *sendInfo) {
	if si := sendInfoFrom(ctx); si != nil {
		return ctx, si
	}
	c := &infoCtx{Context: ctx}
	return c, &c.info
}

func sendInfoFrom(ctx context.Context) *sendInfo {
	si, _ := ctx.Value(sendInfoKey{}).(*sendInfo)
	return si
}

func (si *sendInfo) addAttempt() {
	if si != nil {
		si.attempts.Add(1)
	}
}

func (si *sendInfo) addWait(d time.Duration) {
	if si != nil {
		si.limited.Store(true)
		si.waited.Add(int64(d))
	}
}
