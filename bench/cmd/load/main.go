// Command load sends messages through every compared library to sink processes it starts
// itself, and writes the timings as JSON for cmd/report.
//
// The matrix is message kind × (cleartext | STARTTLS+AUTH) × rtt (0, 1 ms) × workers (1, 8).
// For every cell it first sizes N so that one repetition takes about -target, then runs
// -reps repetitions; the repetitions of all cells are interleaved (rep 1 of every cell, then
// rep 2, ...) so that noise from other processes spreads over every library alike.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/postiemail/postie/bench/internal/certs"
	"github.com/postiemail/postie/bench/internal/fixture"
	"github.com/postiemail/postie/bench/internal/libs"
)

// Cell is one (scenario, driver) pair.
type Cell struct {
	Kind    fixture.Kind `json:"kind"`
	TLS     bool         `json:"tls"`
	RTT     string       `json:"rtt"`
	Workers int          `json:"workers"`
	Driver  string       `json:"driver"`
	N       int          `json:"n"`
	// Seconds holds the duration of every repetition; MsgsPerSec their rates.
	Seconds    []float64 `json:"seconds"`
	MsgsPerSec []float64 `json:"msgs_per_sec"`
	// WireBytes is the message size the sink counted (body bytes per message).
	WireBytes float64 `json:"wire_bytes"`
	Error     string  `json:"error,omitempty"`
}

// Output is the file cmd/report reads.
type Output struct {
	Started   time.Time         `json:"started"`
	GoVersion string            `json:"go_version"`
	CPUs      int               `json:"cpus"`
	Reps      int               `json:"reps"`
	Target    string            `json:"target"`
	Drivers   []DriverInfo      `json:"drivers"`
	Cells     []*Cell           `json:"cells"`
	Notes     map[string]string `json:"notes,omitempty"`
	Elapsed   float64           `json:"elapsed_seconds"`
}

// DriverInfo names a column.
type DriverInfo struct {
	Name    string `json:"name"`
	Label   string `json:"label"`
	Ceiling bool   `json:"ceiling"`
}

type sinkProc struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	target libs.Target
}

