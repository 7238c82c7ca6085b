package transport

import (
	"context"
	"sync/atomic"
)

// RoundRobin spreads sends over its members in turn. A send whose member fails with a
// transport fault moves on to the next member, with the same rules as Failover (message
// faults and ErrMaybeDelivered stop there) and the same cool-down and half-open trial for
// failed members, which the rotation skips while they rest.
//
// It is safe for concurrent use. Close closes every member.
type RoundRobin struct {
	g    group
	next atomic.Uint64
}

// NewRoundRobin returns a RoundRobin over members, starting with the first. It owns them.
func NewRoundRobin(opts *CompositeOptions, members ...Transport) *RoundRobin {
	r := &RoundRobin{}
	r.g.init("transport.RoundRobin", opts, members)
	return r
}

// Send sends m through the next member in turn that is not resting.
func (r *RoundRobin) Send(ctx context.Context, m *Message) (*Receipt, error) {
	start := 0
	if n := len(r.g.members); n > 0 {
		start = int((r.next.Add(1) - 1) % uint64(n))
	}
	return r.g.send(ctx, m, start)
}

// Close closes every member and returns their errors joined.
func (r *RoundRobin) Close() error { return r.g.close() }

// Reset makes every member healthy again, ending their cool-downs.
func (r *RoundRobin) Reset() { r.g.reset() }

// As returns true for the first member whose As accepts target.
func (r *RoundRobin) As(target any) bool { return r.g.as(target) }
