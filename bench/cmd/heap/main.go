// Command heap measures the peak heap each library needs to write (and, with -send, to
// send) a message with a large attachment generated on the fly (fixture.Generator: a
// 64 KiB block repeated, never the whole attachment in memory).
//
// Every library runs in a fresh child process (this binary re-executed with -child) so
// nothing one library allocated is seen by the next. The child lowers GOGC to -gogc so
// that garbage does not count as heap: with the default GOGC=100 the runtime lets the heap
// grow to 4 MiB before it first collects, whatever the program keeps live. A goroutine
// samples the heap (runtime/metrics /memory/classes/heap/objects:bytes) every 100 µs; the
// figure is the peak minus the heap before the write started.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	netsmtp "net/smtp"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strings"
	"sync/atomic"
	"time"

	gosmtp "github.com/emersion/go-smtp"
	gomail "github.com/wneessen/go-mail"

	"github.com/postiemail/postie/mailer"
	"github.com/postiemail/postie/smtp"

	"github.com/postiemail/postie/bench/internal/fixture"
	"github.com/postiemail/postie/bench/internal/libs"
	"github.com/postiemail/postie/bench/internal/sinkproc"
	"github.com/postiemail/postie/bench/internal/stdmime"
)

// Result is one library's measurement.
type Result struct {
	Lib       string  `json:"lib"`
	Mode      string  `json:"mode"` // "write" or "send"
	Size      int64   `json:"size"`
	Streams   bool    `json:"streams"` // the attachment came from a reader, not a []byte
	PeakHeap  int64   `json:"peak_heap"`
	Allocated int64   `json:"allocated"`
	MaxRSS    int64   `json:"max_rss"`
	Seconds   float64 `json:"seconds"`
	Output    int64   `json:"output"`
	Error     string  `json:"error,omitempty"`
}

// writers render the attachment fixture with a size-byte attachment to w.
var writers = map[string]func(w io.Writer, f *fixture.Fixture, size int64) error{
	"postie": func(w io.Writer, f *fixture.Fixture, size int64) error {
		return libs.PostieWrite(w, f, func() (io.ReadCloser, error) { return fixture.NewGenerator(size), nil }, size)
	},
	"stdlib": func(w io.Writer, f *fixture.Fixture, size int64) error {
		return stdmime.WriteAttachment(w, f, time.Now(), "id@shop.example", fixture.NewGenerator(size))
	},
	"gomessage": func(w io.Writer, f *fixture.Fixture, size int64) error {
		return libs.GoMessageWrite(w, f, time.Now(), "id@shop.example", fixture.NewGenerator(size))
	},
	"gomail": func(w io.Writer, f *fixture.Fixture, size int64) error {
		m, err := libs.GoMailMsg(f, fixture.NewGenerator(size))
		if err != nil {
			return err
		}
		_, err = m.WriteTo(w)
		return err
	},
	// jordan-wright/email takes attachments only as []byte: the child fills f.AttachData
	// before the baseline, so the figure is what Bytes() needs on top of the input.
	"jw": func(w io.Writer, f *fixture.Fixture, size int64) error {
		b, err := libs.JWEmail(f).Bytes()
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	},
}

// Order of the table.
var order = []string{"postie", "stdlib", "jw", "gomail", "gomessage"}

