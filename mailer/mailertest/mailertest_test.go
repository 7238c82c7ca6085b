package mailertest_test

import (
	"context"
	"fmt"
	"net/mail"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/postiemail/postie/mailer"
	"github.com/postiemail/postie/mailer/mailertest"
	"github.com/postiemail/postie/transport"
)

// fakeTB records failures instead of failing the test, so each assertion can be shown to
// fail when it should. testing.TB has unexported methods, hence the embedding.
type fakeTB struct {
	testing.TB
	mu     sync.Mutex
	errors []string
	fatal  bool
}

func (f *fakeTB) Helper() {}

func (f *fakeTB) Errorf(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errors = append(f.errors, fmt.Sprintf(format, args...))
}

func (f *fakeTB) Fatalf(format string, args ...any) {
	f.mu.Lock()
	f.errors = append(f.errors, fmt.Sprintf(format, args...))
	f.fatal = true
	f.mu.Unlock()
	runtime.Goexit()
}

// check runs fn against a fake TB in its own goroutine (Fatalf ends it) and returns what
// it reported.
func check(fn func(tb testing.TB)) *fakeTB {
	f := &fakeTB{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(f)
	}()
	<-done
	return f
}

func (f *fakeTB) failed() bool { return len(f.errors) > 0 }
func (f *fakeTB) text() string { return strings.Join(f.errors, "\n") }

func send(t *testing.T, rec *mailertest.Recorder, m *mailer.Message) {
	t.Helper()
	if _, err := rec.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
}

func welcome() *mailer.Message {
	return &mailer.Message{
		From:        mail.Address{Name: "Shop", Address: "no-reply@shop.example"},
		To:          []mail.Address{{Name: "Ann", Address: "ann@example.org"}},
		Cc:          []mail.Address{{Address: "cc@example.org"}},
		Bcc:         []mail.Address{{Address: "audit@shop.example"}},
		ReplyTo:     []mail.Address{{Name: "Help", Address: "help@shop.example"}},
		Subject:     "Welcome, Ann",
		Text:        "Please confirm your address.",
		HTML:        "<p>Please <a href=\"https://shop.example/c\">confirm</a>.</p>",
		Headers:     map[string][]string{"X-Campaign": {"signup"}},
		Attachments: []mailer.Attachment{mailer.NewAttachment("terms.pdf", []byte("%PDF"))},
	}
}

func TestAssertionsPass(t *testing.T) {
	rec := mailertest.NewRecorder(nil)
	rec.AssertNothingSent(t)
	send(t, rec, welcome())
	rec.AssertSentCount(t, 1)
	rec.AssertNotSentTo(t, "bob@example.org")
	for _, addr := range []string{"ann@example.org", "ann@EXAMPLE.org", "cc@example.org", "audit@shop.example"} {
		rec.AssertSentTo(t, addr)
	}
	rec.AssertSentWithSubject(t, "Welcome, Ann").
		AssertSubject(t, "Welcome, Ann").
		AssertTextContains(t, "confirm your address").
		AssertHTMLContains(t, `href="https://shop.example/c"`).
		AssertHasAttachment(t, "terms.pdf").
		AssertHeaderEquals(t, "X-Campaign", "signup").
		AssertHeaderEquals(t, "subject", "Welcome, Ann").
		AssertHeaderEquals(t, "From", "Shop <no-reply@shop.example>").
		AssertHeaderEquals(t, "To", "Ann <ann@example.org>").
		AssertHeaderEquals(t, "Cc", "cc@example.org").
		AssertHeaderEquals(t, "Reply-To", "Help <help@shop.example>")
	s := rec.Sent()[0]
	s.AssertHeaderEquals(t, "Message-ID", "<"+s.MessageID+">")
	if strings.Contains(s.MessageID, "@shop.example") == false {
		t.Errorf("MessageID %q: the Recorder should stamp like the Client", s.MessageID)
	}
}

