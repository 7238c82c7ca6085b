// Package libs drives each compared library (and the raw ceilings) through one interface,
// so the load tool times them all the same way.
package libs

import (
	"context"
	"crypto/tls"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/postiemail/postie/bench/internal/fixture"
)

// Target is the sink a repetition sends to.
type Target struct {
	SMTP    string      // host:port of the SMTP listener
	Discard string      // host:port of the discard listener (raw TCP ceiling)
	TLS     *tls.Config // non-nil: STARTTLS then AUTH PLAIN; nil: cleartext, no AUTH
}

// Host returns the host part of SMTP.
func (t *Target) Host() string {
	for i := len(t.SMTP) - 1; i >= 0; i-- {
		if t.SMTP[i] == ':' {
			return t.SMTP[:i]
		}
	}
	return t.SMTP
}

// Port returns the port of SMTP.
func (t *Target) Port() int {
	var p int
	for i := len(t.SMTP) - 1; i >= 0; i-- {
		if t.SMTP[i] == ':' {
			fmt.Sscan(t.SMTP[i+1:], &p)
			break
		}
	}
	return p
}

// Session is one repetition's client state: a pool, a transport, or nothing.
type Session interface {
	// Worker returns the sender one worker goroutine uses; for libraries with one
	// connection per client this dials, negotiates TLS and authenticates.
	Worker(ctx context.Context) (Worker, error)
	// Close releases the session (pools, transports) after every worker is closed.
	Close() error
}

// Worker sends messages one after another.
type Worker interface {
	// Send sends one message (building it first, as an application would).
	Send(ctx context.Context) error
	// Finish ends the timed section; only the raw TCP ceiling needs it (it half-closes and
	// waits for the peer's byte count). It returns the bytes confirmed, or 0.
	Finish() (int64, error)
	// Close ends the worker's connection, if it has one.
	Close() error
}

// Driver is one column of the table.
type Driver struct {
	Name    string // short id, used on the command line
	Label   string // column header
	Ceiling bool   // a raw ceiling, not a library
	// Open starts a session for workers concurrent workers sending f.
	Open func(t *Target, f *fixture.Fixture, workers int) (Session, error)
}

// simple is a Session whose workers are independent.
type simple func(ctx context.Context) (Worker, error)

func (s simple) Worker(ctx context.Context) (Worker, error) { return s(ctx) }
func (s simple) Close() error                               { return nil }

// sendFunc is a Worker without state.
type sendFunc func(ctx context.Context) error

func (f sendFunc) Send(ctx context.Context) error { return f(ctx) }
func (sendFunc) Finish() (int64, error)           { return 0, nil }
func (sendFunc) Close() error                     { return nil }

// workerFuncs is a Worker made of functions.
type workerFuncs struct {
	send  func(ctx context.Context) error
	close func() error
}

func (w workerFuncs) Send(ctx context.Context) error { return w.send(ctx) }
func (workerFuncs) Finish() (int64, error)           { return 0, nil }
func (w workerFuncs) Close() error                   { return w.close() }

var registry []*Driver

func register(d *Driver) { registry = append(registry, d) }

// All returns every driver in table order: libraries first, then ceilings.
func All() []*Driver {
	out := slices.Clone(registry)
	slices.SortStableFunc(out, func(a, b *Driver) int { return rank(a) - rank(b) })
	return out
}

var tableOrder = []string{"postie", "netsmtp-new", "netsmtp-reuse", "jw-send", "jw-pool", "gomail", "gosmtp", "raw-tcp", "raw-data", "raw-bdat"}

func rank(d *Driver) int {
	if i := slices.Index(tableOrder, d.Name); i >= 0 {
		return i
	}
	return len(tableOrder)
}

// msgID returns a fresh Message-ID for libraries that take one from the caller.
func msgID() string {
	return fmt.Sprintf("%d.%d@shop.example", time.Now().UnixNano(), idSeq.Add(1))
}

var idSeq atomic.Uint64
