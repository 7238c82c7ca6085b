package smtptest

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"
)

// The SASL mechanisms the server implements.
const (
	MechPlain   = "PLAIN"
	MechLogin   = "LOGIN"
	MechCRAMMD5 = "CRAM-MD5"
)

// DefaultMechanisms are offered when ServerOptions.Mechanisms is empty, in this order.
var DefaultMechanisms = []string{MechPlain, MechLogin, MechCRAMMD5}

var (
	errAuthFailed = &gosmtp.SMTPError{Code: 535, EnhancedCode: gosmtp.EnhancedCode{5, 7, 8}, Message: "Authentication credentials invalid"}
	errAuthSyntax = &gosmtp.SMTPError{Code: 501, EnhancedCode: gosmtp.EnhancedCode{5, 5, 2}, Message: "Malformed authentication response"}
)

// checkPassword compares in constant time so a test server is no timing oracle either.
func checkPassword(users map[string]string, user, pass string) bool {
	want, ok := users[user]
	return ok && subtle.ConstantTimeCompare([]byte(want), []byte(pass)) == 1
}

// loginServer is the server side of the LOGIN mechanism: it prompts "Username:" and
// "Password:" (base64-encoded by go-smtp), accepting the user name as an initial response.
// go-sasl dropped its LOGIN server, so it lives here.
type loginServer struct {
	users   map[string]string
	success func(user string)
	step    int
	user    string
}

func (l *loginServer) Next(resp []byte) (challenge []byte, done bool, err error) {
	switch l.step {
	case 0:
		l.step = 1
		if len(resp) == 0 {
			return []byte("Username:"), false, nil
		}
		fallthrough
	case 1:
		l.user = string(resp)
		l.step = 2
		return []byte("Password:"), false, nil
	case 2:
		l.step = 3
		if !checkPassword(l.users, l.user, string(resp)) {
			return nil, false, errAuthFailed
		}
		l.success(l.user)
		return nil, true, nil
	}
	return nil, false, sasl.ErrUnexpectedClientResponse
}

// cramMD5Server is the server side of CRAM-MD5 (RFC 2195): a one-time challenge, answered
// with "user hex(HMAC-MD5(password, challenge))".
type cramMD5Server struct {
	users     map[string]string
	success   func(user string)
	domain    string
	challenge []byte
}

func (c *cramMD5Server) Next(resp []byte) (challenge []byte, done bool, err error) {
	if c.challenge == nil {
		if len(resp) > 0 {
			return nil, false, errAuthSyntax // CRAM-MD5 has no initial response
		}
		var r [8]byte
		_, _ = rand.Read(r[:])
		c.challenge = fmt.Appendf(nil, "<%x.%d@%s>", r, time.Now().Unix(), c.domain)
		return c.challenge, false, nil
	}
	user, digest, ok := bytes.Cut(resp, []byte(" "))
	if !ok {
		return nil, false, errAuthSyntax
	}
	got, err := hex.DecodeString(strings.ToLower(string(digest)))
	if err != nil {
		return nil, false, errAuthSyntax
	}
	pass, known := c.users[string(user)]
	mac := hmac.New(md5.New, []byte(pass))
	mac.Write(c.challenge)
	if !known || !hmac.Equal(mac.Sum(nil), got) {
		return nil, false, errAuthFailed
	}
	c.success(string(user))
	return nil, true, nil
}

// exchange runs one AUTH exchange and, at its end, gives an injected AUTH fault the last
// word: a client then sees 535 (or whatever was injected) after sending its credentials, as
// with a real server. The user counts as authenticated only when no fault fired.
type exchange struct {
	inner   sasl.Server
	user    *string // set by inner on success
	finish  func() error
	confirm func(user string)
}

func (x *exchange) Next(resp []byte) ([]byte, bool, error) {
	ch, done, err := x.inner.Next(resp)
	if !done && err == nil {
		return ch, false, nil
	}
	if ferr := x.finish(); ferr != nil {
		return nil, false, ferr
	}
	if err != nil {
		return nil, false, err
	}
	x.confirm(*x.user)
	return nil, true, nil
}
