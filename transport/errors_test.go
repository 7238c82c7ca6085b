package transport_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/postiemail/postie/transport"
)

type en = transport.Enhanced

// TestClassifyReply covers every row of the SMTP table in research/style-anchors.md 6.8,
// plus the refinements the code makes beyond it.
func TestClassifyReply(t *testing.T) {
	for _, c := range []struct {
		row       string
		code      int
		enhanced  en
		text      string
		want      transport.Code
		temporary bool
	}{
		{"421 any phase", 421, en{4, 3, 2}, "shutting down", transport.Unavailable, true},
		{"421 without enhanced code", 421, en{}, "bye", transport.Unavailable, true},
		{"450 mailbox busy", 450, en{4, 2, 1}, "try later", transport.Unavailable, true},
		{"451 local error", 451, en{4, 3, 0}, "try later", transport.Unavailable, true},
		{"451 greylisting", 451, en{4, 7, 1}, "greylisted", transport.Unavailable, true},
		{"452 insufficient storage", 452, en{4, 3, 1}, "no room", transport.ResourceExhausted, true},
		{"452 too many recipients", 452, en{4, 5, 3}, "too many recipients", transport.ResourceExhausted, true},
		{"552 too many recipients (5.5.3)", 552, en{5, 5, 3}, "slow down", transport.ResourceExhausted, true},
		{"552 too many recipients (text)", 552, en{}, "Too many recipients", transport.ResourceExhausted, true},
		{"454 TLS not available", 454, en{4, 7, 0}, "TLS not available", transport.Unavailable, true},
		{"500 syntax error", 500, en{5, 5, 2}, "what?", transport.Internal, false},
		{"501 bad parameters", 501, en{5, 5, 4}, "bad args", transport.Internal, false},
		{"502 not implemented", 502, en{}, "no", transport.Internal, false},
		{"502 5.5.1 command unrecognised", 502, en{5, 5, 1}, "unknown command", transport.Unimplemented, false},
		{"503 bad sequence", 503, en{5, 5, 1}, "MAIL first", transport.Internal, false},
		{"504 parameter not implemented", 504, en{5, 5, 4}, "no such mechanism", transport.Unimplemented, false},
		{"555 MAIL/RCPT parameters", 555, en{5, 5, 4}, "SIZE unknown", transport.Internal, false},
		{"530 auth required", 530, en{5, 7, 0}, "authenticate first", transport.PermissionDenied, false},
		{"534 mechanism too weak", 534, en{5, 7, 9}, "too weak", transport.PermissionDenied, false},
		{"535 5.7.8 bad credentials", 535, en{5, 7, 8}, "invalid credentials", transport.PermissionDenied, false},
		{"538 encryption required", 538, en{5, 7, 11}, "TLS first", transport.PermissionDenied, false},
		{"550 5.1.1 no such user", 550, en{5, 1, 1}, "no such user", transport.NotFound, false},
		{"550 5.1.2 no such domain", 550, en{5, 1, 2}, "bad domain", transport.NotFound, false},
		{"551 5.1.6 user moved", 551, en{5, 1, 6}, "moved", transport.NotFound, false},
		{"550 without enhanced code", 550, en{}, "mailbox unavailable", transport.NotFound, false},
		{"551 without enhanced code", 551, en{}, "user not local", transport.NotFound, false},
		{"550 5.1.3 bad address syntax (refinement)", 550, en{5, 1, 3}, "bad syntax", transport.InvalidArgument, false},
		{"550 5.7.1 policy", 550, en{5, 7, 1}, "relaying denied", transport.PermissionDenied, false},
		{"554 5.7.1 spam", 554, en{5, 7, 1}, "looks like spam", transport.PermissionDenied, false},
		{"554 without enhanced code", 554, en{}, "transaction failed", transport.PermissionDenied, false},
		{"552 5.3.4 message too big", 552, en{5, 3, 4}, "too big", transport.ResourceExhausted, false},
		{"552 5.2.2 mailbox full", 552, en{5, 2, 2}, "full", transport.ResourceExhausted, false},
		{"554 5.3.4 message too big", 554, en{5, 3, 4}, "too big", transport.ResourceExhausted, false},
		{"553 mailbox name not allowed", 553, en{5, 1, 3}, "bad name", transport.InvalidArgument, false},
		{"553 without enhanced code", 553, en{}, "not allowed", transport.InvalidArgument, false},
		{"550 5.6.0 content refused", 550, en{5, 6, 0}, "bad content", transport.InvalidArgument, false},
		{"other 4xx", 471, en{}, "later", transport.Unavailable, true},
		{"other 5xx", 599, en{}, "?", transport.Unknown, false},
	} {
		t.Run(c.row, func(t *testing.T) {
			r := &transport.Reply{Code: c.code, Enhanced: c.enhanced, Lines: []string{c.text}}
			e := transport.ClassifyReply(r)
			if e == nil {
				t.Fatalf("ClassifyReply(%v) = nil", r)
			}
			if e.Code != c.want || e.Temporary != c.temporary {
				t.Errorf("ClassifyReply(%v) = %v temporary=%v, want %v temporary=%v", r, e.Code, e.Temporary, c.want, c.temporary)
			}
			if e.Reply != r {
				t.Errorf("Error.Reply = %v, want the reply itself", e.Reply)
			}
			if !strings.Contains(e.Error(), r.String()) {
				t.Errorf("Error() = %q lacks the reply %q", e.Error(), r.String())
			}
		})
	}
	for _, code := range []int{220, 250, 251, 354} {
		if e := transport.ClassifyReply(&transport.Reply{Code: code}); e != nil {
			t.Errorf("ClassifyReply(%d) = %v, want nil for a positive reply", code, e)
		}
	}
	if transport.ClassifyReply(nil) != nil {
		t.Error("ClassifyReply(nil) != nil")
	}
}