func TestAssertionsFail(t *testing.T) {
	rec := mailertest.NewRecorder(nil)
	send(t, rec, welcome())
	other := welcome()
	other.To = []mail.Address{{Address: "bob@example.org"}}
	other.Cc, other.Bcc = nil, nil
	other.Subject = "Receipt"
	send(t, rec, other)
	s := rec.Sent()[0]

	for _, c := range []struct {
		name string
		fn   func(tb testing.TB)
		want []string // in the failure message: what was wanted and what was sent instead
	}{
		{"SentCount", func(tb testing.TB) { rec.AssertSentCount(tb, 1) }, []string{"want 1", "2 message(s) were sent", `"Welcome, Ann"`, "to bob@example.org", "bcc audit@shop.example"}},
		{"NothingSent", func(tb testing.TB) { rec.AssertNothingSent(tb) }, []string{"want nothing sent", `"Receipt"`}},
		{"SentTo", func(tb testing.TB) { rec.AssertSentTo(tb, "carl@example.org") }, []string{"carl@example.org", "to ann@example.org"}},
		{"SentTo local part is case-sensitive", func(tb testing.TB) { rec.AssertSentTo(tb, "Ann@example.org") }, []string{"Ann@example.org"}},
		{"NotSentTo", func(tb testing.TB) { rec.AssertNotSentTo(tb, "bob@example.org") }, []string{"want no message sent to bob@example.org", `"Receipt"`}},
		{"NotSentTo via Bcc", func(tb testing.TB) { rec.AssertNotSentTo(tb, "audit@shop.example") }, []string{"audit@shop.example"}},
		{"SentWithSubject", func(tb testing.TB) { rec.AssertSentWithSubject(tb, "Welcome") }, []string{`subject "Welcome"`, `"Welcome, Ann"`}},
		{"Subject", func(tb testing.TB) { s.AssertSubject(tb, "Hello") }, []string{`"Welcome, Ann"`, `want "Hello"`}},
		{"TextContains", func(tb testing.TB) { s.AssertTextContains(tb, "password") }, []string{`"password"`, "Please confirm your address."}},
		{"HTMLContains", func(tb testing.TB) { s.AssertHTMLContains(tb, "<h1>") }, []string{`"<h1>"`, "<a href="}},
		{"HasAttachment", func(tb testing.TB) { s.AssertHasAttachment(tb, "invoice.pdf") }, []string{`"invoice.pdf"`, `attachments: "terms.pdf"`}},
		{"HeaderEquals value", func(tb testing.TB) { s.AssertHeaderEquals(tb, "X-Campaign", "spring") }, []string{`X-Campaign ["signup"]`, `want "spring"`}},
		{"HeaderEquals missing", func(tb testing.TB) { s.AssertHeaderEquals(tb, "List-Unsubscribe", "<x>") }, []string{"no List-Unsubscribe header"}},
		{"HeaderEquals Bcc", func(tb testing.TB) { s.AssertHeaderEquals(tb, "Bcc", "audit@shop.example") }, []string{"Bcc is never a header"}},
		{"chained after a failed find", func(tb testing.TB) {
			rec.AssertSentTo(tb, "nobody@example.org").AssertTextContains(tb, "x").AssertHasAttachment(tb, "y")
		}, []string{"nobody@example.org", "AssertTextContains: no message to check", "AssertHasAttachment: no message to check"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := check(c.fn)
			if !f.failed() {
				t.Fatal("the assertion passed; it should have failed")
			}
			for _, w := range c.want {
				if !strings.Contains(f.text(), w) {
					t.Errorf("failure message lacks %q:\n%s", w, f.text())
				}
			}
		})
	}
	// And nothing was sent to an empty Recorder.
	empty := mailertest.NewRecorder(nil)
	if f := check(func(tb testing.TB) { empty.AssertSentCount(tb, 1) }); !strings.Contains(f.text(), "nothing was sent") {
		t.Errorf("empty recorder message: %s", f.text())
	}
	if f := check(func(tb testing.TB) {
		(&mailertest.Sent{Message: &transport.Message{Subject: "x"}}).AssertHTMLContains(tb, "y")
	}); !strings.Contains(f.text(), "(empty)") {
		t.Errorf("empty HTML message: %s", f.text())
	}
}

func TestRecorderValidatesLikeTheClient(t *testing.T) {
	rec := mailertest.NewRecorder(nil)
	m := welcome()
	m.Subject = "two\nlines"
	if _, err := rec.Send(context.Background(), m); mailer.CodeOf(err) != transport.InvalidArgument {
		t.Errorf("invalid message: %v", err)
	}
	rec.AssertNothingSent(t)
}

