package transport

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Code is a portable error class, the same for SMTP and every HTTP provider, so one retry
// policy and one set of alerts serve them all. Values are never renumbered.
type Code int

const (
	OK                 Code = iota // no error
	Unknown                        // unclassified; the outcome may be unknown too
	InvalidArgument                // the message or a parameter is malformed: fix the input
	NotFound                       // mailbox, domain or endpoint does not exist
	PermissionDenied               // authentication failed or policy refused
	ResourceExhausted              // rate limited, quota or size limit
	FailedPrecondition             // the transport is closed or not set up for this
	Unavailable                    // the service is down or busy; usually temporary
	DeadlineExceeded               // ctx's deadline or a phase timeout passed
	Canceled                       // ctx was cancelled
	Unimplemented                  // the server lacks a needed extension or feature
	Internal                       // a protocol error: a bug on one side
)

var codeNames = [...]string{"OK", "Unknown", "InvalidArgument", "NotFound", "PermissionDenied",
	"ResourceExhausted", "FailedPrecondition", "Unavailable", "DeadlineExceeded", "Canceled",
	"Unimplemented", "Internal"}

func (c Code) String() string {
	if c >= 0 && int(c) < len(codeNames) {
		return codeNames[c]
	}
	return "Code(" + strconv.Itoa(int(c)) + ")"
}

// ErrMaybeDelivered marks an error after which the message may or may not have been
// delivered: the connection died after the final dot, or an HTTP POST got no answer.
// Retrying such a send may deliver the message twice.
var ErrMaybeDelivered = errors.New("the message may have been delivered")

// Error is a classified transport error.
type Error struct {
	Code      Code
	Temporary bool // retrying the same send later may succeed
	// Reply is the SMTP reply that caused the error, nil otherwise.
	Reply *Reply
	// RetryAfter is the delay the server asked for (HTTP Retry-After), 0 if none.
	RetryAfter time.Duration
	// Err is the underlying error; errors.As reaches SDK and network errors through it.
	Err error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Code.String())
	if e.Temporary {
		b.WriteString(" (temporary)")
	}
	if e.Reply != nil {
		b.WriteString(": ")
		b.WriteString(e.Reply.String())
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with code and a formatted cause (which may wrap with %w).
func Errorf(code Code, temporary bool, format string, args ...any) *Error {
	return &Error{Code: code, Temporary: temporary, Err: fmt.Errorf(format, args...)}
}

// CodeOf returns the Code of err: the Code of the first *Error in its chain, Canceled or
// DeadlineExceeded for context errors, the worst recipient's Code for a *PartialError,
// OK for nil and Unknown for anything else.
func CodeOf(err error) Code {
	if err == nil {
		return OK
	}
	e, pe := classified(err)
	switch {
	case e != nil:
		return e.Code
	case pe != nil:
		return pe.worst().Code
	case errors.Is(err, context.Canceled):
		return Canceled
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return DeadlineExceeded
	}
	return Unknown
}

// classified returns the outermost *Error or *PartialError in err's tree (depth first, as
// errors.As searches), so that a *PartialError is judged as a whole rather than by the
// *Error of its first recipient, which errors.As(err, &e) would find through its Unwrap.
func classified(err error) (*Error, *PartialError) {
	for err != nil {
		switch x := err.(type) {
		case *Error:
			return x, nil
		case *PartialError:
			return nil, x
		case interface{ Unwrap() error }:
			err = x.Unwrap()
		case interface{ Unwrap() []error }:
			for _, inner := range x.Unwrap() {
				if e, pe := classified(inner); e != nil || pe != nil {
					return e, pe
				}
			}
			return nil, nil
		default:
			return nil, nil
		}
	}
	return nil, nil
}

// IsTemporary reports whether retrying the same send later may succeed. A *PartialError is
// temporary when at least one recipient was refused temporarily. An error marked
// ErrMaybeDelivered is reported as it is classified; callers that retry must check
// errors.Is(err, ErrMaybeDelivered) themselves.
func IsTemporary(err error) bool {
	e, pe := classified(err)
	switch {
	case e != nil:
		return e.Temporary
	case pe != nil:
		for _, r := range pe.Rejected {
			if IsTemporary(r.Err) {
				return true
			}
		}
	}
	return false
}

// RetryAfterOf returns the RetryAfter hint of err's classification: the *Error's, or the
// largest among a *PartialError's recipients; 0 if none.
func RetryAfterOf(err error) time.Duration {
	e, pe := classified(err)
	var d time.Duration
	switch {
	case e != nil:
		d = e.RetryAfter
	case pe != nil:
		for _, r := range pe.Rejected {
			d = max(d, RetryAfterOf(r.Err))
		}
	}
	return d
}

// FromContext classifies ctx's error as Canceled or DeadlineExceeded, keeping cause as the
// wrapped error so both stay reachable with errors.Is. It returns nil while ctx is live.
func FromContext(ctx context.Context, cause error) error {
	cerr := ctx.Err()
	if cerr == nil {
		return nil
	}
	code := Canceled
	if errors.Is(cerr, context.DeadlineExceeded) {
		code = DeadlineExceeded
	}
	inner := context.Cause(ctx)
	if cause != nil {
		inner = errors.Join(inner, cause)
	}
	if !errors.Is(inner, cerr) {
		inner = errors.Join(cerr, inner)
	}
	return &Error{Code: code, Err: inner}
}

// RecipientError is the refusal of one recipient.
type RecipientError struct {
	Recipient string
	Err       error // a classified *Error
}

func (r RecipientError) Error() string { return "recipient <" + r.Recipient + ">: " + r.Err.Error() }
func (r RecipientError) Unwrap() error { return r.Err }

// PartialError reports that some recipients were refused. When it comes with a Receipt the
// message went to the accepted recipients; the Rejected ones did not get it.
type PartialError struct {
	Rejected []RecipientError
}

// NewPartialError returns a *PartialError over rejected, sorted by recipient for a stable
// order.
func NewPartialError(rejected []RecipientError) *PartialError {
	r := slices.Clone(rejected)
	slices.SortStableFunc(r, func(a, b RecipientError) int { return strings.Compare(a.Recipient, b.Recipient) })
	return &PartialError{Rejected: r}
}

func (p *PartialError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d recipient(s) refused", len(p.Rejected))
	for i, r := range p.Rejected {
		if i == 3 {
			fmt.Fprintf(&b, "; and %d more", len(p.Rejected)-3)
			break
		}
		b.WriteString("; ")
		b.WriteString(r.Error())
	}
	return b.String()
}

// Unwrap returns one error per refused recipient, in recipient order.
func (p *PartialError) Unwrap() []error {
	errs := make([]error, len(p.Rejected))
	for i, r := range p.Rejected {
		errs[i] = r
	}
	return errs
}

// worst returns the classification of the least retryable refusal.
func (p *PartialError) worst() *Error {
	var worst *Error
	for _, r := range p.Rejected {
		var e *Error
		if !errors.As(r.Err, &e) {
			e = &Error{Code: Unknown}
		}
		if worst == nil || (worst.Temporary && !e.Temporary) {
			worst = e
		}
	}
	if worst == nil {
		return &Error{Code: Unknown}
	}
	return worst
}
