package smtp

import (
	"fmt"
	"testing"

	"github.com/postiemail/postie/smtp/smtptest"
	"github.com/postiemail/postie/transport"
)

// TestValidateBeforeFlight: without SIZE, a message the renderer refuses is refused
// before any command of its transaction, and the connection stays usable.
func TestValidateBeforeFlight(t *testing.T) {
	for _, exts := range [][]string{{"PIPELINING"}, {"PIPELINING", "CHUNKING"}, nil} {
		t.Run(fmt.Sprint(exts), func(t *testing.T) {
			bad := testMessage("b@x.test")
			bad.Date = bad.Date.AddDate(-3000, 0, 0)
			s := smtptest.NewScripted(t, steps(greet(exts...), []step{{Expect: "NOOP", Reply: "250 ok"}}))
			c := dialT(t, s.Addr(), cleartext())
			_, err := send(t, c, bad)
			wantCode(t, err, transport.InvalidArgument, false)
			if err := c.Noop(testCtx(t)); err != nil {
				t.Fatalf("the connection is unusable after a refused render: %v", err)
			}
			finish(t, s)
		})
	}
}
