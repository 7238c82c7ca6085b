//go:build !unix

package templates

import (
	"testing"
	"time"
)

func cpuClock() time.Duration { return 0 }

func reportCPU(*testing.B, time.Duration) {}
