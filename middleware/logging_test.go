package middleware_test

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/postiemail/postie/middleware"
	"github.com/postiemail/postie/transport"
	"github.com/postiemail/postie/transport/memmail"
)

// recorder is a slog.Handler that keeps the records it gets.
type recorder struct {
	mu      sync.Mutex
	level   slog.Level
	records []slog.Record
}

func (r *recorder) Enabled(_ context.Context, l slog.Level) bool { return l >= r.level }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.records = append(r.records, rec.Clone())
	return nil
}
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *recorder) WithGroup(string) slog.Handler      { return r }

func (r *recorder) only(t *testing.T) (slog.Record, map[string]slog.Value) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.records) != 1 {
		t.Fatalf("%d records, want 1", len(r.records))
	}
	attrs := map[string]slog.Value{}
	r.records[0].Attrs(func(a slog.Attr) bool { attrs[a.Key] = a.Value; return true })
	return r.records[0], attrs
}

func TestLoggingSuccessWithAttempts(t *testing.T) {
	rec := &recorder{}
	mem := memmail.New(nil)
	mem.FailNext(errShutdown())
	tr := transport.Chain(
		middleware.Logging(&middleware.LoggingOptions{Logger: slog.New(rec)}),
		middleware.Retry(&middleware.RetryOptions{NewBackoff: fast}),
	)(mem)
	m := testMessage("ann@example.com", "bob@example.com")
	if _, err := tr.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	r, a := rec.only(t)
	if r.Level != slog.LevelInfo || r.Message != "mail sent" {
		t.Errorf("record %v %q, want INFO \"mail sent\"", r.Level, r.Message)
	}
	want := map[string]string{"outcome": "sent", "message_id": m.MessageID, "id": "mem-1", "recipients": "2", "accepted": "2", "attempts": "2"}
	for k, v := range want {
		if a[k].String() != v {
			t.Errorf("%s = %q, want %q", k, a[k].String(), v)
		}
	}
	if _, ok := a["duration"]; !ok {
		t.Error("no duration")
	}
	for _, k := range []string{"from", "to", "error", "code"} {
		if _, ok := a[k]; ok {
			t.Errorf("unexpected attribute %s on a successful send without Addresses", k)
		}
	}
}

func TestLoggingFailureRedactsAddresses(t *testing.T) {
	rec := &recorder{}
	mem := memmail.New(nil)
	mem.FailNext(transport.ClassifyReply(&transport.Reply{Code: 550, Enhanced: transport.Enhanced{5, 1, 1}, Lines: []string{"<ann@example.com>: no such user"}}))
	m := testMessage("ann@example.com")
	_, err := middleware.Logging(&middleware.LoggingOptions{Logger: slog.New(rec)})(mem).Send(context.Background(), m)
	if err == nil {
		t.Fatal("want an error")
	}
	r, a := rec.only(t)
	if r.Level != slog.LevelError || a["outcome"].String() != "failed" {
		t.Errorf("record %v outcome %q, want ERROR failed", r.Level, a["outcome"])
	}
	if a["code"].String() != "NotFound" || a["temporary"].Bool() || a["reply_code"].Int64() != 550 {
		t.Errorf("code %v temporary %v reply_code %v", a["code"], a["temporary"], a["reply_code"])
	}
	if e := a["error"].String(); !strings.Contains(e, "[redacted]") || !strings.Contains(e, "no such user") {
		t.Errorf("error = %q, want the text with the address redacted", e)
	}
	for k, v := range a {
		if k != "message_id" && strings.Contains(v.String(), "@") {
			t.Errorf("%s = %q holds an address", k, v)
		}
	}
}

func TestLoggingPartialAndAddressesOptIn(t *testing.T) {
	rec := &recorder{}
	mem := memmail.New(nil)
	mem.RejectRecipient("bob@example.com", errNoSuchUser())
	tr := middleware.Logging(&middleware.LoggingOptions{Logger: slog.New(rec), Addresses: true})(mem)
	if _, err := tr.Send(context.Background(), testMessage("ann@example.com", "bob@example.com")); err == nil {
		t.Fatal("want a PartialError")
	}
	r, a := rec.only(t)
	if r.Level != slog.LevelWarn || a["outcome"].String() != "partial" || a["rejected"].Int64() != 1 || a["accepted"].Int64() != 1 {
		t.Errorf("record %v: outcome %v accepted %v rejected %v", r.Level, a["outcome"], a["accepted"], a["rejected"])
	}
	if a["from"].String() != "app@example.com" || !strings.Contains(a["to"].String(), "bob@example.com") {
		t.Errorf("from %q to %q, want the envelope", a["from"], a["to"])
	}
	if !strings.Contains(a["error"].String(), "bob@example.com") {
		t.Errorf("error %q: with Addresses the text stays as it is", a["error"])
	}
}

func TestLoggingRespectsTheHandlersLevel(t *testing.T) {
	rec := &recorder{level: slog.LevelWarn}
	tr := middleware.Logging(&middleware.LoggingOptions{Logger: slog.New(rec)})(memmail.New(nil))
	if _, err := tr.Send(context.Background(), testMessage("ann@example.com")); err != nil {
		t.Fatal(err)
	}
	if len(rec.records) != 0 {
		t.Errorf("%d records below the handler's level", len(rec.records))
	}
}

func TestLoggingDefaultLoggerAtSendTime(t *testing.T) {
	tr := middleware.Logging(nil)(memmail.New(nil))
	rec := &recorder{}
	prev := slog.Default()
	slog.SetDefault(slog.New(rec))
	t.Cleanup(func() { slog.SetDefault(prev) })
	if _, err := tr.Send(context.Background(), testMessage("ann@example.com")); err != nil {
		t.Fatal(err)
	}
	rec.only(t)
}
