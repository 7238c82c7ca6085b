package middleware_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"io"
	"math/big"
	"net/mail"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/postiemail/postie/middleware"
	"github.com/postiemail/postie/smtp/mime"
	"github.com/postiemail/postie/transport"
	"github.com/postiemail/postie/transport/memmail"
)

var rsaKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

var edKey = sync.OnceValue(func() ed25519.PrivateKey {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	return k
})

// dnsRecord is the TXT record that publishes the public half of k.
func dnsRecord(t testing.TB, k crypto.Signer) string {
	t.Helper()
	switch pub := k.Public().(type) {
	case *rsa.PublicKey:
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			t.Fatal(err)
		}
		return "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der)
	case ed25519.PublicKey:
		return "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub)
	}
	t.Fatalf("no record for %T", k.Public())
	return ""
}

// verify checks raw's DKIM signatures with the library's verifier against k's record.
func verify(t testing.TB, raw io.Reader, k crypto.Signer) ([]*dkim.Verification, error) {
	t.Helper()
	record := dnsRecord(t, k)
	return dkim.VerifyWithOptions(raw, &dkim.VerifyOptions{LookupTXT: func(domain string) ([]string, error) {
		if domain != "sel._domainkey.example.com" {
			return nil, errors.New("no such record: " + domain)
		}
		return []string{record}, nil
	}})
}

func dkimOpts(k crypto.Signer) *middleware.DKIMOptions {
	return &middleware.DKIMOptions{Domain: "example.com", Selector: "sel", Signer: k}
}

// richMessage has what makes MIME output intricate: non-ASCII headers, text and HTML, an
// inline image, an attachment read through Open, and an extra header.
func richMessage() *transport.Message {
	m := testMessage("ann@example.com", "bob@example.org")
	m.To[0].Name = "Ånn Ørsted"
	m.Cc = []mail.Address{{Name: "Chloé", Address: "chloe@example.net"}}
	m.Envelope.To = append(m.Envelope.To, "chloe@example.net")
	m.Subject = "Votre reçu — commande n° 42"
	m.Text = "Merci ! Votre commande est partie.\n. une ligne qui commence par un point\n"
	m.HTML = `<p>Merci&nbsp;! <img src="cid:logo@x"></p>`
	m.Headers = []transport.Field{{Name: "List-Unsubscribe", Value: "<https://example.com/u/1>"}}
	m.Attachments = []transport.Attachment{
		{Filename: "logo.png", ContentType: "image/png", Inline: true, ContentID: "logo@x", Data: []byte("\x89PNG fake")},
		{Filename: "reçu.pdf", ContentType: "application/pdf", Open: func() (io.ReadCloser, error) {
			return io.NopCloser(strings.NewReader(strings.Repeat("%PDF-1.7 data ", 5000))), nil
		}},
	}
	return m
}