func main() {
	child := flag.Bool("child", false, "internal: measure one library in this process")
	lib := flag.String("lib", "", "library (child) or comma-separated list (parent; default all)")
	size := flag.Int64("size", 100<<20, "attachment size in bytes")
	gogc := flag.Int("gogc", 10, "GOGC of the measuring process")
	out := flag.String("out", "heap.json", "where the parent writes the results")
	sinkBin := flag.String("sink", "", "path of the sink binary: also send through each library's SMTP client to it")
	send := flag.String("addr", "", "internal: the sink address of a send child")
	mode := flag.String("mode", "write", "internal: write or send")
	flag.Parse()

	if *child {
		r := measure(*lib, *mode, *size, *gogc, *send)
		json.NewEncoder(os.Stdout).Encode(r)
		return
	}
	list := order
	if *lib != "" {
		list = strings.Split(*lib, ",")
	}
	modes := []string{"write"}
	if *sinkBin != "" {
		sp, err := sinkproc.Start(*sinkBin, 0, false)
		if err != nil {
			log.Fatal(err)
		}
		defer sp.Stop()
		*send = sp.Target.SMTP
		modes = append(modes, "send")
	}
	var results []Result
	for _, m := range modes {
		for _, l := range list {
			if m == "send" && senders[l] == nil {
				continue
			}
			args := []string{"-child", "-lib", l, "-mode", m, "-size", fmt.Sprint(*size), "-gogc", fmt.Sprint(*gogc), "-addr", *send}
			cmd := exec.Command(os.Args[0], args...)
			cmd.Stderr = os.Stderr
			b, err := cmd.Output()
			var r Result
			if err == nil {
				err = json.Unmarshal(b, &r)
			}
			if err != nil {
				r = Result{Lib: l, Mode: m, Size: *size, Error: err.Error()}
			}
			log.Printf("%s %s: peak heap %.2f MiB, allocated %.1f MiB, %.2fs %s", m, l, mib(r.PeakHeap), mib(r.Allocated), r.Seconds, r.Error)
			results = append(results, r)
		}
	}
	b, _ := json.MarshalIndent(results, "", "  ")
	if err := os.WriteFile(*out, b, 0o644); err != nil {
		log.Fatal(err)
	}
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

func measure(lib, mode string, size int64, gogc int, sinkAddr string) Result {
	r := Result{Lib: lib, Mode: mode, Size: size, Streams: lib != "jw"}
	f := *fixture.Get(fixture.Attach)
	f.AttachData = nil
	if lib == "jw" {
		f.AttachData = make([]byte, size)
		io.ReadFull(fixture.NewGenerator(size), f.AttachData)
	}
	var run func() (int64, error)
	switch mode {
	case "write":
		w := writers[lib]
		if w == nil {
			r.Error = "unknown library"
			return r
		}
		run = func() (int64, error) {
			var c countWriter
			err := w(&c, &f, size)
			return c.n, err
		}
	case "send":
		s := senders[lib]
		if s == nil {
			r.Error = "no sender"
			return r
		}
		run = func() (int64, error) {
			m0, b0, err := sinkproc.Stats(sinkAddr)
			if err != nil {
				return 0, err
			}
			if err := s(context.Background(), sinkAddr, &f, size); err != nil {
				return 0, err
			}
			m1, b1, err := sinkproc.Stats(sinkAddr)
			if err != nil {
				return 0, err
			}
			if m1-m0 != 1 {
				return 0, fmt.Errorf("the sink counted %d messages, want 1", m1-m0)
			}
			return b1 - b0, nil
		}
	}

	debug.SetGCPercent(gogc)
	runtime.GC()
	runtime.GC()
	samples := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(samples)
	base, alloc0 := int64(samples[0].Value.Uint64()), int64(samples[1].Value.Uint64())
	var peak atomic.Int64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		for {
			metrics.Read(s)
			if v := int64(s[0].Value.Uint64()); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-stop:
				return
			default:
				time.Sleep(100 * time.Microsecond)
			}
		}
	}()
	start := time.Now()
	n, err := run()
	r.Seconds = time.Since(start).Seconds()
	close(stop)
	<-done
	metrics.Read(samples)
	if v := int64(samples[0].Value.Uint64()); v > peak.Load() {
		peak.Store(v)
	}
	r.PeakHeap = peak.Load() - base
	r.Allocated = int64(samples[1].Value.Uint64()) - alloc0
	r.Output = n
	r.MaxRSS = vmHWM()
	if err != nil {
		r.Error = err.Error()
	}
	return r
}

// vmHWM returns the process's peak resident set size from /proc/self/status.
func vmHWM() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			var kb int64
			fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), &kb)
			return kb << 10
		}
	}
	return 0
}

// senders deliver the attachment message through each library's SMTP client, cleartext.
var senders = map[string]func(ctx context.Context, addr string, f *fixture.Fixture, size int64) error{
	"postie": func(ctx context.Context, addr string, f *fixture.Fixture, size int64) error {
		tr, err := smtp.New(addr, libs.PostieOptions(&libs.Target{SMTP: addr}, 1))
		if err != nil {
			return err
		}
		c := mailer.New(tr, nil)
		defer c.Close()
		_, err = c.Send(ctx, libs.PostieMessage(f, func() (io.ReadCloser, error) { return fixture.NewGenerator(size), nil }, size))
		return err
	},
	"jw": func(_ context.Context, addr string, f *fixture.Fixture, _ int64) error {
		return libs.JWEmail(f).Send(addr, nil)
	},
	"gomail": func(ctx context.Context, addr string, f *fixture.Fixture, size int64) error {
		t := &libs.Target{SMTP: addr}
		c, err := gomail.NewClient(t.Host(), gomail.WithPort(t.Port()), gomail.WithTLSPolicy(gomail.NoTLS))
		if err != nil {
			return err
		}
		m, err := libs.GoMailMsg(f, fixture.NewGenerator(size))
		if err != nil {
			return err
		}
		return c.DialAndSendWithContext(ctx, m)
	},
	"gomessage": func(_ context.Context, addr string, f *fixture.Fixture, size int64) error {
		c, err := gosmtp.Dial(addr)
		if err != nil {
			return err
		}
		defer c.Close()
		if err := c.Mail(f.From.Address, nil); err != nil {
			return err
		}
		for _, r := range f.Rcpts() {
			if err := c.Rcpt(r, nil); err != nil {
				return err
			}
		}
		w, err := c.Data()
		if err != nil {
			return err
		}
		if err := libs.GoMessageWrite(w, f, time.Now(), "id@shop.example", fixture.NewGenerator(size)); err != nil {
			return err
		}
		if err := w.Close(); err != nil {
			return err
		}
		return c.Quit()
	},
	"stdlib": func(_ context.Context, addr string, f *fixture.Fixture, size int64) error {
		c, err := netsmtp.Dial(addr)
		if err != nil {
			return err
		}
		defer c.Close()
		if err := c.Mail(f.From.Address); err != nil {
			return err
		}
		for _, r := range f.Rcpts() {
			if err := c.Rcpt(r); err != nil {
				return err
			}
		}
		w, err := c.Data()
		if err != nil {
			return err
		}
		if err := stdmime.WriteAttachment(w, f, time.Now(), "id@shop.example", fixture.NewGenerator(size)); err != nil {
			return err
		}
		if err := w.Close(); err != nil {
			return err
		}
		return c.Quit()
	},
}
