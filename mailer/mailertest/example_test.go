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

// Find, SentTo and WithSubject select recorded messages for assertions of your own.
func ExampleRecorder_Find() {
	rec := mailertest.NewRecorder(nil)
	for _, to := range []string{"ann@example.org", "bob@example.org"} {
		if err := signUp(context.Background(), rec, to); err != nil {
			fmt.Println(err)
		}
	}
	fmt.Println(len(rec.SentTo("ann@EXAMPLE.org")), len(rec.WithSubject("Confirm your address")))
	toBob := rec.Find(func(s *mailertest.Sent) bool { return s.HasRecipient("bob@example.org") })
	fmt.Println(toBob[0].HeaderValues("To"))
	// Output:
	// 1 2
	// [bob@example.org]
}

// Raw renders a recorded message as the SMTP engine would send it; Mask makes the bytes
// comparable from run to run, which is what AssertGolden compares.
func ExampleSent_Raw() {
	rec := mailertest.NewRecorder(nil)
	if err := signUp(context.Background(), rec, "ann@example.org"); err != nil {
		fmt.Println(err)
	}
	raw, err := rec.Sent()[0].Raw()
	if err != nil {
		fmt.Println(err)
	}
	for _, line := range strings.Split(string(mailertest.Mask(raw)), "\r\n") {
		if strings.HasPrefix(line, "Subject:") || strings.HasPrefix(line, "Date:") {
			fmt.Println(line)
		}
	}
	// Output:
	// Subject: Confirm your address
	// Date: MASKED
}

// AssertGolden compares the masked rendering with testdata/<name>.golden; run the tests
// with POSTIE_UPDATE_GOLDEN=1 to write the file instead.
func ExampleAssertGolden() {
	var tb testing.TB = &fakeTB{} // in a test: t
	rec := mailertest.NewRecorder(nil)
	if err := signUp(context.Background(), rec, "ann@example.org"); err != nil {
		fmt.Println(err)
	}
	raw, err := rec.Sent()[0].Raw()
	if err != nil {
		fmt.Println(err)
	}
	mailertest.AssertGolden(tb, "signup", raw)
	fmt.Println("failures:", len(tb.(*fakeTB).errors))
	// Output:
	// failures: 0
}
