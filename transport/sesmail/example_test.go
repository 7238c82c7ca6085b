package sesmail_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"strings"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/postiemail/postie/mailer"
	"github.com/postiemail/postie/transport/sesmail"
)

func ExampleOpen() {
	// A stand-in for email.eu-west-1.amazonaws.com, so the example runs offline. In
	// production leave BaseEndpoint and Credentials empty: the AWS default chain (an IAM
	// role, the environment, ~/.aws) provides credentials and region.
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Println(r.Method, r.URL.Path, strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 "))
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"MessageId":"0102018e2a4c5f7e-4f2c-ses"}`)
	}))
	defer api.Close()

	t, err := sesmail.Open(context.Background(), &sesmail.Options{
		Region:       "eu-west-1",
		BaseEndpoint: api.URL,
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "example-secret", ""),
	})
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
		Metadata: map[string]string{"order": "42"},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("SES MessageId:", r.ID)
	// Output:
	// POST /v2/email/outbound-emails true
	// SES MessageId: 0102018e2a4c5f7e-4f2c-ses
}

func ExampleURLOpener() {
	// Importing the package registers ses:// with mailer.DefaultURLMux, so
	// mailer.OpenMailer(ctx, "ses://?region=eu-west-1") opens SES with the AWS default
	// credential chain. A private mux shows the opener with credentials in Options.
	var mux mailer.URLMux
	mux.Register(sesmail.Scheme, &sesmail.URLOpener{Options: sesmail.Options{
		Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "example-secret", ""),
	}})
	m, err := mux.OpenMailer(context.Background(), "ses://?region=eu-west-1&configuration_set=transactional")
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	var t *sesmail.Transport
	fmt.Println(m.As(&t), t)
	// Output: true sesmail(eu-west-1)
}

func ExampleNew() {
	// Bring your own SDK client (built with sesv2.NewFromConfig from config.LoadDefaultConfig
	// in production); the transport turns its retries off for each send.
	client := sesv2.New(sesv2.Options{
		Region:      "eu-west-1",
		Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "example-secret", ""),
	})
	t, err := sesmail.New(client, &sesmail.Options{ConfigurationSetName: "transactional"})
	if err != nil {
		log.Fatal(err)
	}
	defer t.Close()
	var c *sesv2.Client
	fmt.Println(t, t.As(&c) && c == client)
	// Output: sesmail(eu-west-1) true
}

func ExampleOpenMailer() {
	client := sesv2.New(sesv2.Options{
		Region:      "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "example-secret", ""),
	})
	m, err := sesmail.OpenMailer(context.Background(), client, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	var c *sesv2.Client
	fmt.Println(m.As(&c) && c == client)
	// Output: true
}
