// Command postie sends a message, probes an SMTP server, or runs a local development SMTP
// server.
//
//	postie send --url URL --from ADDR --to ADDR[,ADDR...] --subject S --text T [flags]
//	postie probe URL [--json]
//	postie dev [--addr 127.0.0.1:2525] [--user NAME --password SECRET] [--dir DIR]
//
// The URL is an smtp:// or smtps:// URL as smtp.ParseURL reads it (the SMTP engine is the
// only transport this command links in), such as smtp://user:password@mail.example.com:587;
// it may come from $POSTIE_URL instead of --url, which keeps the password out of the
// process list. Private certificate
// authorities are trusted through SSL_CERT_FILE (or SSL_CERT_DIR), as everywhere in Go on
// Linux. Passwords are never printed.
//
// Exit codes: 0 success; 1 failure (nothing sent, server unreachable, auth refused);
// 2 usage error; 3 (send only) some recipients were refused, the others got the message.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
	exitPartial = 3
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usage = `usage:
  postie send --url URL --from ADDR --to ADDR[,ADDR...] [--cc ...] [--bcc ...] --subject S
              [--text T | --text-file F] [--html H | --html-file F] [--attach PATH]...
              [--header "Name: value"]... [--json]
  postie probe URL [--json]
  postie dev [--addr HOST:PORT] [--user NAME --password SECRET] [--dir DIR]

The URL may also come from $POSTIE_URL. Run "postie COMMAND -h" for the flags of one command.
`

// run is the whole program, minus process concerns, so tests can call it.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	switch args[0] {
	case "send":
		return runSend(ctx, args[1:], stdout, stderr)
	case "probe":
		return runProbe(ctx, args[1:], stdout, stderr)
	case "dev":
		return runDev(ctx, args[1:], stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "postie: unknown command %q\n\n%s", args[0], usage)
	return exitUsage
}

// redactor replaces a URL's password, in every form it may take in output, with "xxxxx".
// The engine already redacts; this is the second lock on the door, for output assembled
// here from errors of any driver.
type redactor struct {
	w       io.Writer
	secrets []string
}

func newRedactor(w io.Writer, rawurl string) *redactor {
	r := &redactor{w: w}
	u, err := url.Parse(rawurl)
	if err != nil || u.User == nil {
		return r
	}
	if p, ok := u.User.Password(); ok && len(p) >= 3 {
		js, _ := json.Marshal(p)
		for _, s := range []string{p, url.QueryEscape(p), url.PathEscape(p), url.UserPassword("", p).String()[1:], string(js[1 : len(js)-1])} {
			if s != "" && !slices.Contains(r.secrets, s) {
				r.secrets = append(r.secrets, s)
			}
		}
	}
	return r
}

func (r *redactor) Write(p []byte) (int, error) {
	if len(r.secrets) == 0 {
		return r.w.Write(p)
	}
	s := string(p)
	for _, secret := range r.secrets {
		s = strings.ReplaceAll(s, secret, "xxxxx")
	}
	if _, err := io.WriteString(r.w, s); err != nil {
		return 0, err
	}
	return len(p), nil
}

// redactURL returns rawurl with its password replaced, for messages about the URL itself.
func redactURL(rawurl string) string {
	u, err := url.Parse(rawurl)
	if err != nil {
		return "(malformed URL)"
	}
	return u.Redacted()
}

func writeJSON(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}
