// Command report turns the outputs of cmd/load, cmd/heap and the mimebench benchmarks into
// the markdown tables of RESULTS.md.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"math"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Types mirror cmd/load and cmd/heap output.
type loadOutput struct {
	Started   time.Time `json:"started"`
	GoVersion string    `json:"go_version"`
	CPUs      int       `json:"cpus"`
	Reps      int       `json:"reps"`
	Target    string    `json:"target"`
	Drivers   []struct {
		Name    string `json:"name"`
		Label   string `json:"label"`
		Ceiling bool   `json:"ceiling"`
	} `json:"drivers"`
	Cells []struct {
		Kind       string    `json:"kind"`
		TLS        bool      `json:"tls"`
		RTT        string    `json:"rtt"`
		Workers    int       `json:"workers"`
		Driver     string    `json:"driver"`
		N          int       `json:"n"`
		MsgsPerSec []float64 `json:"msgs_per_sec"`
		WireBytes  float64   `json:"wire_bytes"`
		Error      string    `json:"error"`
	} `json:"cells"`
	LoadAvg []float64 `json:"load_avg"`
	Elapsed float64   `json:"elapsed_seconds"`
}

type heapResult struct {
	Lib       string  `json:"lib"`
	Mode      string  `json:"mode"`
	Size      int64   `json:"size"`
	Streams   bool    `json:"streams"`
	PeakHeap  int64   `json:"peak_heap"`
	Allocated int64   `json:"allocated"`
	MaxRSS    int64   `json:"max_rss"`
	Seconds   float64 `json:"seconds"`
	Output    int64   `json:"output"`
	Error     string  `json:"error"`
}

const baseline = "netsmtp-reuse"

// noisy is the spread above which a cell is marked.
const noisy = 0.5

var kindLabel = map[string]string{
	"small":  "Small text message, 1 recipient",
	"multi":  "Text + HTML, 3 recipients",
	"attach": "1 MiB attachment",
}

var libLabel = map[string]string{
	"postie": "Postie", "stdlib": "stdlib (net/smtp users)", "jw": "jordan-wright/email",
	"gomail": "wneessen/go-mail", "gomessage": "emersion/go-message (go-smtp users)",
}

func main() {
	loadPath := flag.String("load", "results/load.json", "cmd/load output")
	heapPath := flag.String("heap", "results/heap.json", "cmd/heap output")
	mimePath := flag.String("mime", "results/mime.txt", "go test -bench output of ./mimebench")
	out := flag.String("out", "RESULTS.md", "markdown to write")
	total := flag.String("total", "", "wall time of the whole run, for the header")
	rev := flag.String("rev", "", "the Postie commit measured, for the header")
	flag.Parse()

	var ld loadOutput
	readJSON(*loadPath, &ld)
	var heap []heapResult
	readJSON(*heapPath, &heap)

	var b strings.Builder
	fmt.Fprintf(&b, "# Benchmark results\n\n")
	if *rev != "" {
		fmt.Fprintf(&b, "Postie at commit %s. ", *rev)
	}
	fmt.Fprintf(&b, "Produced by `bench/run.sh` on %s: %s, %d CPUs, every figure the median of %d repetitions measured in the same run", ld.Started.UTC().Format("2006-01-02 15:04 MST"), ld.GoVersion, ld.CPUs, ld.Reps)
	if *total != "" {
		fmt.Fprintf(&b, " (whole run: %s)", *total)
	}
	fmt.Fprintf(&b, ". See README.md for what each figure means and how it is measured.")
	if len(ld.LoadAvg) > 0 {
		fmt.Fprintf(&b, " The machine is shared: its 1-minute load average ran from %.1f to %.1f during the throughput runs (%d CPUs).", slices.Min(ld.LoadAvg), slices.Max(ld.LoadAvg), ld.CPUs)
	}
	b.WriteString("\n\n")

	targets := writeLoad(&b, &ld)
	heapOK := writeHeap(&b, heap)
	writeMIME(&b, *mimePath)
	targets = append(targets, heapOK...)

	var head strings.Builder
	head.WriteString("## Targets\n\n")
	for _, t := range targets {
		head.WriteString("- " + t + "\n")
	}
	head.WriteString("\n")
	s := b.String()
	i := strings.Index(s, "## Throughput")
	s = s[:i] + head.String() + s[i:]
	if err := os.WriteFile(*out, []byte(s), 0o644); err != nil {
		log.Fatal(err)
	}
}

