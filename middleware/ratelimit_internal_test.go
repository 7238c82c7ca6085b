package middleware

import (
	"context"
	"testing"
)

// Full buckets are dropped once the map reaches MaxDomains; busy ones are kept.
func TestRateLimitDomainBucketsAreBounded(t *testing.T) {
	l := &limiter{domainLimit: 1e-3, burst: 1, maxDomains: 2, sweepAt: 2}
	busy := l.domainLimiters([]string{"a@busy.example"})[0]
	if err := busy.Wait(context.Background()); err != nil { // takes its only token
		t.Fatal(err)
	}
	for _, d := range []string{"a@one.example", "a@two.example", "a@three.example", "a@four.example"} {
		l.domainLimiters([]string{d})
	}
	if len(l.domains) > 3 {
		t.Errorf("%d buckets kept with MaxDomains 2: %v", len(l.domains), l.domains)
	}
	if l.domains["busy.example"] != busy {
		t.Error("a bucket with tokens taken was dropped; its limit would reset")
	}
}