// TestClassifyHTTP covers every row of the HTTP table in research/style-anchors.md 6.8.
func TestClassifyHTTP(t *testing.T) {
	for _, c := range []struct {
		status    int
		want      transport.Code
		temporary bool
	}{
		{400, transport.InvalidArgument, false},
		{422, transport.InvalidArgument, false},
		{401, transport.PermissionDenied, false},
		{403, transport.PermissionDenied, false},
		{404, transport.NotFound, false},
		{408, transport.DeadlineExceeded, true},
		{413, transport.ResourceExhausted, false},
		{429, transport.ResourceExhausted, true},
		{500, transport.Unavailable, true},
		{502, transport.Unavailable, true},
		{503, transport.Unavailable, true},
		{504, transport.Unavailable, true},
		{501, transport.Unimplemented, false},
		{409, transport.InvalidArgument, false}, // other 4xx: the request is at fault
		{405, transport.InvalidArgument, false},
		{599, transport.Unavailable, true},
		{302, transport.Unknown, false},
	} {
		e := transport.ClassifyHTTP(c.status, "")
		if e == nil {
			t.Errorf("ClassifyHTTP(%d) = nil", c.status)
			continue
		}
		if e.Code != c.want || e.Temporary != c.temporary {
			t.Errorf("ClassifyHTTP(%d) = %v temporary=%v, want %v temporary=%v", c.status, e.Code, e.Temporary, c.want, c.temporary)
		}
		if want := fmt.Sprintf("HTTP %d %s", c.status, http.StatusText(c.status)); !strings.Contains(e.Error(), want) {
			t.Errorf("ClassifyHTTP(%d).Error() = %q, want it to contain %q", c.status, e.Error(), want)
		}
		if e.Reply != nil || e.RetryAfter != 0 {
			t.Errorf("ClassifyHTTP(%d) = %+v: no Reply and no RetryAfter expected", c.status, e)
		}
	}
	for _, s := range []int{200, 201, 202, 204, 299} {
		if e := transport.ClassifyHTTP(s, "10"); e != nil {
			t.Errorf("ClassifyHTTP(%d) = %v, want nil", s, e)
		}
	}
	if e := transport.ClassifyHTTP(429, "120"); e.RetryAfter != 2*time.Minute || transport.RetryAfterOf(e) != 2*time.Minute {
		t.Errorf("429 with Retry-After 120: RetryAfter = %v", e.RetryAfter)
	}
	if e := transport.ClassifyHTTP(503, "86400"); e.RetryAfter != transport.MaxRetryAfter {
		t.Errorf("503 with Retry-After one day: RetryAfter = %v, want the cap %v", e.RetryAfter, transport.MaxRetryAfter)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"30", 30 * time.Second},
		{"  45 ", 45 * time.Second},
		{"300", 5 * time.Minute},
		{"301", transport.MaxRetryAfter},
		{"99999999999999999999", transport.MaxRetryAfter}, // overflows int64
		{"-5", 0},
		{"1.5", 0},
		{"soon", 0},
		{"30s", 0},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(2 * time.Minute).Format(time.RFC850), 2 * time.Minute},
		{now.Add(time.Minute).Format(time.ANSIC), time.Minute},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0}, // in the past
		{now.Add(48 * time.Hour).Format(http.TimeFormat), transport.MaxRetryAfter},
		{"Sun, 32 Jun 2025 12:00:00 GMT", 0},
	} {
		if got := transport.ParseRetryAfter(c.in, now); got != c.want {
			t.Errorf("ParseRetryAfter(%q) = %v, want %v", c.in, got, c.want)
		}
	}
}

