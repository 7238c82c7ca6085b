package resendmail_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"strings"
	"time"

	"github.com/postiemail/postie/mailer"
	"github.com/postiemail/postie/transport"
	"github.com/postiemail/postie/transport/resendmail"
)

func ExampleNew() {
	// A stand-in for api.resend.com, so the example runs offline. In production leave
	// BaseURL empty and the key in $RESEND_API_KEY.
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Println("Idempotency-Key:", r.Header.Get("Idempotency-Key"))
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"id":"49a3999c-0ce1-4ea6-ab68-afcd6dc2e794"}`)
	}))
	defer api.Close()

	t, err := resendmail.New(nil, &resendmail.Options{APIKey: "re_example", BaseURL: api.URL})
	if err != nil {
		log.Fatal(err)
	}
	m := mailer.New(t, nil)
	defer m.Close()
	r, err := m.Send(context.Background(), &mailer.Message{
		From:      mail.Address{Name: "Shop", Address: "shop@example.com"},
		To:        []mail.Address{{Address: "ann@example.org"}},
		Subject:   "Your order",
		Text:      "Thanks for your order.",
		MessageID: "order-42@shop.example.com", // usually generated; retries reuse it
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("Resend id:", r.ID)
	// Output:
	// Idempotency-Key: order-42@shop.example.com
	// Resend id: 49a3999c-0ce1-4ea6-ab68-afcd6dc2e794
}

func ExampleURLOpener() {
	// Importing the package registers resend:// with mailer.DefaultURLMux, so
	// mailer.OpenMailer(ctx, "resend://") works with $RESEND_API_KEY set. Here a private
	// mux shows the opener with its key in Options.
	var mux mailer.URLMux
	mux.Register(resendmail.Scheme, &resendmail.URLOpener{Options: resendmail.Options{APIKey: "re_example"}})
	m, err := mux.OpenMailer(context.Background(), "resend://")
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	var t transport.Transport
	m.As(&t)
	fmt.Println(t)
	// Output: resendmail(https://api.resend.com)
}

func ExampleOpenMailer() {
	// Pass your own client, say one wrapped by otelhttp.NewTransport to trace each request.
	client := &http.Client{Timeout: 30 * time.Second}
	m, err := resendmail.OpenMailer(context.Background(), client, &resendmail.Options{APIKey: "re_example"})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	var c *http.Client
	fmt.Println(m.As(&c) && c == client)
	// Output: true
}

func ExampleIdempotencyKey() {
	// The key Send puts on a message: its Message-ID, hashed when too long for Resend.
	fmt.Println(resendmail.IdempotencyKey("order-42@shop.example.com"))
	fmt.Println(len(resendmail.IdempotencyKey(strings.Repeat("x", 300) + "@shop.example.com")))
	// Output:
	// order-42@shop.example.com
	// 71
}
