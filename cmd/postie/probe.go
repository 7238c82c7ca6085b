package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/postiemail/postie/smtp"
	"github.com/postiemail/postie/transport"
)

// runProbe connects to an SMTP server, reports what it offers and whether the credentials
// in the URL work. It exits 1 when the server cannot be reached or any phase fails.
func runProbe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("postie probe", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: postie probe URL [--json]   (URL default $POSTIE_URL)")
		fs.PrintDefaults()
	}
	asJSON := fs.Bool("json", false, "print the result as one JSON object")
	// The URL may come before or after the flags.
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	rawurl := os.Getenv("POSTIE_URL")
	if fs.NArg() > 0 {
		rawurl = fs.Arg(0)
		if err := fs.Parse(fs.Args()[1:]); err != nil {
			return exitUsage
		}
	}
	out, errw := newRedactor(stdout, rawurl), newRedactor(stderr, rawurl)
	if fs.NArg() > 0 {
		fmt.Fprintf(errw, "postie probe: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	if rawurl == "" {
		fmt.Fprintln(errw, "postie probe: give the server's URL, e.g. smtp://user:password@mail.example.com:587 (or set POSTIE_URL)")
		return exitUsage
	}

	res, err := smtp.ProbeURL(ctx, rawurl)
	if transport.CodeOf(err) == transport.InvalidArgument && res.Banner == "" {
		// The URL or its options are wrong (nothing was reached): a usage error, as for send.
		fmt.Fprintf(errw, "postie probe: %v\n", err)
		return exitUsage
	}
	if err != nil && res.Error == "" {
		res.Error = err.Error()
	}
	if *asJSON {
		writeJSON(out, res)
	} else {
		printProbe(out, res)
	}
	if err != nil || res.Error != "" {
		if !*asJSON {
			fmt.Fprintf(errw, "postie probe: %s\n", res.Error)
		}
		return exitFailure
	}
	return exitOK
}

func printProbe(w io.Writer, r *smtp.ProbeResult) {
	row := func(k, format string, args ...any) {
		fmt.Fprintf(w, "%-11s "+format+"\n", append([]any{k}, args...)...)
	}
	if r.Addr != "" {
		row("server", "%s", r.Addr)
	}
	if r.Banner != "" {
		row("banner", "%s", r.Banner)
	}
	if r.Hello != "" {
		row("hello", "%s: %s", r.Hello, r.HelloReply)
	}
	if t := r.TLS; t != nil {
		row("tls", "%s, %s, %s, server name %s", t.Mode, t.Version, t.CipherSuite, t.ServerName)
		if c := t.Peer; c != nil {
			row("", "certificate %s, issued by %s, expires %s", c.Subject, c.Issuer, c.NotAfter.Format(time.DateOnly))
		}
	} else if r.Hello != "" && r.Error == "" {
		row("tls", "none")
	} else if r.Hello != "" {
		row("tls", "not established")
	}
	if len(r.Extensions) > 0 {
		names := make([]string, 0, len(r.Extensions))
		for k, v := range r.Extensions {
			if v != "" {
				k += " " + v
			}
			names = append(names, k)
		}
		slices.Sort(names)
		row("extensions", "%s", strings.Join(names, ", "))
	}
	if r.MaxSize > 0 {
		row("max size", "%d bytes", r.MaxSize)
	}
	if len(r.AuthMechanisms) > 0 {
		row("auth offers", "%s", strings.Join(r.AuthMechanisms, " "))
	}
	if a := r.Auth; a != nil {
		if a.OK {
			row("auth", "%s ok", a.Mechanism)
		} else {
			row("auth", "%s failed: %s", a.Mechanism, a.Error)
		}
	}
	tm := r.Timings
	row("timings", "dial %v, greeting %v, hello %v, tls %v, auth %v", round(tm.Dial), round(tm.Greeting), round(tm.Hello), round(tm.TLS), round(tm.Auth))
}

func round(d time.Duration) time.Duration { return d.Round(10 * time.Microsecond) }
