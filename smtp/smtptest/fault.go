package smtptest

import (
	"errors"
	"fmt"
	"strings"

	gosmtp "github.com/emersion/go-smtp"
)

// Stage is the point of a session where a Fault fires.
type Stage int

const (
	// AtHello fires on EHLO/HELO (the first one of a connection, and the first after
	// STARTTLS).
	AtHello Stage = iota + 1
	// AtAuth fires at the end of an AUTH exchange, after the client sent its credentials.
	AtAuth
	// AtMail fires on MAIL FROM.
	AtMail
	// AtRcpt fires on RCPT TO, for Fault.Recipient or for every recipient.
	AtRcpt
	// AtData fires after the whole message body arrived (DATA up to the final dot, or
	// the last BDAT chunk), in place of the final reply.
	AtData
	// AtNext fires on whichever of the stages above the server sees next.
	AtNext
)

func (s Stage) String() string {
	switch s {
	case AtHello:
		return "hello"
	case AtAuth:
		return "auth"
	case AtMail:
		return "mail"
	case AtRcpt:
		return "rcpt"
	case AtData:
		return "data"
	case AtNext:
		return "next"
	}
	return fmt.Sprintf("Stage(%d)", int(s))
}

// Fault is a misbehaviour the Server injects. By default it answers with Code, Enhanced
// and Text; a 421 reply also closes the connection, as RFC 5321 says a server does. Drop
// closes the connection without answering; Stall stops answering until the client gives up.
//
//	srv.Inject(smtptest.Fault{At: smtptest.AtRcpt, Recipient: "bob@example.com",
//		Code: 550, Enhanced: [3]int{5, 1, 1}, Text: "no such user"})
type Fault struct {
	At Stage
	// Recipient limits an AtRcpt fault to this address (case-insensitive); empty means
	// every recipient.
	Recipient string

	Code     int    // the reply code, such as 450 or 550
	Enhanced [3]int // the enhanced status code; zero means class.0.0
	Text     string // the reply text; default "injected fault"

	// Drop closes the connection instead of answering. At AtData the whole body has been
	// received first, so the client cannot know whether the message was delivered.
	Drop bool
	// Stall sends nothing more and reads until the client closes the connection (or the
	// server closes), so only the client's deadline ends the exchange.
	Stall bool

	// Times is how often the fault fires before it is used up; 0 means every time, until
	// ClearFaults.
	Times int
}

func (f Fault) validate() error {
	switch {
	case f.At < AtHello || f.At > AtNext:
		return fmt.Errorf("smtptest: fault stage %d is unknown; use AtHello, AtAuth, AtMail, AtRcpt, AtData or AtNext", int(f.At))
	case f.Drop && f.Stall:
		return errors.New("smtptest: a fault cannot both Drop and Stall; pick one")
	case !f.Drop && !f.Stall && (f.Code < 400 || f.Code > 599):
		return fmt.Errorf("smtptest: fault reply code %d is not a 4xx or 5xx code", f.Code)
	case f.Recipient != "" && f.At != AtRcpt:
		return errors.New("smtptest: Fault.Recipient is only for AtRcpt")
	case f.Times < 0:
		return errors.New("smtptest: Fault.Times is negative")
	}
	return nil
}

func (f *Fault) matches(at Stage, rcpt string) bool {
	if f.At != at && f.At != AtNext {
		return false
	}
	return f.Recipient == "" || strings.EqualFold(f.Recipient, rcpt)
}

func (f *Fault) reply() *gosmtp.SMTPError {
	text := f.Text
	if text == "" {
		text = "injected fault"
	}
	enh := gosmtp.EnhancedCode(f.Enhanced)
	if enh == (gosmtp.EnhancedCode{}) {
		enh = gosmtp.EnhancedCode{f.Code / 100, 0, 0}
	}
	return &gosmtp.SMTPError{Code: f.Code, EnhancedCode: enh, Message: text}
}

// errDropped is what a session returns after closing the connection; go-smtp's attempt
// to write a reply for it fails on the closed connection.
var errDropped = errors.New("smtptest: connection dropped by an injected fault")

// Inject arms f for the sessions that follow (and the ones under way). Faults are checked
// in the order they were injected; the first that matches fires.
func (s *Server) Inject(f Fault) error {
	if err := f.validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &f)
	return nil
}

// ClearFaults removes every injected fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// take returns the fault that fires at this stage, using it up once.
func (s *Server) take(at Stage, rcpt string) *Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.faults {
		if !f.matches(at, rcpt) {
			continue
		}
		fired := *f
		if f.Times > 0 {
			f.Times--
			if f.Times == 0 {
				s.faults = append(s.faults[:i:i], s.faults[i+1:]...)
			}
		}
		return &fired
	}
	return nil
}

// fire applies the fault for this stage, if any, on c. It returns nil when no fault fires,
// and otherwise the error the session hands back to go-smtp.
func (s *Server) fire(c *conn, at Stage, rcpt string) error {
	return s.apply(c, s.take(at, rcpt))
}

// apply makes f, which may be nil, happen on c.
func (s *Server) apply(c *conn, f *Fault) error {
	if f == nil {
		return nil
	}
	switch {
	case f.Stall:
		c.stall()
		return errDropped
	case f.Drop:
		c.abort()
		return errDropped
	}
	if f.Code == 421 {
		c.closeAfterWrite.Store(true)
	}
	return f.reply()
}
