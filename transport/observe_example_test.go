package transport_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/postiemail/postie/transport"
)

// A driver reports its phases and server; an observer (normally middleware.Tracing) in the
// context receives them.
func ExampleObserver() {
	driver := transport.SendFunc(func(ctx context.Context, m *transport.Message) (*transport.Receipt, error) {
		end := transport.StartPhase(ctx, transport.PhaseDial)
		transport.ObserveServer(ctx, "mx.example.com", 25)
		end(nil)
		end = transport.StartPhase(ctx, transport.PhaseAuth)
		err := errors.New("535 bad credentials")
		end(err)
		return nil, err
	})

	ctx := transport.WithObserver(context.Background(), &transport.Observer{
		Phase: func(phase string) func(error) {
			fmt.Println("start", phase)
			return func(err error) { fmt.Println("end", phase, err) }
		},
		Server: func(host string, port int) { fmt.Println("server", host, port) },
	})
	_, _ = driver.Send(ctx, compositeMessage("ann@example.com"))
	// Output:
	// start dial
	// server mx.example.com 25
	// end dial <nil>
	// start auth
	// end auth 535 bad credentials
}
