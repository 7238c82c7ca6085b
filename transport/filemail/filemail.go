// Package filemail is a transport that writes each message as an .eml file into a
// directory, for local development: open the files with any mail client. It registers the
// URL scheme "file" with mailer.DefaultURLMux, so mailer.OpenMailer(ctx, "file:///tmp/mail")
// works once this package is imported.
//
// Each message is rendered with smtp/mime into a temporary file in the same directory and
// then linked into place under a unique name built from the time and a hash of the
// Message-ID. A file is never overwritten and a reader never sees a half-written one.
// The .eml holds no Bcc header (it is what recipients would get); with Options.Envelope
// the SMTP envelope, Bcc recipients included, is written beside it as <name>.envelope.json.
package filemail

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/postiemail/postie/mailer"
	"github.com/postiemail/postie/smtp/mime"
	"github.com/postiemail/postie/transport"
)

// Scheme is the URL scheme filemail registers: "file:///var/mail/out" or
// "file:///var/mail/out?envelope=true".
const Scheme = "file"

func init() {
	mailer.DefaultURLMux().Register(Scheme, new(URLOpener))
}

// URLOpener opens "file:" URLs naming an existing directory. The query parameter
// envelope=true sets Options.Envelope.
type URLOpener struct{}

// OpenTransportURL opens the directory the URL names: file:///absolute/dir, or
// file:relative/dir for a path relative to the working directory.
func (*URLOpener) OpenTransportURL(_ context.Context, u *url.URL) (transport.Transport, error) {
	var opts Options
	for k, v := range u.Query() {
		switch k {
		case "envelope":
			b, err := strconv.ParseBool(v[0])
			if err != nil {
				return nil, transport.Errorf(transport.InvalidArgument, false, "filemail: open %q: envelope=%q is not a boolean; use envelope=true", mailer.RedactURL(u.String()), v[0])
			}
			opts.Envelope = b
		default:
			return nil, transport.Errorf(transport.InvalidArgument, false, "filemail: open %q: unknown query parameter %q; the only one is envelope", mailer.RedactURL(u.String()), k)
		}
	}
	dir := u.Path
	if u.Opaque != "" {
		dir = u.Opaque
	}
	if u.Host != "" && u.Host != "localhost" {
		return nil, transport.Errorf(transport.InvalidArgument, false, "filemail: open %q: the URL names host %q; use file:///absolute/path (three slashes) or file:relative/path", mailer.RedactURL(u.String()), u.Host)
	}
	if dir == "" {
		return nil, transport.Errorf(transport.InvalidArgument, false, "filemail: open %q: no directory; use file:///absolute/path", mailer.RedactURL(u.String()))
	}
	return New(dir, &opts)
}

// Options configures a Transport. The zero value and nil mean defaults.
type Options struct {
	// Envelope writes the SMTP envelope (sender and every recipient, Bcc included) as
	// JSON beside each message, in <name>.envelope.json; read it back with ReadEnvelope.
	Envelope bool
	// Now returns the time used in file names; default time.Now.
	Now func() time.Time
	// MIME tunes the rendering; nil means smtp/mime's defaults.
	MIME *mime.Options
}

// Transport writes .eml files into one directory. It is safe for concurrent use.
type Transport struct {
	dir    string
	opts   Options
	closed atomic.Bool
}

// New returns a Transport writing into dir, which must exist and be writable; the error
// says which it is not and how to fix it. A nil opts means defaults.
func New(dir string, opts *Options) (*Transport, error) {
	t := &Transport{dir: filepath.Clean(dir)}
	if opts != nil {
		t.opts = *opts
	}
	if t.opts.Now == nil {
		t.opts.Now = time.Now
	}
	st, err := os.Stat(t.dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, transport.Errorf(transport.InvalidArgument, false, "filemail: directory %q does not exist: create it (mkdir -p %s) or name an existing directory", t.dir, t.dir)
	case err != nil:
		return nil, transport.Errorf(transport.FailedPrecondition, false, "filemail: cannot use directory %q: %w; check its permissions or name another directory", t.dir, err)
	case !st.IsDir():
		return nil, transport.Errorf(transport.InvalidArgument, false, "filemail: %q is not a directory: name the directory the .eml files should go into", t.dir)
	}
	probe, err := os.CreateTemp(t.dir, ".postie-probe-*")
	if err != nil {
		return nil, transport.Errorf(transport.FailedPrecondition, false, "filemail: directory %q is not writable: %w; make it writable for this user (chmod u+w %s) or name another directory", t.dir, err, t.dir)
	}
	probe.Close()
	os.Remove(probe.Name())
	return t, nil
}

// Dir returns the directory the files go into.
func (t *Transport) Dir() string { return t.dir }

