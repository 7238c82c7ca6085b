package mailertest

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// AssertSentCount fails t unless exactly n messages were sent.
func (r *Recorder) AssertSentCount(t testing.TB, n int) {
	t.Helper()
	if sent := r.Sent(); len(sent) != n {
		t.Errorf("mailertest: want %d message(s) sent; %s", n, summary(sent))
	}
}

// AssertNothingSent fails t if any message was sent.
func (r *Recorder) AssertNothingSent(t testing.TB) {
	t.Helper()
	if sent := r.Sent(); len(sent) != 0 {
		t.Errorf("mailertest: want nothing sent; %s", summary(sent))
	}
}

// AssertSentTo fails t unless a message went to addr (To, Cc or Bcc). It returns the
// last such message for further assertions, or nil (whose assertions fail too).
func (r *Recorder) AssertSentTo(t testing.TB, addr string) *Sent {
	t.Helper()
	found := r.SentTo(addr)
	if len(found) == 0 {
		t.Errorf("mailertest: want a message sent to %s; %s", addr, summary(r.Sent()))
		return nil
	}
	return found[len(found)-1]
}

// AssertNotSentTo fails t if any message went to addr.
func (r *Recorder) AssertNotSentTo(t testing.TB, addr string) {
	t.Helper()
	if found := r.SentTo(addr); len(found) != 0 {
		t.Errorf("mailertest: want no message sent to %s; %s", addr, summary(found))
	}
}

// AssertSentWithSubject fails t unless a message with exactly this subject was sent. It
// returns the last such message, or nil.
func (r *Recorder) AssertSentWithSubject(t testing.TB, subject string) *Sent {
	t.Helper()
	found := r.WithSubject(subject)
	if len(found) == 0 {
		t.Errorf("mailertest: want a message with subject %q; %s", subject, summary(r.Sent()))
		return nil
	}
	return found[len(found)-1]
}

// The assertions on *Sent return s so they chain; on a nil *Sent (a failed Assert*To)
// they fail too, without panicking.

func (s *Sent) missing(t testing.TB, what string) bool {
	t.Helper()
	if s == nil || s.Message == nil {
		t.Errorf("mailertest: %s: no message to check (the assertion that found it failed)", what)
		return true
	}
	return false
}

// AssertSubject fails t unless the subject is exactly want.
func (s *Sent) AssertSubject(t testing.TB, want string) *Sent {
	t.Helper()
	if s.missing(t, "AssertSubject") {
		return s
	}
	if s.Subject != want {
		t.Errorf("mailertest: subject is %q, want %q", s.Subject, want)
	}
	return s
}

// AssertTextContains fails t unless the text body contains substr.
func (s *Sent) AssertTextContains(t testing.TB, substr string) *Sent {
	t.Helper()
	if s.missing(t, "AssertTextContains") {
		return s
	}
	if !strings.Contains(s.Text, substr) {
		t.Errorf("mailertest: text body of %q does not contain %q; it is:\n%s", s.Subject, substr, excerpt(s.Text))
	}
	return s
}

// AssertHTMLContains fails t unless the HTML body contains substr.
func (s *Sent) AssertHTMLContains(t testing.TB, substr string) *Sent {
	t.Helper()
	if s.missing(t, "AssertHTMLContains") {
		return s
	}
	if !strings.Contains(s.HTML, substr) {
		t.Errorf("mailertest: HTML body of %q does not contain %q; it is:\n%s", s.Subject, substr, excerpt(s.HTML))
	}
	return s
}

// AssertHasAttachment fails t unless an attachment or inline part is named filename.
func (s *Sent) AssertHasAttachment(t testing.TB, filename string) *Sent {
	t.Helper()
	if s.missing(t, "AssertHasAttachment") {
		return s
	}
	if _, ok := s.Attachment(filename); !ok {
		names := make([]string, len(s.Attachments))
		for i, a := range s.Attachments {
			names[i] = fmt.Sprintf("%q", a.Filename)
		}
		have := "none"
		if len(names) > 0 {
			have = strings.Join(names, ", ")
		}
		t.Errorf("mailertest: %q has no attachment %q; attachments: %s", s.Subject, filename, have)
	}
	return s
}

// AssertHeaderEquals fails t unless the header name has the value want (see
// HeaderValues for how standard fields read).
func (s *Sent) AssertHeaderEquals(t testing.TB, name, want string) *Sent {
	t.Helper()
	if s.missing(t, "AssertHeaderEquals") {
		return s
	}
	if strings.EqualFold(name, "Bcc") {
		t.Errorf("mailertest: Bcc is never a header; use AssertSentTo to check Bcc recipients")
		return s
	}
	got := s.HeaderValues(name)
	if !slices.Contains(got, want) {
		if len(got) == 0 {
			t.Errorf("mailertest: %q has no %s header, want %q", s.Subject, name, want)
		} else {
			t.Errorf("mailertest: %q has %s %q, want %q", s.Subject, name, got, want)
		}
	}
	return s
}

func excerpt(s string) string {
	if s == "" {
		return "\t(empty)"
	}
	const limit = 500
	if len(s) > limit {
		s = s[:limit] + "…"
	}
	return "\t" + strings.ReplaceAll(s, "\n", "\n\t")
}
