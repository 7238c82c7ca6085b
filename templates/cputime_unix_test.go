//go:build unix

package templates

import (
	"syscall"
	"testing"
	"time"
)

// cpuClock returns the CPU time this process has used. The benchmarks report CPU time per
// render beside ns/op, because on a shared machine wall time mostly measures the queue.
func cpuClock() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func reportCPU(b *testing.B, start time.Duration) {
	if used := cpuClock() - start; used > 0 && b.N > 0 {
		b.ReportMetric(float64(used.Nanoseconds())/float64(b.N), "cpu-ns/op")
	}
}
