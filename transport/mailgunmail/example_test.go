package mailgunmail_test

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
	"github.com/postiemail/postie/transport/mailgunmail"
)

func ExampleNew() {
	// A stand-in for api.mailgun.net, so the example runs offline. In production leave
	// BaseURL empty (or set EUBaseURL) and the key in $MAILGUN_API_KEY.
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Println(r.Method, r.URL.Path)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"id":"<order-42@shop.example.com>","message":"Queued. Thank you."}`)
	}))
	defer api.Close()

	t, err := mailgunmail.New(nil, &mailgunmail.Options{APIKey: "key-example", Domain: "mg.shop.example.com", BaseURL: api.URL})
	if err != nil {
		log.Fatal(err)
	}
	m := mailer.New(t, nil)
	defer m.Close()
	r, err := m.Send(context.Background(), &mailer.Message{
		From:      mail.Address{Name: "Shop", Address: "shop@example.com"},
		To:        []mail.Address{{Address: "ann@example.org"}},
		Bcc:       []mail.Address{{Address: "archive@shop.example.com"}},
		Subject:   "Your order",
		Text:      "Thanks for your order.",
		Tags:      []string{"orders"},
		MessageID: "order-42@shop.example.com",
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("Mailgun id:", r.ID)
	// Output:
	// POST /v3/mg.shop.example.com/messages.mime
	// Mailgun id: order-42@shop.example.com
}

func ExampleURLOpener() {
	// Importing the package registers mailgun:// with mailer.DefaultURLMux, so
	// mailer.OpenMailer(ctx, "mailgun://mg.example.com?region=eu") works with
	// $MAILGUN_API_KEY set. Here a private mux shows the opener with its key in Options.
	var mux mailer.URLMux
	mux.Register(mailgunmail.Scheme, &mailgunmail.URLOpener{Options: mailgunmail.Options{APIKey: "key-example"}})
	m, err := mux.OpenMailer(context.Background(), "mailgun://mg.example.com?region=eu")
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	var t transport.Transport
	m.As(&t)
	fmt.Println(t)
	// Output: mailgunmail(https://api.eu.mailgun.net)/v3/mg.example.com/messages.mime
}

func ExampleOpenMailer() {
	// Pass your own client, say one wrapped by otelhttp.NewTransport to trace each request.
	client := &http.Client{Timeout: 30 * time.Second}
	m, err := mailgunmail.OpenMailer(context.Background(), client, &mailgunmail.Options{
		APIKey: "key-example", Domain: "mg.example.eu", BaseURL: mailgunmail.EUBaseURL, TestMode: true,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	var c *http.Client
	fmt.Println(m.As(&c) && c == client)
	// Output: true
}