func TestCodeOf(t *testing.T) {
	notFound := transport.Errorf(transport.NotFound, false, "no such user")
	busy := transport.Errorf(transport.Unavailable, true, "busy")
	for _, c := range []struct {
		name string
		err  error
		want transport.Code
		temp bool
	}{
		{"nil", nil, transport.OK, false},
		{"plain error", errors.New("x"), transport.Unknown, false},
		{"*Error", busy, transport.Unavailable, true},
		{"wrapped *Error", fmt.Errorf("send: %w", notFound), transport.NotFound, false},
		{"joined", errors.Join(errors.New("x"), busy), transport.Unavailable, true},
		{"context.Canceled", context.Canceled, transport.Canceled, false},
		{"wrapped DeadlineExceeded", fmt.Errorf("dial: %w", context.DeadlineExceeded), transport.DeadlineExceeded, false},
		{"os.ErrDeadlineExceeded", fmt.Errorf("read: %w", os.ErrDeadlineExceeded), transport.DeadlineExceeded, false},
		{"*Error beats the ctx error it wraps", &transport.Error{Code: transport.Unavailable, Temporary: true, Err: context.Canceled}, transport.Unavailable, true},
		// A PartialError is judged as a whole: its worst refusal, temporary if any is.
		{"partial: temporary first, permanent second", transport.NewPartialError([]transport.RecipientError{
			{Recipient: "a@x", Err: busy}, {Recipient: "b@x", Err: notFound}}), transport.NotFound, true},
		{"partial: all temporary", transport.NewPartialError([]transport.RecipientError{
			{Recipient: "a@x", Err: busy}, {Recipient: "b@x", Err: busy}}), transport.Unavailable, true},
		{"partial: all permanent", fmt.Errorf("mailer: %w", transport.NewPartialError([]transport.RecipientError{
			{Recipient: "a@x", Err: notFound}})), transport.NotFound, false},
		{"partial: unclassified refusal", transport.NewPartialError([]transport.RecipientError{
			{Recipient: "a@x", Err: errors.New("?")}}), transport.Unknown, false},
		{"partial: empty", &transport.PartialError{}, transport.Unknown, false},
		{"*Error wrapping a partial", &transport.Error{Code: transport.Internal, Err: transport.NewPartialError([]transport.RecipientError{
			{Recipient: "a@x", Err: busy}})}, transport.Internal, false},
	} {
		if got := transport.CodeOf(c.err); got != c.want {
			t.Errorf("%s: CodeOf = %v, want %v", c.name, got, c.want)
		}
		if got := transport.IsTemporary(c.err); got != c.temp {
			t.Errorf("%s: IsTemporary = %v, want %v", c.name, got, c.temp)
		}
	}
}

func TestMaybeDelivered(t *testing.T) {
	err := fmt.Errorf("smtp: after the final dot: %w", &transport.Error{Code: transport.Unknown, Err: fmt.Errorf("read: %w", transport.ErrMaybeDelivered)})
	if !errors.Is(err, transport.ErrMaybeDelivered) || transport.CodeOf(err) != transport.Unknown || transport.IsTemporary(err) {
		t.Errorf("maybe-delivered error: Is %v, Code %v, Temporary %v", errors.Is(err, transport.ErrMaybeDelivered), transport.CodeOf(err), transport.IsTemporary(err))
	}
}

