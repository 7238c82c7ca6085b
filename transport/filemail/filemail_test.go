package filemail_test

import (
	"bytes"
	"context"
	"fmt"
	"net/mail"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/postiemail/postie/mailer"
	"github.com/postiemail/postie/transport"
	"github.com/postiemail/postie/transport/filemail"
	"github.com/postiemail/postie/transport/transporttest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// harness reads the deliveries back from the .eml files and their envelope files.
type harness struct{ dir string }

func (h *harness) MakeTransport(context.Context) (transport.Transport, error) {
	return filemail.New(h.dir, &filemail.Options{Envelope: true})
}

func (h *harness) Deliveries(context.Context) ([]transporttest.Delivery, error) {
	paths, err := filepath.Glob(filepath.Join(h.dir, "*.eml"))
	if err != nil {
		return nil, err
	}
	slices.Sort(paths) // names start with the time: arrival order
	var ds []transporttest.Delivery
	for _, p := range paths {
		raw, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		env, err := filemail.ReadEnvelope(p)
		if err != nil {
			return nil, err
		}
		ds = append(ds, transporttest.Delivery{Envelope: env, Raw: raw})
	}
	return ds, nil
}

// InjectFault: a directory has no faults to inject; the suite skips those cases.
func (h *harness) InjectFault(transporttest.Fault) bool { return false }
func (h *harness) Close()                               {}

func TestConformance(t *testing.T) {
	transporttest.RunConformanceTests(t, func(_ context.Context, t *testing.T) (transporttest.Harness, error) {
		return &harness{dir: t.TempDir()}, nil
	}, nil)
}

func message(id string) *transport.Message {
	return &transport.Message{
		Envelope:  transport.Envelope{From: "shop@example.com", To: []string{"ann@example.org", "secret@example.org"}},
		From:      mail.Address{Address: "shop@example.com"},
		To:        []mail.Address{{Address: "ann@example.org"}},
		Bcc:       []mail.Address{{Address: "secret@example.org"}},
		Subject:   "Hello",
		Date:      time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC),
		MessageID: id,
		Text:      "Hi Ann",
	}
}

func TestWritesOneFilePerMessage(t *testing.T) {
	dir := t.TempDir()
	tr, err := filemail.New(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	r, err := tr.Send(context.Background(), message("a@example.com"))
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Dir(r.ID) != dir || !strings.HasSuffix(r.ID, ".eml") || r.MessageID != "a@example.com" {
		t.Errorf("Receipt = %+v", r)
	}
	raw, err := os.ReadFile(r.ID)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if msg.Header.Get("Message-Id") != "<a@example.com>" || msg.Header.Get("Subject") != "Hello" {
		t.Errorf("header = %v", msg.Header)
	}
	if bytes.Contains(raw, []byte("secret@")) {
		t.Error("the .eml names the Bcc recipient")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want just the .eml (no temp or envelope file): %v", len(entries), entries)
	}
	if _, err := filemail.ReadEnvelope(r.ID); err == nil || !strings.Contains(err.Error(), "Options.Envelope") {
		t.Errorf("ReadEnvelope without an envelope file: %v", err)
	}
}

func TestNeverOverwrites(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC)
	tr, err := filemail.New(dir, &filemail.Options{Now: func() time.Time { return now }, Envelope: true})
	if err != nil {
		t.Fatal(err)
	}
	// The same clock reading and Message-ID give the same base name every time.
	var paths []string
	for i := range 3 {
		m := message("same@example.com")
		m.Subject = fmt.Sprint("send ", i)
		r, err := tr.Send(context.Background(), m)
		if err != nil {
			t.Fatal(err)
		}
		paths = append(paths, r.ID)
	}
	if paths[0] == paths[1] || paths[1] == paths[2] || !strings.HasSuffix(paths[1], "-2.eml") || !strings.HasSuffix(paths[2], "-3.eml") {
		t.Errorf("paths = %v, want unique names with -2, -3 suffixes", paths)
	}
	for i, p := range paths {
		raw, _ := os.ReadFile(p)
		if !bytes.Contains(raw, []byte(fmt.Sprint("Subject: send ", i))) {
			t.Errorf("%s does not hold send %d: a file was overwritten", p, i)
		}
		env, err := filemail.ReadEnvelope(p)
		if err != nil || !slices.Equal(env.To, []string{"ann@example.org", "secret@example.org"}) {
			t.Errorf("envelope of %s = %+v, %v", p, env, err)
		}
	}
	if !strings.HasPrefix(filepath.Base(paths[0]), "20250102T030405.000000006Z-") {
		t.Errorf("name %q does not start with the UTC time", filepath.Base(paths[0]))
	}
	// A file someone else put there under the next name is left alone too.
	if err := os.WriteFile(strings.TrimSuffix(paths[0], ".eml")+"-4.eml", []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := tr.Send(context.Background(), message("same@example.com"))
	if err != nil || !strings.HasSuffix(r.ID, "-5.eml") {
		t.Errorf("with -4 taken: %v, %v", r, err)
	}
	if b, _ := os.ReadFile(strings.TrimSuffix(paths[0], ".eml") + "-4.eml"); string(b) != "mine" {
		t.Error("a foreign file was overwritten")
	}
}

func TestDirectoryErrors(t *testing.T) {
	base := t.TempDir()
	missing := filepath.Join(base, "nope")
	_, err := filemail.New(missing, nil)
	if transport.CodeOf(err) != transport.InvalidArgument || !strings.Contains(err.Error(), missing) || !strings.Contains(err.Error(), "mkdir -p") {
		t.Errorf("missing directory: %v", err)
	}
	file := filepath.Join(base, "file")
	os.WriteFile(file, nil, 0o644)
	if _, err := filemail.New(file, nil); transport.CodeOf(err) != transport.InvalidArgument || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("a file: %v", err)
	}

	// The directory disappears after New.
	gone := filepath.Join(base, "gone")
	os.Mkdir(gone, 0o755)
	tr, err := filemail.New(gone, nil)
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(gone)
	_, err = tr.Send(context.Background(), message("x@example.com"))
	if transport.CodeOf(err) != transport.FailedPrecondition || !strings.Contains(err.Error(), gone) {
		t.Errorf("vanished directory: %v", err)
	}
}

func TestReadOnlyDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ro")
	os.Mkdir(dir, 0o500)
	defer os.Chmod(dir, 0o700)
	if f, err := os.CreateTemp(dir, "probe"); err == nil {
		// Root writes into any mode; sysfs refuses new files even to root.
		f.Close()
		os.Remove(f.Name())
		dir = "/sys"
		if f, err := os.CreateTemp(dir, "probe"); err == nil || !strings.Contains(err.Error(), "permission denied") {
			if f != nil {
				f.Close()
				os.Remove(f.Name())
			}
			t.Skip("this user can write into a mode 0500 directory and /sys is not read-only here, so it cannot be tested")
		}
	}
	_, err := filemail.New(dir, nil)
	if transport.CodeOf(err) != transport.FailedPrecondition || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "chmod u+w") {
		t.Errorf("read-only directory: %v", err)
	}
}

func TestSendChecks(t *testing.T) {
	dir := t.TempDir()
	tr, _ := filemail.New(dir, nil)
	m := message("x@example.com")
	m.Envelope.To = nil
	if _, err := tr.Send(context.Background(), m); transport.CodeOf(err) != transport.InvalidArgument {
		t.Errorf("no recipient: %v", err)
	}
	if _, err := tr.Send(context.Background(), nil); transport.CodeOf(err) != transport.InvalidArgument {
		t.Errorf("nil message: %v", err)
	}
	bad := message("x@example.com")
	bad.Headers = []transport.Field{{Name: "X-Bad", Value: "a\r\nBcc: x@example.org"}}
	if _, err := tr.Send(context.Background(), bad); transport.CodeOf(err) != transport.InvalidArgument {
		t.Errorf("header injection: %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("failed sends left %v behind", entries)
	}
}

func TestURL(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	tr, err := mailer.OpenTransport(ctx, "file://"+dir+"?envelope=true")
	if err != nil {
		t.Fatal(err)
	}
	r, err := tr.Send(ctx, message("u@example.com"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := filemail.ReadEnvelope(r.ID); err != nil {
		t.Errorf("envelope=true did not write the envelope: %v", err)
	}
	if got := tr.(*filemail.Transport).Dir(); got != dir {
		t.Errorf("Dir = %q", got)
	}
	if tr, err := mailer.OpenTransport(ctx, "file://localhost"+dir); err != nil || tr.(*filemail.Transport).Dir() != dir {
		t.Errorf("file://localhost/dir: %v", err)
	}

	wd, _ := os.Getwd()
	rel, _ := filepath.Rel(wd, dir)
	if tr, err := mailer.OpenTransport(ctx, "file:"+rel); err != nil || tr.(*filemail.Transport).Dir() != filepath.Clean(rel) {
		t.Errorf("file:relative: %v", err)
	}
	for _, u := range []string{"file://host/dir", "file://", "file://" + dir + "?envelope=maybe", "file://" + dir + "?mode=0600", "file://" + dir + "/missing"} {
		if _, err := mailer.OpenTransport(ctx, u); transport.CodeOf(err) != transport.InvalidArgument {
			t.Errorf("%s: %v, want InvalidArgument", u, err)
		}
	}
}

func BenchmarkSend(b *testing.B) {
	tr, err := filemail.New(b.TempDir(), nil)
	if err != nil {
		b.Fatal(err)
	}
	transporttest.RunBenchmarks(b, tr)
}
