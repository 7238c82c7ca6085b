package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/postiemail/postie/internal/loopback"
	"github.com/postiemail/postie/smtp/smtptest"
)

// runDev runs an in-process SMTP server until ctx ends (Ctrl-C), printing each message it
// receives and optionally saving it as an .eml file.
func runDev(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	stdout = newRedactor(stdout, "") // the sender and recipients come from the client: escape controls
	fs := flag.NewFlagSet("postie dev", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:2525", "address to listen on (loopback only)")
	user := fs.String("user", "", "require AUTH as this user")
	password := fs.String("password", "", "the password for --user")
	dir := fs.String("dir", "", "save each message as DIR/<n>.eml")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "postie dev: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	if (*user == "") != (*password == "") {
		fmt.Fprintln(stderr, "postie dev: --user and --password go together")
		return exitUsage
	}
	if host, _, err := net.SplitHostPort(*addr); err != nil || !loopback.Host(host) {
		fmt.Fprintf(stderr, "postie dev: --addr %q is not a loopback host:port; the dev server is for this machine only\n", *addr)
		return exitUsage
	}
	if *dir != "" {
		if err := os.MkdirAll(*dir, 0o755); err != nil {
			fmt.Fprintf(stderr, "postie dev: --dir: %v\n", err)
			return exitFailure
		}
	}

	var mu sync.Mutex
	n := 0
	opts := &smtptest.ServerOptions{
		Addr:   *addr,
		Domain: "postie-dev.localhost",
		OnMessage: func(m smtptest.Message) {
			mu.Lock()
			defer mu.Unlock()
			n++
			saved := ""
			if *dir != "" {
				p := filepath.Join(*dir, fmt.Sprintf("%d.eml", n))
				if err := os.WriteFile(p, m.Raw, 0o644); err != nil {
					fmt.Fprintf(stderr, "postie dev: saving message %d: %v\n", n, err)
				} else {
					saved = " saved " + p
				}
			}
			fmt.Fprintf(stdout, "%s message %d from <%s> to %s, %d bytes%s\n",
				time.Now().Format("15:04:05"), n, m.From, angle(m.To), m.Size, saved)
		},
	}
	if *user != "" {
		// Loopback only, so AUTH is offered without TLS too (for tls=none clients).
		opts.Users = map[string]string{*user: *password}
		opts.InsecureAuth = true
	}
	srv, err := smtptest.NewServer(opts)
	if err != nil {
		fmt.Fprintf(stderr, "postie dev: %v\n", err)
		return exitFailure
	}
	defer srv.Close()
	if ap, err := netip.ParseAddrPort(srv.Addr()); err != nil || !ap.Addr().Unmap().IsLoopback() {
		// A name such as localhost resolves like any other; the socket must be loopback.
		fmt.Fprintf(stderr, "postie dev: --addr %q listens on %s, which is not loopback; the dev server is for this machine only\n", *addr, srv.Addr())
		return exitUsage
	}

	ca, err := os.CreateTemp("", "postie-dev-ca-*.pem")
	if err == nil {
		_, err = ca.Write(srv.CACertPEM())
		if cerr := ca.Close(); err == nil {
			err = cerr
		}
		defer os.Remove(ca.Name())
	}
	if err != nil {
		fmt.Fprintf(stderr, "postie dev: writing the CA certificate: %v\n", err)
		return exitFailure
	}

	u := url.URL{Scheme: "smtp", Host: srv.Addr()}
	if *user != "" {
		u.User = url.User(*user) // the password is the one you gave; it is not echoed
	}
	fmt.Fprintf(stdout, "postie dev: SMTP server on %s (STARTTLS offered; AUTH %s)\n", srv.Addr(), authWord(*user))
	fmt.Fprintf(stdout, "  without TLS:  %s?tls=none\n", u.String())
	fmt.Fprintf(stdout, "  with STARTTLS: SSL_CERT_FILE=%s and %s\n", ca.Name(), u.String())
	fmt.Fprintln(stdout, "Press Ctrl-C to stop.")
	<-ctx.Done()
	fmt.Fprintln(stdout, "postie dev: stopped")
	return exitOK
}

func authWord(user string) string {
	if user == "" {
		return "not required"
	}
	return "required as " + user
}

func angle(addrs []string) string {
	parts := make([]string, len(addrs))
	for i, a := range addrs {
		parts[i] = "<" + a + ">"
	}
	return strings.Join(parts, ", ")
}
