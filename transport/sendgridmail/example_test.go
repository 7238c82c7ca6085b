package sendgridmail_test

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
	"github.com/postiemail/postie/transport/sendgridmail"
)

func ExampleNew() {
	// A stand-in for api.sendgrid.com, so the example runs offline. In production leave
	// BaseURL empty and the API key in $SENDGRID_API_KEY.
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Message-Id", "14c5d75ce93")
		w.WriteHeader(http.StatusAccepted)
	}))
	defer api.Close()

	// nil: a default *http.Client; pass an otelhttp-instrumented one to trace requests.
	t, err := sendgridmail.New(nil, &sendgridmail.Options{APIKey: "SG.example", BaseURL: api.URL})
	if err != nil {
		log.Fatal(err)
	}
	m := mailer.New(t, nil)
	defer m.Close()

	r, err := m.Send(context.Background(), &mailer.Message{
		From:    mail.Address{Name: "Shop", Address: "shop@example.com"},
		To:      []mail.Address{{Address: "ann@example.org"}},
		Subject: "Your order",
		Text:    "Thanks for your order.",
		Tags:    []string{"orders"},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("SendGrid message id:", r.ID)
	// Output: SendGrid message id: 14c5d75ce93
}

func ExampleURLOpener() {
	// Importing the package registers sendgrid:// with mailer.DefaultURLMux, so
	// mailer.OpenMailer(ctx, "sendgrid://?region=eu") works with $SENDGRID_API_KEY set.
	// Here a private mux shows the opener with its key given in Options.
	var mux mailer.URLMux
	mux.Register(sendgridmail.Scheme, &sendgridmail.URLOpener{Options: sendgridmail.Options{APIKey: "SG.example"}})
	m, err := mux.OpenMailer(context.Background(), "sendgrid://?region=eu&sandbox=true")
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	var t transport.Transport
	m.As(&t)
	fmt.Println(t)
	// Output: sendgridmail(https://api.eu.sendgrid.com)
}

func ExampleOpenMailer() {
	// Pass your own client, say one wrapped by otelhttp.NewTransport to trace each request.
	client := &http.Client{Timeout: 30 * time.Second}
	m, err := sendgridmail.OpenMailer(context.Background(), client, &sendgridmail.Options{APIKey: "SG.example", SandboxMode: true})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	var c *http.Client
	fmt.Println(m.As(&c) && c == client)
	// Output: true
}
