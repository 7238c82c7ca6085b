package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/mail"
	"os"
	"strings"

	"github.com/postiemail/postie/mailer"
	_ "github.com/postiemail/postie/smtp" // registers smtp:// and smtps://
	"github.com/postiemail/postie/transport"
)

// listFlag collects a repeatable flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ", ") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

type sendFlags struct {
	url, from, subject string
	to, cc, bcc        listFlag
	text, textFile     string
	html, htmlFile     string
	attach, headers    listFlag
	json               bool
	textSet, htmlSet   bool
}

// usageError is a problem with the command line: exit code 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

func runSend(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var f sendFlags
	fs := flag.NewFlagSet("postie send", flag.ContinueOnError)
	fs.SetOutput(stderr)
	// No flag default from $POSTIE_URL: -h and every usage error print the defaults, and
	// the URL holds the password. It is read after parsing instead.
	fs.StringVar(&f.url, "url", "", "transport URL, such as smtp://user:pass@host:587 (default $POSTIE_URL)")
	fs.StringVar(&f.from, "from", "", `sender, "addr" or "Name <addr>"`)
	fs.Var(&f.to, "to", "recipients, comma-separated; repeatable")
	fs.Var(&f.cc, "cc", "Cc recipients, comma-separated; repeatable")
	fs.Var(&f.bcc, "bcc", "Bcc recipients (in no header), comma-separated; repeatable")
	fs.StringVar(&f.subject, "subject", "", "subject")
	fs.StringVar(&f.text, "text", "", "text/plain body")
	fs.StringVar(&f.textFile, "text-file", "", `file holding the text/plain body ("-" for standard input)`)
	fs.StringVar(&f.html, "html", "", "text/html body")
	fs.StringVar(&f.htmlFile, "html-file", "", `file holding the text/html body ("-" for standard input)`)
	fs.Var(&f.attach, "attach", "file to attach; repeatable")
	fs.Var(&f.headers, "header", `extra header "Name: value"; repeatable`)
	fs.BoolVar(&f.json, "json", false, "print the receipt as one JSON object")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if f.url == "" {
		f.url = os.Getenv("POSTIE_URL")
	}
	fs.Visit(func(fl *flag.Flag) {
		switch fl.Name {
		case "text", "text-file":
			f.textSet = true
		case "html", "html-file":
			f.htmlSet = true
		}
	})
	out, errw := newRedactor(stdout, f.url), newRedactor(stderr, f.url)

	m, err := f.message(fs, os.Stdin)
	if err != nil {
		fmt.Fprintf(errw, "postie send: %v\n", err)
		if _, ok := err.(*usageError); ok {
			fmt.Fprintln(errw, `run "postie send -h" for the flags`)
		}
		return exitUsage
	}
	if err := m.Validate(); err != nil {
		fmt.Fprintf(errw, "postie send: %v\n", describe(err))
		return exitUsage
	}

	c, err := mailer.OpenMailer(ctx, f.url)
	if err != nil {
		if transport.CodeOf(err) == transport.InvalidArgument {
			fmt.Fprintf(errw, "postie send: --url: %v\n", err)
			return exitUsage
		}
		return reportSend(out, errw, f.json, "", nil, err)
	}
	defer c.Close()
	// Prepare fixes the Message-ID and Date now, so they are known even when the send fails.
	tm, err := c.Prepare(m)
	if err != nil {
		fmt.Fprintf(errw, "postie send: %v\n", describe(err))
		return exitUsage
	}
	m.MessageID, m.Date = tm.MessageID, tm.Date
	r, err := c.Send(ctx, m)
	return reportSend(out, errw, f.json, tm.MessageID, r, err)
}

