package mailertest_test

import (
	"context"
	"fmt"
	"net/mail"
	"strings"
	"testing"

	"github.com/postiemail/postie/mailer"
	"github.com/postiemail/postie/mailer/mailertest"
)

// signUp is application code: it depends on mailer.Mailer, not on a concrete client.
func signUp(ctx context.Context, m mailer.Mailer, email string) error {
	_, err := m.Send(ctx, &mailer.Message{
		From:    mail.Address{Name: "Shop", Address: "no-reply@shop.example"},
		To:      []mail.Address{{Address: email}},
		Subject: "Confirm your address",
		Text:    "Open https://shop.example/confirm to finish signing up.",
	})
	return err
}

func ExampleRecorder() {
	// In a test: func TestSignUp(t *testing.T) { ... } with t in place of tb.
	var tb testing.TB = &fakeTB{}

	rec := mailertest.NewRecorder(nil)
	if err := signUp(context.Background(), rec, "ann@example.org"); err != nil {
		fmt.Println(err)
	}
	rec.AssertSentCount(tb, 1)
	rec.AssertSentTo(tb, "ann@example.org").
		AssertSubject(tb, "Confirm your address").
		AssertTextContains(tb, "/confirm")
	fmt.Println("failures:", len(tb.(*fakeTB).errors))
	// Output:
	// failures: 0
}

func ExampleRecorder_Transport() {
	rec := mailertest.NewRecorder(nil)
	// Make the backend refuse the address, to test how the application copes.
	rec.Transport().RejectRecipient("gone@example.org", nil)
	err := signUp(context.Background(), rec, "gone@example.org")
	fmt.Println(mailer.CodeOf(err))
	// Output:
	// NotFound
}

func ExampleMask() {
	raw := "Date: Mon, 2 Jan 2006 15:04:05 +0000\r\nMessage-ID: <x1@shop.example>\r\n" +
		"Content-Type: multipart/mixed; boundary=\"q8fz\"\r\n\r\n--q8fz\r\n\r\nhi\r\n--q8fz--\r\n"
	masked := mailertest.Mask([]byte(raw))
	fmt.Print(strings.ReplaceAll(string(masked), "\r\n", "\n"))
	// Output:
	// Date: MASKED
	// Message-ID: MASKED
	// Content-Type: multipart/mixed; boundary="BOUNDARY-1"
	//
	// --BOUNDARY-1
	//
	// hi
	// --BOUNDARY-1--
}