// rendered renders the message memmail kept, the bytes an SMTP transport would send.
func rendered(t *testing.T, mem *memmail.Transport) []byte {
	t.Helper()
	msgs := mem.Messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages delivered, want 1", len(msgs))
	}
	var b bytes.Buffer
	if err := mime.Write(&b, msgs[0], nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestDKIMSignatureVerifies(t *testing.T) {
	for name, k := range map[string]crypto.Signer{"rsa-sha256": rsaKey(), "ed25519-sha256": edKey()} {
		t.Run(name, func(t *testing.T) {
			mem := memmail.New(nil)
			m := richMessage()
			if _, err := middleware.DKIM(dkimOpts(k))(mem).Send(context.Background(), m); err != nil {
				t.Fatal(err)
			}
			if len(m.Headers) != 1 {
				t.Errorf("the caller's message got %d headers, want its 1", len(m.Headers))
			}
			raw := rendered(t, mem)
			if !bytes.HasPrefix(raw, []byte("DKIM-Signature: ")) {
				t.Errorf("the render does not start with the signature: %.60q", raw)
			}
			vs, err := verify(t, bytes.NewReader(raw), k)
			if err != nil || len(vs) != 1 || vs[0].Err != nil {
				t.Fatalf("verification: %v, %+v", err, vs)
			}
			if vs[0].Domain != "example.com" {
				t.Errorf("d= %q", vs[0].Domain)
			}
			want := []string{"From", "Reply-To", "Subject", "Date", "To", "Cc", "Message-ID", "In-Reply-To", "References",
				"MIME-Version", "Content-Type", "Content-Transfer-Encoding", "List-Unsubscribe", "List-Unsubscribe-Post"}
			if !slices.Equal(vs[0].HeaderKeys, want) {
				t.Errorf("h= %v, want %v", vs[0].HeaderKeys, want)
			}
			sig := string(raw[:bytes.Index(raw, []byte("\r\nFrom:"))])
			for _, tag := range []string{"a=" + name + ";", "c=relaxed/relaxed;", "s=sel;"} {
				if !strings.Contains(strings.Join(strings.Fields(sig), " "), tag) {
					t.Errorf("signature lacks %q: %s", tag, sig)
				}
			}

			// The test can fail: a changed subject or body breaks the signature.
			for what, tamper := range map[string]func([]byte) []byte{
				"subject": func(b []byte) []byte { return bytes.Replace(b, []byte("Subject: "), []byte("Subject: Re: "), 1) },
				"body":    func(b []byte) []byte { return bytes.Replace(b, []byte("partie"), []byte("perdue"), 1) },
			} {
				vs, err := verify(t, bytes.NewReader(tamper(slices.Clone(raw))), k)
				if err == nil && len(vs) == 1 && vs[0].Err == nil {
					t.Errorf("a changed %s still verifies", what)
				}
			}
		})
	}
}

// A name listed twice is oversigned: adding that field later breaks the signature.
func TestDKIMOversignedHeader(t *testing.T) {
	mem := memmail.New(nil)
	opts := dkimOpts(edKey())
	opts.HeaderKeys = []string{"From", "From", "Subject", "To", "Date", "Message-ID"}
	opts.Expiration = time.Hour
	if _, err := middleware.DKIM(opts)(mem).Send(context.Background(), testMessage("ann@example.com")); err != nil {
		t.Fatal(err)
	}
	raw := rendered(t, mem)
	vs, err := verify(t, bytes.NewReader(raw), edKey())
	if err != nil || vs[0].Err != nil {
		t.Fatalf("verification: %v, %+v", err, vs)
	}
	if vs[0].Expiration.IsZero() || vs[0].Expiration.Before(time.Now()) {
		t.Errorf("x= %v, want an hour from now", vs[0].Expiration)
	}
	forged := bytes.Replace(raw, []byte("\r\nFrom:"), []byte("\r\nFrom: Mallory <m@evil.example>\r\nFrom:"), 1)
	if vs, err := verify(t, bytes.NewReader(forged), edKey()); err == nil && vs[0].Err == nil {
		t.Error("a second From verifies although From is oversigned")
	}
}

// Each attempt under Retry sends the same, verifiable message.
func TestDKIMUnderRetry(t *testing.T) {
	mem := memmail.New(nil)
	mem.FailNext(errShutdown())
	tr := transport.Chain(middleware.Retry(&middleware.RetryOptions{NewBackoff: fast}), middleware.DKIM(dkimOpts(rsaKey())))(mem)
	if _, err := tr.Send(context.Background(), richMessage()); err != nil {
		t.Fatal(err)
	}
	if vs, err := verify(t, bytes.NewReader(rendered(t, mem)), rsaKey()); err != nil || vs[0].Err != nil {
		t.Fatalf("verification: %v, %+v", err, vs)
	}
	if n := strings.Count(string(rendered(t, mem)), "DKIM-Signature:"); n != 1 {
		t.Errorf("%d signatures after a retry, want 1", n)
	}
}

// smallRSA pretends to be an RSA key that is too short.
type smallRSA struct{ crypto.Signer }

func (smallRSA) Public() crypto.PublicKey { return &rsa.PublicKey{N: big.NewInt(1<<61 - 1), E: 65537} }

func TestDKIMRejectsBadOptions(t *testing.T) {
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	noFrom := dkimOpts(edKey())
	noFrom.HeaderKeys = []string{"Subject", "To"}
	for name, opts := range map[string]*middleware.DKIMOptions{
		"nil":         nil,
		"no domain":   {Selector: "sel", Signer: edKey()},
		"no selector": {Domain: "example.com", Signer: edKey()},
		"no signer":   {Domain: "example.com", Selector: "sel"},
		"short RSA":   dkimOpts(smallRSA{}),
		"ECDSA":       dkimOpts(ec),
		"no From":     noFrom,
	} {
		mem := memmail.New(nil)
		_, err := middleware.DKIM(opts)(mem).Send(context.Background(), testMessage("ann@example.com"))
		if transport.CodeOf(err) != transport.FailedPrecondition || mem.Attempts() != 0 {
			t.Errorf("%s: err = %v after %d attempts, want FailedPrecondition and nothing sent", name, err, mem.Attempts())
		}
	}
}

func TestDKIMRenderErrorsAndCtx(t *testing.T) {
	mem := memmail.New(nil)
	tr := middleware.DKIM(dkimOpts(edKey()))(mem)

	bad := testMessage("ann@example.com")
	bad.Date = time.Time{}
	if _, err := tr.Send(context.Background(), bad); transport.CodeOf(err) != transport.InvalidArgument {
		t.Errorf("unrenderable message: err = %v, want InvalidArgument", err)
	}

	broken := testMessage("ann@example.com")
	openErr := errors.New("disk gone")
	broken.Attachments = []transport.Attachment{{Filename: "a.bin", Open: func() (io.ReadCloser, error) { return nil, openErr }}}
	if _, err := tr.Send(context.Background(), broken); !errors.Is(err, openErr) {
		t.Errorf("attachment error: err = %v, want it wrapped", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := tr.Send(ctx, richMessage()); transport.CodeOf(err) != transport.Canceled {
		t.Errorf("cancelled ctx: err = %v, want Canceled", err)
	}
	if mem.Attempts() != 0 {
		t.Errorf("attempts = %d, want 0", mem.Attempts())
	}
}

// heapSampler records the largest heap seen while a big message streams through: peak is
// the heap with the garbage not yet collected, live the heap right after a collection (what
// is really held).
type heapSampler struct {
	base, peak, live uint64
}

func newHeapSampler() *heapSampler {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return &heapSampler{base: ms.HeapAlloc, peak: ms.HeapAlloc, live: ms.HeapAlloc}
}

func (h *heapSampler) sample() {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	h.peak = max(h.peak, ms.HeapAlloc)
	runtime.GC()
	runtime.ReadMemStats(&ms)
	h.live = max(h.live, ms.HeapAlloc)
}

func (h *heapSampler) growth() (peak, live uint64) { return h.peak - h.base, h.live - h.base }

// bigAttachment generates size bytes on every Open, sampling the heap every 2 MiB read.
func bigAttachment(size int64, h **heapSampler) transport.Attachment {
	return transport.Attachment{Filename: "big.bin", ContentType: "application/octet-stream", Size: size,
		Open: func() (io.ReadCloser, error) { return io.NopCloser(&genReader{left: size, h: h}), nil }}
}

type genReader struct {
	left, since int64
	h           **heapSampler
}

var pattern = func() []byte {
	b := make([]byte, 64<<10)
	for i := range b {
		b[i] = byte(i*7 + i>>8)
	}
	return b
}()

func (g *genReader) Read(p []byte) (int, error) {
	if g.left == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(int64(len(p)), g.left)], pattern)
	g.left -= int64(n)
	if g.since += int64(n); g.since >= 2<<20 {
		g.since = 0
		if *g.h != nil {
			(*g.h).sample()
		}
	}
	return n, nil
}

// streamVerify is a downstream transport that renders the message with mime.Write into the
// DKIM verifier through a pipe, holding no copy of it, like an SMTP transport streaming DATA.
func streamVerify(t testing.TB, k crypto.Signer, verified *bool) transport.Transport {
	return transport.SendFunc(func(ctx context.Context, m *transport.Message) (*transport.Receipt, error) {
		pr, pw := io.Pipe()
		done := make(chan error, 1)
		go func() {
			vs, err := verify(t, pr, k)
			if err == nil && (len(vs) != 1 || vs[0].Err != nil) {
				err = errors.New("signature does not verify")
				if len(vs) == 1 {
					err = vs[0].Err
				}
			}
			_, _ = io.Copy(io.Discard, pr)
			done <- err
		}()
		pw.CloseWithError(mime.Write(pw, m, nil))
		if err := <-done; err != nil {
			return nil, err
		}
		*verified = true
		return &transport.Receipt{Accepted: m.Envelope.To}, nil
	})
}

// TestDKIMBigMessageMemory signs a message with a 100 MiB attachment (8 MiB under -race or
// -short) and checks that the live heap grows at most 4 MiB more than for the MIME engine's
// own render, and the heap with uncollected garbage at most 4 MiB plus the engine's bound.
// It then checks the downstream render of that message against the verifier.
func TestDKIMBigMessageMemory(t *testing.T) {
	size := int64(100 << 20)
	if testing.Short() || raceEnabled {
		size = 8 << 20 // the race detector makes 100 MiB slow; the bound is the same
	}
	var h *heapSampler
	m := testMessage("ann@example.com")
	m.Attachments = []transport.Attachment{bigAttachment(size, &h)}

	// The MIME engine alone, rendering to nowhere.
	h = newHeapSampler()
	if err := mime.Write(io.Discard, m, nil); err != nil {
		t.Fatal(err)
	}
	mimePeak, mimeLive := h.growth()

	// Signing (first render) and the downstream render (second), measured without the
	// test's verifier, whose canonicalizer makes as much garbage as the signer's.
	discard := transport.SendFunc(func(ctx context.Context, m *transport.Message) (*transport.Receipt, error) {
		return &transport.Receipt{Accepted: m.Envelope.To}, mime.Write(io.Discard, m, nil)
	})
	h = newHeapSampler()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	if _, err := middleware.DKIM(dkimOpts(rsaKey()))(discard).Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	dkimPeak, dkimLive := h.growth()
	h = nil
	t.Logf("%d MiB attachment, heap growth (live / with uncollected garbage): mime.Write alone %d / %d KiB; DKIM sign + render %d / %d KiB; %d MiB allocated in all (go-msgauth's canonicalizer copies every chunk)",
		size>>20, mimeLive>>10, mimePeak>>10, dkimLive>>10, dkimPeak>>10, (after.TotalAlloc-before.TotalAlloc)>>20)

	if dkimLive > mimeLive+4<<20 {
		t.Errorf("live heap growth %d KiB, over 4 MiB above the MIME engine's %d KiB", dkimLive>>10, mimeLive>>10)
	}
	// With garbage: within 4 MiB plus the MIME engine's own bound (4 MiB, smtp/mime's
	// TestStreamingMemory).
	if dkimPeak > 8<<20 {
		t.Errorf("peak heap growth %d KiB with uncollected garbage, over 8 MiB", dkimPeak>>10)
	}

	// The same message, rendered downstream straight into the verifier.
	var verified bool
	if _, err := middleware.DKIM(dkimOpts(rsaKey()))(streamVerify(t, rsaKey(), &verified)).Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	if !verified {
		t.Fatal("the big message was not verified downstream")
	}
}

// BenchmarkDKIM100MiB signs and renders a message with a 100 MiB attachment, reporting the
// heap growth: live (after a collection) and peak (with garbage not yet collected).
func BenchmarkDKIM100MiB(b *testing.B) {
	const size = 100 << 20
	var h *heapSampler
	m := testMessage("ann@example.com")
	m.Attachments = []transport.Attachment{bigAttachment(size, &h)}
	var verified bool
	tr := middleware.DKIM(dkimOpts(rsaKey()))(streamVerify(b, rsaKey(), &verified))
	b.SetBytes(size)
	b.ReportAllocs()
	var peak, live uint64
	for b.Loop() {
		h = newHeapSampler()
		if _, err := tr.Send(context.Background(), m); err != nil {
			b.Fatal(err)
		}
		p, l := h.growth()
		peak, live = max(peak, p), max(live, l)
	}
	h = nil
	b.ReportMetric(float64(live)/(1<<20), "live-heap-MiB")
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
}