func TestRetryAfterOf(t *testing.T) {
	slow := &transport.Error{Code: transport.ResourceExhausted, Temporary: true, RetryAfter: 30 * time.Second}
	slower := &transport.Error{Code: transport.ResourceExhausted, Temporary: true, RetryAfter: time.Minute}
	for _, c := range []struct {
		name string
		err  error
		want time.Duration
	}{
		{"nil", nil, 0},
		{"plain", errors.New("x"), 0},
		{"wrapped", fmt.Errorf("x: %w", slow), 30 * time.Second},
		{"partial takes the largest", transport.NewPartialError([]transport.RecipientError{
			{Recipient: "a@x", Err: slow}, {Recipient: "b@x", Err: slower}, {Recipient: "c@x", Err: errors.New("x")}}), time.Minute},
	} {
		if got := transport.RetryAfterOf(c.err); got != c.want {
			t.Errorf("%s: RetryAfterOf = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestFromContext(t *testing.T) {
	if err := transport.FromContext(context.Background(), errors.New("x")); err != nil {
		t.Errorf("live ctx: %v", err)
	}
	cause := errors.New("read: connection reset")

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := transport.FromContext(ctx, cause)
	if transport.CodeOf(err) != transport.Canceled || !errors.Is(err, context.Canceled) || !errors.Is(err, cause) || transport.IsTemporary(err) {
		t.Errorf("cancelled: %v (code %v)", err, transport.CodeOf(err))
	}

	dctx, dcancel := context.WithDeadline(context.Background(), time.Unix(0, 0))
	defer dcancel()
	err = transport.FromContext(dctx, nil)
	if transport.CodeOf(err) != transport.DeadlineExceeded || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("deadline: %v", err)
	}

	why := errors.New("shutting down")
	cctx, ccancel := context.WithCancelCause(context.Background())
	ccancel(why)
	err = transport.FromContext(cctx, cause)
	if transport.CodeOf(err) != transport.Canceled || !errors.Is(err, why) || !errors.Is(err, cause) || !errors.Is(err, context.Canceled) {
		t.Errorf("cancel cause: %v", err)
	}
}

func TestPartialError(t *testing.T) {
	in := []transport.RecipientError{
		{Recipient: "d@x", Err: transport.Errorf(transport.NotFound, false, "d")},
		{Recipient: "b@x", Err: transport.Errorf(transport.Unavailable, true, "b")},
		{Recipient: "a@x", Err: transport.Errorf(transport.NotFound, false, "a")},
		{Recipient: "c@x", Err: transport.Errorf(transport.NotFound, false, "c")},
	}
	pe := transport.NewPartialError(in)
	if in[0].Recipient != "d@x" {
		t.Error("NewPartialError sorted the caller's slice")
	}
	var order []string
	for _, err := range pe.Unwrap() {
		var re transport.RecipientError
		if !errors.As(err, &re) {
			t.Fatalf("Unwrap element %T is not a RecipientError", err)
		}
		order = append(order, re.Recipient)
	}
	if got := strings.Join(order, ","); got != "a@x,b@x,c@x,d@x" {
		t.Errorf("Unwrap order %s, want recipient order", got)
	}
	// The same refusals in another order give the same error.
	again := transport.NewPartialError([]transport.RecipientError{in[2], in[3], in[0], in[1]})
	if pe.Error() != again.Error() {
		t.Errorf("Error() depends on input order:\n%s\n%s", pe.Error(), again.Error())
	}
	msg := pe.Error()
	if !strings.HasPrefix(msg, "4 recipient(s) refused; recipient <a@x>: NotFound: a") || !strings.HasSuffix(msg, "; and 1 more") || strings.Contains(msg, "<d@x>") {
		t.Errorf("Error() = %q", msg)
	}
	if !errors.Is(pe, in[1].Err) {
		t.Error("errors.Is does not reach a recipient's error")
	}
}

func TestErrorFormat(t *testing.T) {
	e := transport.ClassifyReply(&transport.Reply{Code: 450, Enhanced: en{4, 2, 1}, Lines: []string{"busy", "try later"}})
	e.Err = errors.New("RCPT TO")
	if got := e.Error(); got != "Unavailable (temporary): 450 4.2.1 busy try later: RCPT TO" {
		t.Errorf("Error() = %q", got)
	}
	if got := (&transport.Error{Code: transport.Internal}).Error(); got != "Internal" {
		t.Errorf("bare Error() = %q", got)
	}
	inner := errors.New("inner")
	if e := transport.Errorf(transport.InvalidArgument, false, "bad %s: %w", "thing", inner); !errors.Is(e, inner) || e.Error() != "InvalidArgument: bad thing: inner" {
		t.Errorf("Errorf = %q", e)
	}
	for c, want := range map[transport.Code]string{transport.OK: "OK", transport.Internal: "Internal", transport.FailedPrecondition: "FailedPrecondition", 99: "Code(99)", -1: "Code(-1)"} {
		if c.String() != want {
			t.Errorf("Code(%d).String() = %q, want %q", int(c), c.String(), want)
		}
	}
	if err := transport.Closed("smtp"); transport.CodeOf(err) != transport.FailedPrecondition || !errors.Is(err, transport.ErrClosed) || !strings.Contains(err.Error(), "smtp: Send after Close") {
		t.Errorf("Closed = %v", err)
	}
}

func TestReply(t *testing.T) {
	r := &transport.Reply{Code: 250, Enhanced: en{2, 0, 0}, Lines: []string{"OK", "queued as ABC"}}
	if r.String() != "250 2.0.0 OK queued as ABC" || r.Text() != "OK\nqueued as ABC" || !r.Positive() {
		t.Errorf("String %q Text %q Positive %v", r.String(), r.Text(), r.Positive())
	}
	if s := (&transport.Reply{Code: 354}).String(); s != "354" {
		t.Errorf("bare reply String = %q", s)
	}
	if (&transport.Reply{Code: 421}).Positive() || (&transport.Reply{Code: 199}).Positive() {
		t.Error("negative reply reported Positive")
	}
	if !(en{}).IsZero() || (en{}).String() != "" || (en{5, 7, 1}).String() != "5.7.1" {
		t.Error("Enhanced IsZero/String")
	}
}