func readJSON(path string, v any) {
	b, err := os.ReadFile(path)
	if err != nil {
		log.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		log.Fatalf("%s: %v", path, err)
	}
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func rate(v float64) string {
	switch {
	case math.IsNaN(v):
		return "–"
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	default:
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
}

type rowKey struct {
	kind    string
	tls     bool
	rtt     string
	workers int
}

func writeLoad(b *strings.Builder, ld *loadOutput) []string {
	type cell struct {
		med, spread float64
		wire        float64
		err         string
	}
	rows := map[rowKey]map[string]cell{}
	var keys []rowKey
	for _, c := range ld.Cells {
		k := rowKey{c.Kind, c.TLS, c.RTT, c.Workers}
		if rows[k] == nil {
			rows[k] = map[string]cell{}
			keys = append(keys, k)
		}
		m := median(c.MsgsPerSec)
		spread := 0.0
		if len(c.MsgsPerSec) > 0 {
			spread = (slices.Max(c.MsgsPerSec) - slices.Min(c.MsgsPerSec)) / m
		}
		rows[k][c.Driver] = cell{m, spread, c.WireBytes, c.Error}
	}
	var libs, ceils []string
	label := map[string]string{}
	for _, d := range ld.Drivers {
		label[d.Name] = d.Label
		if d.Ceiling {
			ceils = append(ceils, d.Name)
		} else {
			libs = append(libs, d.Name)
		}
	}
	others := slices.DeleteFunc(slices.Clone(libs), func(s string) bool { return s == "postie" })

	var targets []string
	var behind []string
	var worstSpread float64
	var worstSpreadAt string
	smallOK, attachOK := true, true
	var smallNotes, attachNotes []string

	b.WriteString("## Throughput\n\n")
	b.WriteString("Messages per second (higher is better); in brackets the ratio to net/smtp with a reused connection (`net/smtp reuse`) in the same row. ")
	b.WriteString("**Bold** is the fastest library of the row. The last two columns compare Postie with the best other library and with the best hand-pipelined raw SMTP ceiling. ")
	fmt.Fprintf(b, "† marks a cell whose repetitions spread by more than %.0f %% of the median (max − min): a noisy figure.\n\n", 100*noisy)
	for _, kind := range []string{"small", "multi", "attach"} {
		fmt.Fprintf(b, "### %s\n\n", kindLabel[kind])
		b.WriteString("| TLS+AUTH | rtt | C |")
		for _, d := range append(slices.Clone(libs), ceils...) {
			fmt.Fprintf(b, " %s |", label[d])
		}
		b.WriteString(" Postie ÷ best other | Postie ÷ SMTP ceiling |\n|---|---|---|")
		for range len(libs) + len(ceils) + 2 {
			b.WriteString("---:|")
		}
		b.WriteString("\n")
		for _, k := range keys {
			if k.kind != kind {
				continue
			}
			r := rows[k]
			tls := "no"
			if k.tls {
				tls = "yes"
			}
			rtt := k.rtt
			if rtt == "0s" {
				rtt = "0"
			}
			fmt.Fprintf(b, "| %s | %s | %d |", tls, rtt, k.workers)
			base := r[baseline].med
			best := ""
			for _, d := range libs {
				if best == "" || r[d].med > r[best].med {
					best = d
				}
			}
			for _, d := range append(slices.Clone(libs), ceils...) {
				c, ok := r[d]
				if !ok {
					b.WriteString(" |")
					continue
				}
				if c.err != "" {
					b.WriteString(" error |")
					continue
				}
				if c.spread > worstSpread {
					worstSpread, worstSpreadAt = c.spread, fmt.Sprintf("%s, %s", label[d], rowName(k))
				}
				v := rate(c.med)
				if d == best {
					v = "**" + v + "**"
				}
				if c.spread > noisy {
					v += "†"
				}
				fmt.Fprintf(b, " %s (%.2f×) |", v, c.med/base)
			}
			bestOther := ""
			for _, d := range others {
				if bestOther == "" || r[d].med > r[bestOther].med {
					bestOther = d
				}
			}
			ceil := math.Max(r["raw-data"].med, r["raw-bdat"].med)
			p, hasPostie := r["postie"]
			if !hasPostie || p.err != "" {
				b.WriteString(" – | – |\n")
				continue
			}
			vsOther := p.med / r[bestOther].med
			vsCeil := p.med / ceil
			fmt.Fprintf(b, " %.2f× (%s) | %.0f %% |\n", vsOther, label[bestOther], 100*vsCeil)
			if vsOther <= 1 {
				behind = append(behind, fmt.Sprintf("%s (%.2f× %s)", rowName(k), vsOther, label[bestOther]))
			}
			if kind == "small" && k.rtt == "1ms" && k.workers == 8 {
				if vsCeil < 0.8 {
					smallOK = false
				}
				smallNotes = append(smallNotes, fmt.Sprintf("%s: %.0f %%", tlsName(k.tls), 100*vsCeil))
			}
			if kind == "attach" {
				if vsOther < 3 {
					attachOK = false
					attachNotes = append(attachNotes, fmt.Sprintf("%s: %.2f×", rowName(k), vsOther))
				}
			}
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(b, "Largest spread of any cell (max−min over median of its repetitions): %.0f %% (%s).\n\n", 100*worstSpread, worstSpreadAt)

	// Wire size per message, from the sink's byte counter.
	b.WriteString("### Bytes per message as the sink received them\n\n")
	b.WriteString("From the cleartext, rtt 0, C=1 rows: the libraries send comparable messages (headers differ; DATA is dot-stuffed).\n\n| kind |")
	for _, d := range append(slices.Clone(libs), ceils...) {
		fmt.Fprintf(b, " %s |", label[d])
	}
	b.WriteString("\n|---|")
	for range len(libs) + len(ceils) {
		b.WriteString("---:|")
	}
	b.WriteString("\n")
	for _, kind := range []string{"small", "multi", "attach"} {
		r := rows[rowKey{kind, false, "0s", 1}]
		if r == nil {
			continue
		}
		fmt.Fprintf(b, "| %s |", kind)
		for _, d := range append(slices.Clone(libs), ceils...) {
			fmt.Fprintf(b, " %.0f |", r[d].wire)
		}
		b.WriteString("\n")
	}
	b.WriteString("\n")

	if len(behind) == 0 {
		targets = append(targets, "Postie is ahead of every other library in every throughput row: **met**.")
	} else {
		targets = append(targets, fmt.Sprintf("Postie ahead of every other library in every row: **missed** in %d rows: %s.", len(behind), strings.Join(behind, "; ")))
	}
	verdict := func(ok bool) string {
		if ok {
			return "**met**"
		}
		return "**missed**"
	}
	targets = append(targets, fmt.Sprintf("Small messages at rtt 1 ms with 8 workers reach at least 80 %% of the hand-pipelined raw SMTP ceiling: %s (%s).", verdict(smallOK), strings.Join(smallNotes, ", ")))
	if attachOK {
		targets = append(targets, "The 1 MiB attachment at least 3× the best other library in every row: **met**.")
	} else {
		targets = append(targets, fmt.Sprintf("The 1 MiB attachment at least 3× the best other library in every row: **missed** in %s.", strings.Join(attachNotes, "; ")))
	}
	return targets
}

func tlsName(tls bool) string {
	if tls {
		return "STARTTLS+AUTH"
	}
	return "cleartext"
}

func rowName(k rowKey) string {
	rtt := k.rtt
	if rtt == "0s" {
		rtt = "0"
	}
	return fmt.Sprintf("%s/%s/rtt %s/C=%d", k.kind, tlsName(k.tls), rtt, k.workers)
}

func mib(n int64) string { return strconv.FormatFloat(float64(n)/(1<<20), 'f', 2, 64) }

func writeHeap(b *strings.Builder, hs []heapResult) []string {
	if len(hs) == 0 {
		return nil
	}
	fmt.Fprintf(b, "## Peak heap with a %d MiB attachment\n\n", hs[0].Size>>20)
	b.WriteString("The attachment is generated on the fly (a reader over a repeated 64 KiB block), except for jordan-wright/email, which only takes a `[]byte`: there the input slice is allocated before the baseline and the figure is what the library needs on top of it. ")
	b.WriteString("*write* renders the message to a counting writer; *send* delivers it to the sink over cleartext SMTP. Each line is a fresh process with GOGC=10.\n\n")
	b.WriteString("| library | mode | attachment from a reader | peak heap (MiB) | allocated (MiB) | peak RSS (MiB) | seconds |\n|---|---|---|---:|---:|---:|---:|\n")
	var out []string
	for _, h := range hs {
		if h.Error != "" {
			fmt.Fprintf(b, "| %s | %s | | error: %s | | | |\n", libLabel[h.Lib], h.Mode, h.Error)
			continue
		}
		streams := "yes"
		if !h.Streams {
			streams = "no ([]byte only)"
		}
		peak := mib(h.PeakHeap)
		if h.Lib == "postie" {
			peak = "**" + peak + "**"
			ok := h.PeakHeap < 4<<20
			v := "**met**"
			if !ok {
				v = "**missed**"
			}
			out = append(out, fmt.Sprintf("Postie's peak heap for the %d MiB attachment (%s) under 4 MiB: %s (%s MiB).", h.Size>>20, h.Mode, v, mib(h.PeakHeap)))
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %.2f |\n", libLabel[h.Lib], h.Mode, streams, peak, mib(h.Allocated), mib(h.MaxRSS), h.Seconds)
	}
	b.WriteString("\n")
	return out
}

var benchLine = regexp.MustCompile(`^BenchmarkMIME/kind=(\w+)/lib=(\w+)-\d+\s+\d+\s+([\d.]+) ns/op\s+([\d.]+) MB/s\s+([\d.]+) B/op\s+([\d.]+) allocs/op`)

func writeMIME(b *strings.Builder, path string) {
	f, err := os.Open(path)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	type key struct{ kind, lib string }
	vals := map[key][4][]float64{}
	var order []key
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		m := benchLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		k := key{m[1], m[2]}
		v, seen := vals[k]
		if !seen {
			order = append(order, k)
		}
		for i := range 4 {
			x, _ := strconv.ParseFloat(m[3+i], 64)
			v[i] = append(v[i], x)
		}
		vals[k] = v
	}
	b.WriteString("## MIME only\n\n")
	b.WriteString("`go test -bench BenchmarkMIME -benchmem ./mimebench`: build the message from the fixture and render it to a counting writer, no network. Medians; the speed ratio is to the standard-library rendering a net/smtp user writes by hand.\n\n")
	b.WriteString("| message | library | µs/op | MB/s | × stdlib | B/op | allocs/op |\n|---|---|---:|---:|---:|---:|---:|\n")
	for _, k := range order {
		v := vals[k]
		std := vals[key{k.kind, "stdlib"}]
		ratio := median(std[0]) / median(v[0])
		name := libLabel[k.lib]
		if k.lib == "postie" {
			name = "**Postie**"
		}
		fmt.Fprintf(b, "| %s | %s | %.1f | %.0f | %.2f× | %.0f | %.0f |\n", k.kind, name, median(v[0])/1000, median(v[1]), ratio, median(v[2]), median(v[3]))
	}
	b.WriteString("\n")
}
