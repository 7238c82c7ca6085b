// Command sink is the benchmark's SMTP peer: it accepts every message and throws it away,
// advertising PIPELINING, CHUNKING, 8BITMIME, SIZE, AUTH PLAIN and (with -tls) STARTTLS.
// Every write to a client can be held back by -rtt to model a remote server.
//
// On start it prints one JSON line to stdout: {"smtp":"host:port","discard":"host:port","cert":"PEM"}.
// It runs until its standard input closes or it gets SIGINT/SIGTERM, then prints its counters
// to stderr.
package main

import (
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/postiemail/postie/bench/internal/certs"
	"github.com/postiemail/postie/bench/internal/sink"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "SMTP listen address")
	discard := flag.String("discard", "127.0.0.1:0", "raw discard listen address (empty: none)")
	rtt := flag.Duration("rtt", 0, "hold back every reply by this long (e.g. 1ms)")
	useTLS := flag.Bool("tls", false, "offer STARTTLS (with a fresh self-signed certificate); the discard listener then speaks implicit TLS")
	stdin := flag.Bool("stdin", true, "exit when standard input closes")
	flag.Parse()

	cfg := sink.Config{RTT: *rtt}
	var pemBytes []byte
	if *useTLS {
		cert, p, err := certs.New()
		if err != nil {
			log.Fatal(err)
		}
		pemBytes = p
		cfg.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	srv := sink.New(cfg)

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	out := map[string]string{"smtp": ln.Addr().String()}
	go srv.ServeSMTP(ln)
	if *discard != "" {
		dl, err := net.Listen("tcp", *discard)
		if err != nil {
			log.Fatal(err)
		}
		out["discard"] = dl.Addr().String()
		go srv.ServeDiscard(dl)
	}
	if pemBytes != nil {
		out["cert"] = string(pemBytes)
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		log.Fatal(err)
	}

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt, syscall.SIGTERM)
	if *stdin {
		go func() {
			io.Copy(io.Discard, os.Stdin)
			stop <- syscall.SIGTERM
		}()
	}
	<-stop
	srv.Close()
	st := srv.Stats()
	fmt.Fprintf(os.Stderr, "sink: %d connections, %d messages, %d bytes\n", st.Conns, st.Messages, st.Bytes)
}