// message builds the message the flags describe.
func (f *sendFlags) message(fs *flag.FlagSet, stdin io.Reader) (*mailer.Message, error) {
	if fs.NArg() > 0 {
		return nil, usagef("unexpected argument %q: every value belongs to a flag (quote values that hold spaces)", fs.Arg(0))
	}
	if f.url == "" {
		return nil, usagef("--url is required (or set POSTIE_URL), e.g. smtp://user:password@mail.example.com:587")
	}
	if f.from == "" {
		return nil, usagef("--from is required")
	}
	if len(f.to)+len(f.cc)+len(f.bcc) == 0 {
		return nil, usagef("at least one of --to, --cc or --bcc is required")
	}
	if f.text != "" && f.textFile != "" {
		return nil, usagef("use --text or --text-file, not both")
	}
	if f.html != "" && f.htmlFile != "" {
		return nil, usagef("use --html or --html-file, not both")
	}
	if f.textFile == "-" && f.htmlFile == "-" {
		return nil, usagef("only one of --text-file and --html-file can read standard input")
	}
	if !f.textSet && !f.htmlSet && len(f.attach) == 0 {
		return nil, usagef("the message is empty: give --text, --text-file, --html, --html-file or --attach")
	}
	from, err := mail.ParseAddress(f.from)
	if err != nil {
		return nil, usagef("--from %q: %v", f.from, strings.TrimPrefix(err.Error(), "mail: "))
	}
	m := &mailer.Message{From: *from, Subject: f.subject}
	for _, l := range []struct {
		name string
		in   listFlag
		out  *[]mail.Address
	}{{"--to", f.to, &m.To}, {"--cc", f.cc, &m.Cc}, {"--bcc", f.bcc, &m.Bcc}} {
		for _, v := range l.in {
			addrs, err := mail.ParseAddressList(v)
			if err != nil {
				return nil, usagef("%s %q: %v", l.name, v, strings.TrimPrefix(err.Error(), "mail: "))
			}
			for _, a := range addrs {
				*l.out = append(*l.out, *a)
			}
		}
	}
	if m.Text, err = body(f.text, f.textFile, "--text-file", stdin); err != nil {
		return nil, err
	}
	if m.HTML, err = body(f.html, f.htmlFile, "--html-file", stdin); err != nil {
		return nil, err
	}
	for _, p := range f.attach {
		a, err := mailer.AttachmentFromFile(p)
		if err != nil {
			return nil, usagef("--attach %q: %v", p, describe(err))
		}
		m.Attachments = append(m.Attachments, a)
	}
	for _, h := range f.headers {
		name, value, ok := strings.Cut(h, ":")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		if !ok || name == "" {
			return nil, usagef(`--header %q: want "Name: value"`, h)
		}
		if m.Headers == nil {
			m.Headers = map[string][]string{}
		}
		m.Headers[name] = append(m.Headers[name], value)
	}
	return m, nil
}

func body(inline, file, flagName string, stdin io.Reader) (string, error) {
	if file == "" {
		return inline, nil
	}
	var b []byte
	var err error
	if file == "-" {
		b, err = io.ReadAll(stdin)
	} else {
		b, err = os.ReadFile(file)
	}
	if err != nil {
		return "", usagef("%s: %v", flagName, err)
	}
	return string(b), nil
}

// describe returns the most useful text of a validation error: the FieldError's words
// without the transport code prefix.
func describe(err error) string {
	var fe *mailer.FieldError
	if errors.As(err, &fe) {
		return fe.Error()
	}
	return err.Error()
}

// sendReport is the JSON shape of a send's outcome.
type sendReport struct {
	OK        bool         `json:"ok"`
	MessageID string       `json:"message_id,omitempty"`
	QueueID   string       `json:"queue_id,omitempty"`
	Accepted  []string     `json:"accepted"`
	Refused   []refusal    `json:"refused"`
	Reply     *replyJSON   `json:"reply,omitempty"`
	Error     *errorReport `json:"error,omitempty"`
}

type refusal struct {
	Recipient string     `json:"recipient"`
	Class     string     `json:"class"`
	Temporary bool       `json:"temporary"`
	Reply     *replyJSON `json:"reply,omitempty"`
	Message   string     `json:"message"`
}