func main() {
	sinkBin := flag.String("sink", "", "path of the sink binary (go build ./cmd/sink)")
	out := flag.String("out", "load.json", "where to write the results")
	reps := flag.Int("reps", 5, "repetitions per cell")
	target := flag.Duration("target", 250*time.Millisecond, "wall time one repetition should take")
	maxN := flag.Int("maxn", 500000, "upper bound of N")
	only := flag.String("libs", "", "comma-separated driver names (default all)")
	kinds := flag.String("kinds", "small,multi,attach", "message kinds")
	rtts := flag.String("rtts", "0,1ms", "sink reply delays")
	workers := flag.String("workers", "1,8", "worker counts")
	tlsModes := flag.String("tls", "off,on", "cleartext (off) and/or STARTTLS+AUTH (on)")
	flag.Parse()
	if *sinkBin == "" {
		log.Fatal("load: -sink is required: go build -o sink ./cmd/sink")
	}
	log.SetFlags(log.Ltime)
	begin := time.Now()

	drivers := libs.All()
	if *only != "" {
		want := strings.Split(*only, ",")
		drivers = slices.DeleteFunc(drivers, func(d *libs.Driver) bool { return !slices.Contains(want, d.Name) })
	}

	rttList := parseDurations(*rtts)
	sinks := map[string]*sinkProc{}
	for _, r := range rttList {
		for _, mode := range strings.Split(*tlsModes, ",") {
			sp, err := startSink(*sinkBin, r, mode == "on")
			if err != nil {
				log.Fatal(err)
			}
			sinks[sinkKey(r, mode == "on")] = sp
			defer sp.stop()
		}
	}

	res := &Output{Started: begin, GoVersion: runtime.Version(), CPUs: runtime.NumCPU(), Reps: *reps, Target: target.String()}
	for _, d := range drivers {
		res.Drivers = append(res.Drivers, DriverInfo{d.Name, d.Label, d.Ceiling})
	}
	type job struct {
		cell *Cell
		drv  *libs.Driver
		sp   *sinkProc
		fx   *fixture.Fixture
	}
	var jobs []*job
	for _, k := range strings.Split(*kinds, ",") {
		fx := fixture.Get(fixture.Kind(k))
		for _, mode := range strings.Split(*tlsModes, ",") {
			for _, r := range rttList {
				for _, w := range parseInts(*workers) {
					for _, d := range drivers {
						c := &Cell{Kind: fx.Kind, TLS: mode == "on", RTT: r.String(), Workers: w, Driver: d.Name}
						jobs = append(jobs, &job{c, d, sinks[sinkKey(r, mode == "on")], fx})
						res.Cells = append(res.Cells, c)
					}
				}
			}
		}
	}

	// Size N for every cell.
	for _, j := range jobs {
		n, err := calibrate(j.drv, &j.sp.target, j.fx, j.cell.Workers, *target, *maxN)
		if err != nil {
			j.cell.Error = err.Error()
			log.Printf("%s: %v", label(j.cell), err)
			continue
		}
		j.cell.N = n
	}
	log.Printf("calibrated %d cells in %v", len(jobs), time.Since(begin).Round(time.Second))

	for rep := range *reps {
		for _, j := range jobs {
			if j.cell.Error != "" {
				continue
			}
			r, err := run(j.drv, &j.sp.target, j.fx, j.cell.Workers, j.cell.N)
			if err != nil {
				j.cell.Error = err.Error()
				log.Printf("%s: %v", label(j.cell), err)
				continue
			}
			j.cell.Seconds = append(j.cell.Seconds, r.dur.Seconds())
			j.cell.MsgsPerSec = append(j.cell.MsgsPerSec, float64(j.cell.N)/r.dur.Seconds())
			j.cell.WireBytes = r.wireBytes
		}
		log.Printf("repetition %d/%d done at %v", rep+1, *reps, time.Since(begin).Round(time.Second))
	}
	res.Elapsed = time.Since(begin).Seconds()
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(*out, b, 0o644); err != nil {
		log.Fatal(err)
	}
}

func label(c *Cell) string {
	tls := "plain"
	if c.TLS {
		tls = "tls"
	}
	return fmt.Sprintf("%s/%s/rtt=%s/c=%d/%s", c.Kind, tls, c.RTT, c.Workers, c.Driver)
}

func sinkKey(rtt time.Duration, tls bool) string { return fmt.Sprintf("%v/%v", rtt, tls) }

func parseDurations(s string) []time.Duration {
	var out []time.Duration
	for _, f := range strings.Split(s, ",") {
		if f == "0" {
			out = append(out, 0)
			continue
		}
		d, err := time.ParseDuration(f)
		if err != nil {
			log.Fatalf("load: bad duration %q", f)
		}
		out = append(out, d)
	}
	return out
}

func parseInts(s string) []int {
	var out []int
	for _, f := range strings.Split(s, ",") {
		var n int
		if _, err := fmt.Sscan(f, &n); err != nil || n < 1 {
			log.Fatalf("load: bad worker count %q", f)
		}
		out = append(out, n)
	}
	return out
}

// startSink runs the sink binary and reads its address line.
func startSink(bin string, rtt time.Duration, useTLS bool) (*sinkProc, error) {
	cmd := exec.Command(bin, "-rtt", rtt.String(), fmt.Sprintf("-tls=%v", useTLS))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	line, err := bufio.NewReader(stdout).ReadBytes('\n')
	if err != nil {
		return nil, fmt.Errorf("sink: %w", err)
	}
	var info struct{ SMTP, Discard, Cert string }
	if err := json.Unmarshal(line, &info); err != nil {
		return nil, fmt.Errorf("sink said %q: %w", line, err)
	}
	sp := &sinkProc{cmd: cmd, stdin: stdin, target: libs.Target{SMTP: info.SMTP, Discard: info.Discard}}
	if useTLS {
		cfg, err := certs.ClientConfig([]byte(info.Cert))
		if err != nil {
			return nil, err
		}
		sp.target.TLS = cfg
	}
	return sp, nil
}

