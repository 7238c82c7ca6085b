// Command load sends messages through every compared library to sink processes it starts
// itself, and writes the timings as JSON for cmd/report.
//
// The matrix is message kind × (cleartext | STARTTLS+AUTH) × rtt (0, 1 ms) × workers (1, 8).
// For every cell it first sizes N so that one repetition takes about -target, then runs
// -reps repetitions; the repetitions of all cells are interleaved (rep 1 of every cell, then
// rep 2, ...) so that noise from other processes spreads over every library alike.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/postiemail/postie/bench/internal/fixture"
	"github.com/postiemail/postie/bench/internal/libs"
	"github.com/postiemail/postie/bench/internal/sinkproc"
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
	Started   time.Time    `json:"started"`
	GoVersion string       `json:"go_version"`
	CPUs      int          `json:"cpus"`
	Reps      int          `json:"reps"`
	Target    string       `json:"target"`
	Drivers   []DriverInfo `json:"drivers"`
	Cells     []*Cell      `json:"cells"`
	// LoadAvg holds the 1-minute load average of the machine at the start and after
	// every repetition: how busy the shared machine was.
	LoadAvg []float64 `json:"load_avg"`
	Elapsed float64   `json:"elapsed_seconds"`
}

// DriverInfo names a column.
type DriverInfo struct {
	Name    string `json:"name"`
	Label   string `json:"label"`
	Ceiling bool   `json:"ceiling"`
}

func main() {
	sinkBin := flag.String("sink", "", "path of the sink binary (go build ./cmd/sink)")
	out := flag.String("out", "load.json", "where to write the results")
	reps := flag.Int("reps", 7, "repetitions per cell")
	target := flag.Duration("target", 200*time.Millisecond, "wall time one repetition should take")
	maxN := flag.Int("maxn", 500000, "upper bound of N")
	only := flag.String("libs", "", "comma-separated driver names (default all)")
	kinds := flag.String("kinds", "small,multi,attach", "message kinds")
	rtts := flag.String("rtts", "0,1ms", "sink reply delays")
	workers := flag.String("workers", "1,8", "worker counts")
	tlsModes := flag.String("tls", "off,on", "cleartext (off) and/or STARTTLS+AUTH (on)")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of this process (the clients, not the sinks) to this file")
	flag.Parse()
	if *sinkBin == "" {
		log.Fatal("load: -sink is required: go build -o sink ./cmd/sink")
	}
	log.SetFlags(log.Ltime)
	begin := time.Now()
	if *cpuprofile != "" {
		pf, err := os.Create(*cpuprofile)
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.StartCPUProfile(pf); err != nil {
			log.Fatal(err)
		}
		defer pprof.StopCPUProfile()
	}

	drivers := libs.All()
	if *only != "" {
		want := strings.Split(*only, ",")
		drivers = slices.DeleteFunc(drivers, func(d *libs.Driver) bool { return !slices.Contains(want, d.Name) })
	}

	rttList := parseDurations(*rtts)
	sinks := map[string]*sinkproc.Proc{}
	for _, r := range rttList {
		for _, mode := range strings.Split(*tlsModes, ",") {
			sp, err := sinkproc.Start(*sinkBin, r, mode == "on")
			if err != nil {
				log.Fatal(err)
			}
			sinks[sinkKey(r, mode == "on")] = sp
			defer sp.Stop()
		}
	}

	res := &Output{Started: begin, GoVersion: runtime.Version(), CPUs: runtime.NumCPU(), Reps: *reps, Target: target.String(), LoadAvg: []float64{loadAvg()}}
	for _, d := range drivers {
		res.Drivers = append(res.Drivers, DriverInfo{d.Name, d.Label, d.Ceiling})
	}
	type job struct {
		cell *Cell
		drv  *libs.Driver
		sp   *sinkproc.Proc
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
		n, err := calibrate(j.drv, &j.sp.Target, j.fx, j.cell.Workers, *target, *maxN)
		if err != nil {
			j.cell.Error = err.Error()
			log.Printf("%s: %v", label(j.cell), err)
			continue
		}
		j.cell.N = n
	}
	log.Printf("calibrated %d cells in %v", len(jobs), time.Since(begin).Round(time.Second))

	nd := len(drivers)
	for rep := range *reps {
		for i := range jobs {
			// Rotate the drivers' order within each row from one repetition to the next, so
			// that no library always runs right after a change of sink or message.
			row, col := i/nd, (i%nd+rep)%nd
			j := jobs[row*nd+col]
			if j.cell.Error != "" {
				continue
			}
			r, err := run(j.drv, &j.sp.Target, j.fx, j.cell.Workers, j.cell.N)
			if err != nil {
				j.cell.Error = err.Error()
				log.Printf("%s: %v", label(j.cell), err)
				continue
			}
			j.cell.Seconds = append(j.cell.Seconds, r.dur.Seconds())
			j.cell.MsgsPerSec = append(j.cell.MsgsPerSec, float64(j.cell.N)/r.dur.Seconds())
			j.cell.WireBytes = r.wireBytes
		}
		res.LoadAvg = append(res.LoadAvg, loadAvg())
		log.Printf("repetition %d/%d done at %v (load average %.1f)", rep+1, *reps, time.Since(begin).Round(time.Second), res.LoadAvg[len(res.LoadAvg)-1])
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

// loadAvg returns the 1-minute load average, or 0 where /proc/loadavg is missing.
func loadAvg() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	var v float64
	fmt.Sscan(string(b), &v)
	return v
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

// calibrate finds N so that a repetition takes about target: it quadruples a pilot run
// from 4 messages per worker until the pilot takes 30 ms, then scales.
func calibrate(d *libs.Driver, t *libs.Target, fx *fixture.Fixture, workers int, target time.Duration, maxN int) (int, error) {
	n := 4 * workers
	for {
		r, err := run(d, t, fx, workers, n)
		if err != nil {
			return 0, err
		}
		if r.dur >= 30*time.Millisecond || n >= maxN {
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
	m0, b0, err := sinkproc.Stats(t.SMTP)
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
	m1, b1, err := sinkproc.Stats(t.SMTP)
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