type errorReport struct {
	Class          string     `json:"class"`
	Temporary      bool       `json:"temporary"`
	MaybeDelivered bool       `json:"maybe_delivered"`
	Reply          *replyJSON `json:"reply,omitempty"`
	Message        string     `json:"message"`
}

type replyJSON struct {
	Code     int    `json:"code"`
	Enhanced string `json:"enhanced,omitempty"`
	Text     string `json:"text"`
}

func replyOf(r *transport.Reply) *replyJSON {
	if r == nil {
		return nil
	}
	return &replyJSON{Code: r.Code, Enhanced: r.Enhanced.String(), Text: r.Text()}
}

func replyInErr(err error) *transport.Reply {
	var e *transport.Error
	if errors.As(err, &e) {
		return e.Reply
	}
	return nil
}

// reportSend prints the outcome and returns the exit code: 0 when every recipient was
// accepted, 3 when only some were, 1 otherwise.
func reportSend(stdout, stderr io.Writer, asJSON bool, id string, r *transport.Receipt, err error) int {
	rep := sendReport{MessageID: id, Accepted: []string{}, Refused: []refusal{}}
	if r != nil {
		if r.MessageID != "" {
			rep.MessageID = r.MessageID
		}
		rep.QueueID = r.ID
		rep.Accepted = append(rep.Accepted, r.Accepted...)
		rep.Reply = replyOf(r.Reply)
		for _, re := range r.Rejected {
			rep.Refused = append(rep.Refused, refusalOf(re))
		}
	}
	code := exitOK
	if err != nil {
		code = exitFailure
		if pe, ok := mailer.IsPartial(err); ok {
			if len(rep.Refused) == 0 {
				for _, re := range pe.Rejected {
					rep.Refused = append(rep.Refused, refusalOf(re))
				}
			}
			if len(rep.Accepted) > 0 {
				code = exitPartial
			}
		}
		if code == exitFailure {
			rep.Error = &errorReport{
				Class:          transport.CodeOf(err).String(),
				Temporary:      transport.IsTemporary(err),
				MaybeDelivered: errors.Is(err, transport.ErrMaybeDelivered),
				Reply:          replyOf(replyInErr(err)),
				Message:        err.Error(),
			}
		}
	}
	rep.OK = code == exitOK
	if asJSON {
		writeJSON(stdout, rep)
		return code
	}
	if rep.MessageID != "" {
		fmt.Fprintf(stdout, "Message-ID: <%s>\n", rep.MessageID)
	}
	if rep.QueueID != "" {
		fmt.Fprintf(stdout, "Queue ID:   %s\n", rep.QueueID)
	}
	for _, a := range rep.Accepted {
		fmt.Fprintf(stdout, "accepted    %s\n", a)
	}
	for _, re := range rep.Refused {
		fmt.Fprintf(stdout, "refused     %s: %s (%s%s)\n", re.Recipient, re.Message, re.Class, tempWord(re.Temporary))
	}
	if rep.Error != nil {
		fmt.Fprintf(stderr, "postie send: failed (%s%s): %s\n", rep.Error.Class, tempWord(rep.Error.Temporary), rep.Error.Message)
		if rep.Error.MaybeDelivered {
			fmt.Fprintln(stderr, "postie send: the connection broke after the message was sent: it may have been delivered; check before sending again")
		}
	}
	return code
}

func refusalOf(re transport.RecipientError) refusal {
	out := refusal{Recipient: re.Recipient, Class: transport.CodeOf(re.Err).String(), Temporary: transport.IsTemporary(re.Err)}
	if rp := replyInErr(re.Err); rp != nil {
		out.Reply = replyOf(rp)
		out.Message = rp.String()
	} else if re.Err != nil {
		out.Message = re.Err.Error()
	}
	return out
}

func tempWord(t bool) string {
	if t {
		return ", temporary"
	}
	return ""
}
