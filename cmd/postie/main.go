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

// redactor is the writer every line of output goes through. It replaces the URL's
// password, in every form it may take in output, with "xxxxx": the engine already
// redacts, and this is the second lock on the door, for output assembled here from errors
// of any driver. It also escapes control characters (see escapeControls), since much of
// the output is the server's own text.
type redactor struct {
	w       io.Writer
	secrets []string
}

func newRedactor(w io.Writer, rawurl string) *redactor {
	r := &redactor{w: w}
	if p := urlPassword(rawurl); len(p) >= 3 {
		js, _ := json.Marshal(p)
		for _, s := range []string{p, url.QueryEscape(p), url.PathEscape(p), url.UserPassword("", p).String()[1:], string(js[1 : len(js)-1])} {
			if s != "" && !slices.Contains(r.secrets, s) {
				r.secrets = append(r.secrets, s)
			}
		}
	}
	return r
}

// urlPassword returns the password of rawurl, also when rawurl does not parse (a password
// holding "/" or "#" unencoded): then it is what lies between the user name's ":" and the
// last "@".
func urlPassword(rawurl string) string {
	if u, err := url.Parse(rawurl); err == nil {
		p, _ := u.User.Password()
		return p
	}
	_, rest, _ := strings.Cut(rawurl, "://")
	if at := strings.LastIndexByte(rest, '@'); at >= 0 {
		if _, p, ok := strings.Cut(rest[:at], ":"); ok {
			return p
		}
	}
	return ""
}

func (r *redactor) Write(p []byte) (int, error) {
	s := string(p)
	for _, secret := range r.secrets {
		s = strings.ReplaceAll(s, secret, "xxxxx")
	}
	if _, err := io.WriteString(r.w, escapeControls(s)); err != nil {
		return 0, err
	}
	return len(p), nil
}

// escapeControls writes the control characters of s other than newline and tab (C0,
// DEL, C1) as \u00XX. Banners, replies and the errors that quote them come from the
// server, and a hostile one could otherwise send escape sequences that retitle the
// terminal, move the cursor or overwrite lines (a carriage return). \u00XX also keeps
// JSON output valid.
func escapeControls(s string) string {
	if !strings.ContainsFunc(s, isControl) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if isControl(r) {
			fmt.Fprintf(&b, `\u%04x`, r)
		} else {
			b.WriteRune(r)
		}
	}
	return b.String()
}

func isControl(r rune) bool { return r != '\n' && r != '\t' && (r < 0x20 || r >= 0x7f && r <= 0x9f) }

func writeJSON(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}
