package transport_test

import (
	"context"
	"fmt"

	"github.com/postiemail/postie/transport"
	"github.com/postiemail/postie/transport/memmail"
)

func ExampleNewRoundRobin() {
	a, b := memmail.New(nil), memmail.New(nil)
	rr := transport.NewRoundRobin(nil, a, b)
	defer rr.Close()
	for range 5 {
		if _, err := rr.Send(context.Background(), compositeMessage("ann@example.com")); err != nil {
			fmt.Println(err)
		}
	}
	fmt.Println(a.Len(), b.Len())
	// Output: 3 2
}
