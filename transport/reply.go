package transport

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Reply is an SMTP server reply.
type Reply struct {
	Code     int      // three-digit reply code, such as 250
	Enhanced Enhanced // RFC 3463 enhanced status code; zero when the server sent none
	Lines    []string // text of each line, without the code and enhanced code
}

// Enhanced is an RFC 3463 enhanced status code: class.subject.detail, such as 5.1.1.
type Enhanced [3]int

// IsZero reports whether no enhanced code was given.
func (e Enhanced) IsZero() bool { return e == Enhanced{} }

func (e Enhanced) String() string {
	if e.IsZero() {
		return ""
	}
	return strconv.Itoa(e[0]) + "." + strconv.Itoa(e[1]) + "." + strconv.Itoa(e[2])
}

// String formats the reply on one line: "550 5.1.1 no such user".
func (r *Reply) String() string {
	var b strings.Builder
	b.WriteString(strconv.Itoa(r.Code))
	if !r.Enhanced.IsZero() {
		b.WriteByte(' ')
		b.WriteString(r.Enhanced.String())
	}
	if len(r.Lines) > 0 {
		b.WriteByte(' ')
		b.WriteString(strings.Join(r.Lines, " "))
	}
	return b.String()
}

// Positive reports a 2xx or 3xx reply.
func (r *Reply) Positive() bool { return r.Code >= 200 && r.Code < 400 }

// Text returns the reply's lines joined by newlines.
func (r *Reply) Text() string { return strings.Join(r.Lines, "\n") }

// ClassifyReply maps a negative SMTP reply to the portable error model, following the table
// in DESIGN.md: the first digit decides Temporary (4xx) or permanent (5xx), the code and the
// enhanced subject refine the Code. It returns nil for a positive reply.
func ClassifyReply(r *Reply) *Error {
	if r == nil || r.Positive() {
		return nil
	}
	e := &Error{Reply: r, Temporary: r.Code/100 == 4}
	en := r.Enhanced
	switch {
	case r.Code == 421:
		e.Code = Unavailable
	case r.Code == 452 || tooManyRecipients(r):
		// RFC 5321 4.5.3.1.10: treat 552 "too many recipients" as 452 and split the batch.
		e.Code, e.Temporary = ResourceExhausted, true
	case r.Code == 450 || r.Code == 451 || r.Code == 454:
		e.Code = Unavailable
	case r.Code == 504 || r.Code == 502 && en == Enhanced{5, 5, 1}:
		e.Code = Unimplemented
	case r.Code >= 500 && r.Code <= 503 || r.Code == 555:
		e.Code = Internal
	case r.Code == 530 || r.Code == 534 || r.Code == 535 || r.Code == 538:
		e.Code = PermissionDenied
	case r.Code == 552:
		e.Code = ResourceExhausted
	case r.Code == 553:
		e.Code = InvalidArgument
	case en[0] == 5 && en[1] == 7:
		e.Code = PermissionDenied
	case en[0] == 5 && en[1] == 1 && (en[2] == 3 || en[2] == 7 || en[2] == 8):
		e.Code = InvalidArgument // bad address syntax
	case en[0] == 5 && en[1] == 1:
		e.Code = NotFound
	case en[0] == 5 && en[1] == 2 && (en[2] == 2 || en[2] == 3):
		e.Code = ResourceExhausted // mailbox full, message too big for the mailbox
	case en[0] == 5 && en[1] == 3 && en[2] == 4:
		e.Code = ResourceExhausted
	case en[0] == 5 && en[1] == 6:
		e.Code = InvalidArgument // content refused
	case r.Code == 550 || r.Code == 551:
		e.Code = NotFound
	case r.Code == 554:
		e.Code = PermissionDenied
	case e.Temporary:
		e.Code = Unavailable
	default:
		e.Code = Unknown
	}
	return e
}

func tooManyRecipients(r *Reply) bool {
	if r.Code != 552 && r.Code != 452 {
		return false
	}
	if r.Enhanced == (Enhanced{5, 5, 3}) || r.Enhanced == (Enhanced{4, 5, 3}) {
		return true
	}
	return strings.Contains(strings.ToLower(r.Text()), "too many recipients")
}

// ClassifyHTTP maps an HTTP provider's response status to the portable error model, with
// the response's Retry-After header (may be empty) parsed and capped at maxRetryAfter.
// It returns nil for a 2xx status.
func ClassifyHTTP(status int, retryAfter string) *Error {
	if status >= 200 && status < 300 {
		return nil
	}
	e := &Error{RetryAfter: ParseRetryAfter(retryAfter, time.Now())}
	switch {
	case status == 400 || status == 422:
		e.Code = InvalidArgument
	case status == 401 || status == 403:
		e.Code = PermissionDenied
	case status == 404:
		e.Code = NotFound
	case status == 408:
		e.Code, e.Temporary = DeadlineExceeded, true
	case status == 413:
		e.Code = ResourceExhausted
	case status == 429:
		e.Code, e.Temporary = ResourceExhausted, true
	case status == 501:
		e.Code = Unimplemented
	case status >= 500:
		e.Code, e.Temporary = Unavailable, true
	case status >= 400:
		e.Code = InvalidArgument
	default:
		e.Code = Unknown
	}
	e.Err = httpStatusError(status)
	return e
}

type httpStatusError int

func (s httpStatusError) Error() string {
	return "HTTP " + strconv.Itoa(int(s)) + " " + http.StatusText(int(s))
}

// MaxRetryAfter caps a server's Retry-After hint so a hostile or confused server cannot
// stall a sender for hours.
const MaxRetryAfter = 5 * time.Minute

// ParseRetryAfter parses an HTTP Retry-After value (delay-seconds or an HTTP date relative
// to now), capped at MaxRetryAfter. It returns 0 for an empty or malformed value.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0
		}
		d = time.Duration(min(secs, int64(MaxRetryAfter/time.Second))) * time.Second
	} else if strings.Trim(v, "0123456789") == "" {
		d = MaxRetryAfter // more seconds than an int64 holds: as long as allowed
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, 0), MaxRetryAfter)
}
