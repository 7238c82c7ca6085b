package transport_test

import (
	"context"
	"fmt"
	"time"

	"github.com/postiemail/postie/transport"
	"github.com/postiemail/postie/transport/memmail"
)

func ExampleNewFailover() {
	primary, backup := memmail.New(nil), memmail.New(nil)
	f := transport.NewFailover(&transport.CompositeOptions{CoolDown: time.Minute}, primary, backup)
	defer f.Close()

	// The primary is down: the message goes to the backup, and the primary rests a minute.
	primary.FailNext(transport.ClassifyReply(&transport.Reply{Code: 421, Lines: []string{"shutting down"}}))
	_, err := f.Send(context.Background(), compositeMessage("ann@example.com"))
	fmt.Println(err, primary.Len(), backup.Len())

	// A refused recipient is the message's fault: no failover, and no rest.
	backup.RejectRecipient("nobody@example.com", nil)
	_, err = f.Send(context.Background(), compositeMessage("nobody@example.com"))
	fmt.Println(transport.CodeOf(err), backup.Attempts())
	// Output:
	// <nil> 0 1
	// NotFound 2
}

func ExampleIsTransportFault_failover() {
	for _, err := range []error{
		transport.ClassifyReply(&transport.Reply{Code: 421, Enhanced: transport.Enhanced{4, 3, 2}}),
		transport.ClassifyReply(&transport.Reply{Code: 450, Enhanced: transport.Enhanced{4, 2, 1}}),
		transport.ClassifyReply(&transport.Reply{Code: 535, Enhanced: transport.Enhanced{5, 7, 8}}),
		transport.ClassifyReply(&transport.Reply{Code: 550, Enhanced: transport.Enhanced{5, 1, 1}}),
		transport.ClassifyHTTP(429, "5"),
		transport.ClassifyHTTP(400, ""),
	} {
		fmt.Println(transport.IsTransportFault(err), err)
	}
	// Output:
	// true Unavailable (temporary): 421 4.3.2
	// false Unavailable (temporary): 450 4.2.1
	// true PermissionDenied: 535 5.7.8
	// false NotFound: 550 5.1.1
	// true ResourceExhausted (temporary): HTTP 429 Too Many Requests
	// false InvalidArgument: HTTP 400 Bad Request
}
