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

// withSendInfo returns the sendInfo already in ctx, or a new one in a derived ctx.
func withSendInfo(ctx context.Context) (context.Context, *sendInfo) {
	if si := sendInfoFrom(ctx); si != nil {
		return ctx, si
	}
	si := new(sendInfo)
	return context.WithValue(ctx, sendInfoKey{}, si), si
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
