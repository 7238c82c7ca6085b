// Package sinkproc starts the sink binary as a child process and talks to it.
package sinkproc

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"time"

	"github.com/postiemail/postie/bench/internal/certs"
	"github.com/postiemail/postie/bench/internal/libs"
)

// Proc is a running sink.
type Proc struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	Target libs.Target
}

// Start runs bin with the given reply delay, offering STARTTLS when useTLS, and waits for
// its address line.
func Start(bin string, rtt time.Duration, useTLS bool) (*Proc, error) {
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
	p := &Proc{cmd: cmd, stdin: stdin, Target: libs.Target{SMTP: info.SMTP, Discard: info.Discard}}
	if useTLS {
		cfg, err := certs.ClientConfig([]byte(info.Cert))
		if err != nil {
			return nil, err
		}
		p.Target.TLS = cfg
	}
	return p, nil
}

// Stop closes the sink's standard input, which ends it, and waits.
func (p *Proc) Stop() {
	p.stdin.Close()
	p.cmd.Wait()
}

// Stats asks the sink at addr for its counters with the XSTATS verb.
func Stats(addr string) (msgs, bytes int64, err error) {
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
