package templates

import (
	"testing"

	"go.uber.org/goleak"
)

// The package starts no goroutines; the tests' servers and browser must not leave any.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