func TestRecorderFaultsAndReset(t *testing.T) {
	rec := mailertest.NewRecorder(&mailertest.Options{Max: 2})
	rec.Transport().FailNext(transport.Errorf(transport.Unavailable, true, "down"))
	if _, err := rec.Send(context.Background(), welcome()); !mailer.IsTemporary(err) {
		t.Errorf("injected failure: %v", err)
	}
	rec.AssertNothingSent(t)
	for range 3 {
		send(t, rec, welcome())
	}
	rec.AssertSentCount(t, 2) // bounded
	if rec.Transport().Dropped() != 1 {
		t.Errorf("Dropped = %d", rec.Transport().Dropped())
	}
	rec.Reset()
	rec.AssertNothingSent(t)
}

func TestRecorderConcurrent(t *testing.T) {
	rec := mailertest.NewRecorder(nil)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m := welcome()
			m.Subject = fmt.Sprint("n", i)
			_, _ = rec.Send(context.Background(), m)
			_ = rec.SentTo("ann@example.org")
		}()
	}
	wg.Wait()
	rec.AssertSentCount(t, 20)
	if n := len(rec.Find(func(s *mailertest.Sent) bool { return strings.HasPrefix(s.Subject, "n1") })); n != 11 {
		t.Errorf("Find n1*: %d, want 11 (n1, n10..n19)", n)
	}
}

func TestMask(t *testing.T) {
	raw := "Date: Mon, 2 Jan 2006 15:04:05 +0000\r\n" +
		"Message-ID:\r\n <abc123@shop.example>\r\n" +
		"Subject: Date: not a header\r\n" +
		"Content-Type: multipart/mixed; boundary=\"b_1\"\r\n\r\n" +
		"--b_1\r\nContent-Type: multipart/alternative; boundary=b_10\r\n\r\n--b_10\r\n\r\nx\r\n--b_10--\r\n--b_1--\r\n"
	want := "Date: MASKED\r\n" +
		"Message-ID: MASKED\r\n" +
		"Subject: Date: not a header\r\n" +
		"Content-Type: multipart/mixed; boundary=\"BOUNDARY-1\"\r\n\r\n" +
		"--BOUNDARY-1\r\nContent-Type: multipart/alternative; boundary=BOUNDARY-2\r\n\r\n--BOUNDARY-2\r\n\r\nx\r\n--BOUNDARY-2--\r\n--BOUNDARY-1--\r\n"
	if got := string(mailertest.Mask([]byte(raw))); got != want {
		t.Errorf("Mask:\n%q\nwant\n%q", got, want)
	}
}

func TestGolden(t *testing.T) {
	rec := mailertest.NewRecorder(&mailertest.Options{Now: func() time.Time { return time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC) }})
	send(t, rec, welcome())
	raw, err := rec.Sent()[0].Raw()
	if err != nil {
		t.Fatal(err)
	}
	mailertest.AssertGolden(t, "welcome", raw)

	// A second render with another random Message-ID (so other boundaries) still matches.
	send(t, rec, welcome())
	raw2, _ := rec.Sent()[1].Raw()
	if string(raw2) == string(raw) {
		t.Fatal("two sends rendered identically; the masking is not exercised")
	}
	mailertest.AssertGolden(t, "welcome", raw2)

	if mailertest.Updating() {
		return
	}
	// A real change fails, naming the line.
	changed := []byte(strings.Replace(string(raw), "Welcome, Ann", "Welcome, Bob", 1))
	f := check(func(tb testing.TB) { mailertest.AssertGolden(tb, "welcome", changed) })
	if !f.failed() || !strings.Contains(f.text(), "Welcome, Bob") || !strings.Contains(f.text(), mailertest.UpdateEnv) {
		t.Errorf("changed output: %s", f.text())
	}
	// A missing golden file is fatal and says how to create it.
	f = check(func(tb testing.TB) { mailertest.AssertGolden(tb, "no-such-golden", raw) })
	if !f.fatal || !strings.Contains(f.text(), filepath.Join("testdata", "no-such-golden.golden")) {
		t.Errorf("missing golden: fatal %v, %s", f.fatal, f.text())
	}
	if _, err := os.Stat(filepath.Join("testdata", "no-such-golden.golden")); err == nil {
		t.Error("a golden file was created without POSTIE_UPDATE_GOLDEN")
	}
}