func (sp *sinkProc) stop() {
	sp.stdin.Close()
	sp.cmd.Wait()
}

// sinkStats asks the sink for its counters with the XSTATS verb.
func sinkStats(addr string) (msgs, bytes int64, err error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return 0, 0, err
	}
	defer c.Close()
	br := bufio.NewReader(c)
	if _, err := br.ReadString('\n'); err != nil {
		return 0, 0, err
	}
	fmt.Fprintf(c, "XSTATS\r\n")
	l, err := br.ReadString('\n')
	if err != nil {
		return 0, 0, err
	}
	var conns int64
	if _, err := fmt.Sscanf(l, "250 messages=%d bytes=%d conns=%d", &msgs, &bytes, &conns); err != nil {
		return 0, 0, fmt.Errorf("XSTATS answered %q", l)
	}
	fmt.Fprintf(c, "QUIT\r\n")
	return msgs, bytes, nil
}

// calibrate finds N so that a repetition takes about target: it doubles a pilot run from
// 4 messages per worker until the pilot takes 50 ms, then scales.
func calibrate(d *libs.Driver, t *libs.Target, fx *fixture.Fixture, workers int, target time.Duration, maxN int) (int, error) {
	n := 4 * workers
	for {
		r, err := run(d, t, fx, workers, n)
		if err != nil {
			return 0, err
		}
		if r.dur >= 50*time.Millisecond || n >= maxN {
			est := int(float64(n) * target.Seconds() / r.dur.Seconds())
			return max(4*workers, min(est, maxN)), nil
		}
		n *= 4
	}
}

type result struct {
	dur       time.Duration
	wireBytes float64
}

// run is one repetition: open a session, set up every worker and send one warm-up message
// from each (so pools are full and connections warm), then time N messages shared by the
// workers, then check that the sink got exactly N.
func run(d *libs.Driver, t *libs.Target, fx *fixture.Fixture, workers, n int) (result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	watchdog := time.AfterFunc(5*time.Minute, func() { log.Fatalf("%s: a repetition took more than 5 minutes", d.Name) })
	defer watchdog.Stop()

	sess, err := d.Open(t, fx, workers)
	if err != nil {
		return result{}, fmt.Errorf("open: %w", err)
	}
	defer sess.Close()
	ws := make([]libs.Worker, workers)
	if err := parallel(workers, func(i int) error {
		w, err := sess.Worker(ctx)
		if err != nil {
			return fmt.Errorf("worker: %w", err)
		}
		ws[i] = w
		if err := w.Send(ctx); err != nil {
			return fmt.Errorf("warm-up send: %w", err)
		}
		return nil
	}); err != nil {
		closeAll(ws)
		return result{}, err
	}
	m0, b0, err := sinkStats(t.SMTP)
	if err != nil {
		closeAll(ws)
		return result{}, err
	}
	var next atomic.Int64
	var confirmed atomic.Int64
	start := time.Now()
	err = parallel(workers, func(i int) error {
		for next.Add(1) <= int64(n) {
			if err := ws[i].Send(ctx); err != nil {
				return fmt.Errorf("send: %w", err)
			}
		}
		c, err := ws[i].Finish()
		confirmed.Add(c)
		return err
	})
	dur := time.Since(start)
	closeAll(ws)
	if err != nil {
		return result{}, err
	}
	if d.Name == "raw-tcp" {
		body, _ := libs.RawBytes(fx)
		return result{dur: dur, wireBytes: float64(len(body))}, nil
	}
	m1, b1, err := sinkStats(t.SMTP)
	if err != nil {
		return result{}, err
	}
	if got := m1 - m0; got != int64(n) {
		return result{}, fmt.Errorf("sink counted %d messages, %d sent", got, n)
	}
	return result{dur: dur, wireBytes: float64(b1-b0) / float64(n)}, nil
}

func parallel(n int, f func(i int) error) error {
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = f(i)
		}()
	}
	wg.Wait()
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

func closeAll(ws []libs.Worker) {
	for _, w := range ws {
		if w != nil {
			w.Close()
		}
	}
}