// Send writes m into a new .eml file. The Receipt's ID is the file's path.
func (t *Transport) Send(ctx context.Context, m *transport.Message) (*transport.Receipt, error) {
	if t.closed.Load() {
		return nil, transport.Closed("filemail")
	}
	if err := transport.FromContext(ctx, nil); err != nil {
		return nil, fmt.Errorf("filemail: %w", err)
	}
	if m == nil {
		return nil, transport.Errorf(transport.InvalidArgument, false, "filemail: nil message")
	}
	if len(m.Envelope.To) == 0 {
		return nil, transport.Errorf(transport.InvalidArgument, false, "filemail: message <%s> has no envelope recipient: set Envelope.To, or send through mailer.Client, which fills it from To, Cc and Bcc", m.MessageID)
	}
	tmp, err := os.CreateTemp(t.dir, ".postie-*.tmp")
	if err != nil {
		return nil, t.fsError("create a file in", err)
	}
	defer os.Remove(tmp.Name()) // after the link, or on failure
	if err := t.write(ctx, tmp, m); err != nil {
		tmp.Close()
		return nil, err
	}
	if err := tmp.Close(); err != nil {
		return nil, t.fsError("write to", err)
	}
	if err := transport.FromContext(ctx, nil); err != nil {
		return nil, fmt.Errorf("filemail: %w", err)
	}
	path, err := t.place(tmp.Name(), m)
	if err != nil {
		return nil, err
	}
	if t.opts.Envelope {
		if err := t.writeEnvelope(path, m.Envelope); err != nil {
			return nil, err
		}
	}
	return &transport.Receipt{MessageID: m.MessageID, ID: path, Accepted: append([]string(nil), m.Envelope.To...)}, nil
}

func (t *Transport) write(ctx context.Context, f *os.File, m *transport.Message) error {
	bw := bufio.NewWriterSize(f, 64<<10)
	err := mime.WriteContext(ctx, bw, m, t.opts.MIME)
	if err == nil {
		err = bw.Flush()
	}
	if cerr := transport.FromContext(ctx, err); cerr != nil {
		return fmt.Errorf("filemail: %w", cerr)
	}
	if err != nil {
		if transport.CodeOf(err) != transport.Unknown {
			return fmt.Errorf("filemail: %w", err)
		}
		return t.fsError("write to", err)
	}
	if err := f.Sync(); err != nil {
		return t.fsError("write to", err)
	}
	return nil
}

// place links the finished temp file under a unique final name, never replacing a file.
func (t *Transport) place(tmp string, m *transport.Message) (string, error) {
	sum := sha256.Sum256([]byte(m.MessageID))
	base := t.opts.Now().UTC().Format("20060102T150405.000000000Z") + "-" + hex.EncodeToString(sum[:6])
	for i := 1; i <= 1000; i++ {
		name := base
		if i > 1 {
			name += "-" + strconv.Itoa(i)
		}
		path := filepath.Join(t.dir, name+".eml")
		err := os.Link(tmp, path)
		if err == nil {
			return path, nil
		}
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		// No hard links here (some network or FUSE file systems): reserve the name with
		// O_EXCL, then rename over the reservation.
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return "", t.fsError("create a file in", err)
		}
		f.Close()
		if err := os.Rename(tmp, path); err != nil {
			os.Remove(path)
			return "", t.fsError("rename a file in", err)
		}
		return path, nil
	}
	return "", transport.Errorf(transport.Internal, false, "filemail: no free file name for %s*.eml in %q after 1000 tries", base, t.dir)
}

func (t *Transport) writeEnvelope(emlPath string, env transport.Envelope) error {
	data, err := json.MarshalIndent(env, "", "  ")
	if err != nil {
		return transport.Errorf(transport.Internal, false, "filemail: encode envelope: %w", err)
	}
	tmp, err := os.CreateTemp(t.dir, ".postie-*.tmp")
	if err != nil {
		return t.fsError("create a file in", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(append(data, '\n'))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), envelopePath(emlPath))
	}
	if err != nil {
		return t.fsError("write the envelope into", err)
	}
	return nil
}

func envelopePath(emlPath string) string {
	return strings.TrimSuffix(emlPath, ".eml") + ".envelope.json"
}

// ReadEnvelope reads the envelope written beside the .eml file at emlPath by a Transport
// with Options.Envelope set.
func ReadEnvelope(emlPath string) (transport.Envelope, error) {
	var env transport.Envelope
	data, err := os.ReadFile(envelopePath(emlPath))
	if err != nil {
		return env, fmt.Errorf("filemail: read envelope: %w (was the file written with Options.Envelope?)", err)
	}
	if err := json.Unmarshal(data, &env); err != nil {
		return env, fmt.Errorf("filemail: read envelope %s: %w", envelopePath(emlPath), err)
	}
	return env, nil
}

// fsError classifies a file system failure and says how to fix it.
func (t *Transport) fsError(what string, err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return transport.Errorf(transport.FailedPrecondition, false, "filemail: cannot %s %q: %w; the directory is gone: create it again (mkdir -p %s)", what, t.dir, err, t.dir)
	case errors.Is(err, fs.ErrPermission):
		return transport.Errorf(transport.FailedPrecondition, false, "filemail: cannot %s %q: %w; make it writable for this user (chmod u+w %s)", what, t.dir, err, t.dir)
	case errors.Is(err, syscall.ENOSPC):
		return transport.Errorf(transport.ResourceExhausted, true, "filemail: cannot %s %q: %w; free some space", what, t.dir, err)
	}
	return transport.Errorf(transport.Unknown, false, "filemail: cannot %s %q: %w", what, t.dir, err)
}

// Close makes later sends fail with FailedPrecondition. Closing twice is harmless.
func (t *Transport) Close() error {
	t.closed.Store(true)
	return nil
}
