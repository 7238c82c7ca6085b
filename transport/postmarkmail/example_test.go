package postmarkmail_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"time"

	"github.com/postiemail/postie/mailer"
	"github.com/postiemail/postie/transport"
	"github.com/postiemail/postie/transport/postmarkmail"
)

func ExampleNew() {
	// A stand-in for api.postmarkapp.com, so the example runs offline. In production leave
	// BaseURL empty and the token in $POSTMARK_SERVER_TOKEN.
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"To":"ann@example.org","SubmittedAt":"2024-03-09T12:00:00Z","MessageID":"0a129aee-e1cd-480d-b08d-4f48548ff48d","ErrorCode":0,"Message":"OK"}`)
	}))
	defer api.Close()

	t, err := postmarkmail.New(nil, &postmarkmail.Options{ServerToken: "server-token", BaseURL: api.URL})
	if err != nil {
		log.Fatal(err)
	}
	m := mailer.New(t, nil)
	defer m.Close()
	r, err := m.Send(context.Background(), &mailer.Message{
		From:     mail.Address{Name: "Shop", Address: "shop@example.com"},
		To:       []mail.Address{{Address: "ann@example.org"}},
		Subject:  "Your order",
		Text:     "Thanks for your order.",
		Tags:     []string{"orders"},
		Metadata: map[string]string{"order": "42"},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("Postmark MessageID:", r.ID)
	// Output: Postmark MessageID: 0a129aee-e1cd-480d-b08d-4f48548ff48d
}

func ExampleURLOpener() {
	// Importing the package registers postmark:// with mailer.DefaultURLMux, so
	// mailer.OpenMailer(ctx, "postmark://?stream=outbound") works with
	// $POSTMARK_SERVER_TOKEN set. Here a private mux shows the opener with its token in Options.
	var mux mailer.URLMux
	mux.Register(postmarkmail.Scheme, &postmarkmail.URLOpener{Options: postmarkmail.Options{ServerToken: "POSTMARK_API_TEST"}})
	m, err := mux.OpenMailer(context.Background(), "postmark://?stream=outbound")
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	var t transport.Transport
	m.As(&t)
	fmt.Println(t)
	// Output: postmarkmail(https://api.postmarkapp.com)
}

func ExampleOpenMailer() {
	// Pass your own client, say one wrapped by otelhttp.NewTransport to trace each request.
	client := &http.Client{Timeout: 30 * time.Second}
	m, err := postmarkmail.OpenMailer(context.Background(), client, &postmarkmail.Options{ServerToken: "POSTMARK_API_TEST", MessageStream: "outbound"})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	var c *http.Client
	fmt.Println(m.As(&c) && c == client)
	// Output: true
}
