package smtp

import (
	"context"
	"crypto/hmac"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/postiemail/postie/internal/loopback"
	"github.com/postiemail/postie/transport"
)

// ServerInfo describes the server to an Auth, so that a mechanism can refuse to run where
// it would be unsafe.
type ServerInfo struct {
	Name string   // the host name of the address given to Dial or New, not the resolved peer
	TLS  bool     // the connection is encrypted
	Auth []string // the mechanisms the server advertised, upper case
}

// Auth is one SASL mechanism: the shape of net/smtp's Auth with a context and a step
// number. One Auth may serve many connections at once, so it keeps no state between calls;
// the step number (0 for the first challenge) tells it where an exchange is.
type Auth interface {
	// Start begins an exchange. It returns the mechanism name and the initial response
	// (nil for none, empty for an empty one), or an error to stop before anything is sent.
	Start(ctx context.Context, server *ServerInfo) (mech string, initial []byte, err error)
	// Next answers the server's step-th challenge (already base64-decoded).
	Next(ctx context.Context, step int, challenge []byte) ([]byte, error)
}

// TokenSource supplies OAuth 2 access tokens for XOAUTH2.
//
// The engine calls Token before each authentication. When the server refuses the token it
// asks once more, calling Refresh instead when the source implements TokenRefresher, and
// retries with the new token.
type TokenSource interface {
	Token(ctx context.Context) (string, error)
}

// TokenRefresher is a TokenSource that can be told its current token was refused, so it
// fetches a new one instead of returning a cached one.
type TokenRefresher interface {
	TokenSource
	Refresh(ctx context.Context) (string, error)
}

// TokenSourceFunc adapts a function to a TokenSource.
type TokenSourceFunc func(ctx context.Context) (string, error)

// Token calls f(ctx).
func (f TokenSourceFunc) Token(ctx context.Context) (string, error) { return f(ctx) }

// ErrCleartextAuth is wrapped by the error of a mechanism that refuses to send a password
// or token over an unencrypted connection to a host that is not loopback.
var ErrCleartextAuth = errors.New("smtp: refusing to send credentials over an unencrypted connection")

func checkEncrypted(mech string, s *ServerInfo) error {
	if s.TLS || loopback.Host(s.Name) {
		return nil
	}
	return &transport.Error{Code: transport.FailedPrecondition,
		Err: fmt.Errorf("%w (AUTH %s to %s); use tls=required (STARTTLS) or tls=implicit", ErrCleartextAuth, mech, s.Name)}
}

// PlainAuth returns the PLAIN mechanism (RFC 4616). It refuses to run on an unencrypted
// connection unless the host is loopback.
func PlainAuth(identity, username, password string) Auth {
	return plainAuth{identity, username, password}
}

type plainAuth struct{ identity, username, password string }

// Format prints the mechanism with its user names and the password redacted, for every
// verb (%v, %+v, %#v, %s), so a logged Auth never shows it. The other mechanisms do the same.
func (a plainAuth) Format(f fmt.State, _ rune) {
	fmt.Fprintf(f, "smtp.PlainAuth(%q, %q, %s)", a.identity, a.username, Redacted)
}

func (a plainAuth) Start(_ context.Context, s *ServerInfo) (string, []byte, error) {
	if err := checkEncrypted("PLAIN", s); err != nil {
		return "", nil, err
	}
	resp := make([]byte, 0, len(a.identity)+len(a.username)+len(a.password)+2)
	resp = append(resp, a.identity...)
	resp = append(resp, 0)
	resp = append(resp, a.username...)
	resp = append(resp, 0)
	resp = append(resp, a.password...)
	return "PLAIN", resp, nil
}

func (a plainAuth) Next(context.Context, int, []byte) ([]byte, error) {
	return nil, errors.New("smtp: unexpected challenge to AUTH PLAIN")
}

// LoginAuth returns the LOGIN mechanism: it answers the first challenge with the user
// name and the second with the password, whatever the prompts say (Office 365 and others
// word them differently). It refuses to run on an unencrypted connection unless the host
// is loopback.
func LoginAuth(username, password string) Auth { return loginAuth{username, password} }

type loginAuth struct{ username, password string }

func (a loginAuth) Format(f fmt.State, _ rune) {
	fmt.Fprintf(f, "smtp.LoginAuth(%q, %s)", a.username, Redacted)
}

func (a loginAuth) Start(_ context.Context, s *ServerInfo) (string, []byte, error) {
	if err := checkEncrypted("LOGIN", s); err != nil {
		return "", nil, err
	}
	return "LOGIN", nil, nil
}

func (a loginAuth) Next(_ context.Context, step int, _ []byte) ([]byte, error) {
	switch step {
	case 0:
		return []byte(a.username), nil
	case 1:
		return []byte(a.password), nil
	}
	return nil, errors.New("smtp: AUTH LOGIN: more than two challenges")
}

// CRAMMD5Auth returns the CRAM-MD5 mechanism (RFC 2195). The secret never crosses the wire,
// so, asked for by name, it runs on an unencrypted connection too. It is never chosen
// automatically there (see Options.Username): whoever stripped STARTTLS can relay the
// server's challenge and the client's answer to log in as the user, or crack the answer
// offline.
func CRAMMD5Auth(username, secret string) Auth {
	return cramMD5Auth{username: username, secret: secret}
}

type cramMD5Auth struct {
	username, secret string
	encryptedOnly    bool // chosen automatically: only on an encrypted or loopback connection
}

func (a cramMD5Auth) Format(f fmt.State, _ rune) {
	fmt.Fprintf(f, "smtp.CRAMMD5Auth(%q, %s)", a.username, Redacted)
}

func (a cramMD5Auth) Start(_ context.Context, s *ServerInfo) (string, []byte, error) {
	if a.encryptedOnly {
		if err := checkEncrypted("CRAM-MD5", s); err != nil {
			return "", nil, err
		}
	}
	return "CRAM-MD5", nil, nil
}

func (a cramMD5Auth) Next(_ context.Context, step int, challenge []byte) ([]byte, error) {
	if step > 0 {
		return nil, errors.New("smtp: AUTH CRAM-MD5: more than one challenge")
	}
	h := hmac.New(md5.New, []byte(a.secret))
	h.Write(challenge)
	resp := make([]byte, 0, len(a.username)+1+2*md5.Size)
	resp = append(resp, a.username...)
	resp = append(resp, ' ')
	return hex.AppendEncode(resp, h.Sum(nil)), nil
}

// XOAuth2Auth returns the XOAUTH2 mechanism of Google and Microsoft with tokens from ts.
// It refuses to run on an unencrypted connection unless the host is loopback. When the
// server refuses a token, the engine refreshes it once and tries again (see TokenSource).
func XOAuth2Auth(username string, ts TokenSource) Auth { return xoauth2Auth{username, ts} }

type xoauth2Auth struct {
	username string
	ts       TokenSource
}

// Format leaves the token source out: it may hold a token.
func (a xoauth2Auth) Format(f fmt.State, _ rune) {
	fmt.Fprintf(f, "smtp.XOAuth2Auth(%q, %s)", a.username, Redacted)
}

func (a xoauth2Auth) Start(ctx context.Context, s *ServerInfo) (string, []byte, error) {
	return a.start(ctx, s, false)
}

func (a xoauth2Auth) start(ctx context.Context, s *ServerInfo, refresh bool) (string, []byte, error) {
	if err := checkEncrypted("XOAUTH2", s); err != nil {
		return "", nil, err
	}
	if a.ts == nil {
		return "", nil, invalidf("smtp: XOAUTH2 needs a TokenSource")
	}
	var tok string
	var err error
	if r, ok := a.ts.(TokenRefresher); ok && refresh {
		tok, err = r.Refresh(ctx)
	} else {
		tok, err = a.ts.Token(ctx)
	}
	if err != nil {
		// The token source's error may quote a token; keep only its class.
		return "", nil, &transport.Error{Code: transport.PermissionDenied, Err: &tokenError{err}}
	}
	return "XOAUTH2", []byte("user=" + a.username + "\x01auth=Bearer " + tok + "\x01\x01"), nil
}

// tokenError is the failure of a TokenSource. Its text leaves the source's own error out,
// since that may quote a token or the token endpoint's answer, unless it is the end of the
// ctx; errors.Is and errors.As still reach it.
type tokenError struct{ err error }

func (e *tokenError) Error() string {
	for _, ctxErr := range []error{context.Canceled, context.DeadlineExceeded} {
		if errors.Is(e.err, ctxErr) {
			return "smtp: XOAUTH2: getting a token: " + ctxErr.Error()
		}
	}
	return fmt.Sprintf("smtp: XOAUTH2: the TokenSource failed (a %T; its text is withheld as it may hold a token: reach it with errors.As)", e.err)
}

func (e *tokenError) Unwrap() error { return e.err }

// Next answers the error challenge (a base64 JSON status) with an empty response, after
// which the server sends its final 535.
func (a xoauth2Auth) Next(context.Context, int, []byte) ([]byte, error) { return []byte{}, nil }

// authFromOptions builds the Auth that Options ask for, or nil for no AUTH.
func authFromOptions(o *Options) (Auth, error) {
	mech := strings.ToUpper(strings.TrimSpace(o.Mechanism))
	switch {
	case o.Auth != nil:
		return o.Auth, nil
	case o.TokenSource != nil:
		if mech != "" && mech != "XOAUTH2" {
			return nil, invalidf("smtp: a TokenSource is used with XOAUTH2, not %s", mech)
		}
		return XOAuth2Auth(o.Username, o.TokenSource), nil
	case o.Username == "" && o.Password != "":
		return nil, invalidf("smtp: a password without a user name; set Username (user:password@ in a URL)")
	case o.Username == "":
		if mech != "" {
			return nil, invalidf("smtp: auth mechanism %s set without credentials; set Username and Password", mech)
		}
		return nil, nil
	}
	switch mech {
	case "":
		return autoAuth{cramMD5Auth{o.Username, o.Password, true}, plainAuth{"", o.Username, o.Password}, loginAuth{o.Username, o.Password}}, nil
	case "PLAIN":
		return PlainAuth("", o.Username, o.Password), nil
	case "LOGIN":
		return LoginAuth(o.Username, o.Password), nil
	case "CRAM-MD5":
		return CRAMMD5Auth(o.Username, o.Password), nil
	case "XOAUTH2":
		return nil, invalidf("smtp: XOAUTH2 needs Options.TokenSource")
	}
	return nil, invalidf("smtp: unknown auth mechanism %q; use plain, login, cram-md5 or xoauth2", o.Mechanism)
}

// autoAuth lists the password mechanisms strongest first; the client picks the first one
// the server offers that is safe on the connection.
type autoAuth []Auth

func (autoAuth) Start(context.Context, *ServerInfo) (string, []byte, error) {
	return "", nil, errors.New("smtp: autoAuth is resolved by the client")
}

func (autoAuth) Next(context.Context, int, []byte) ([]byte, error) {
	return nil, errors.New("smtp: autoAuth is resolved by the client")
}

var autoMechs = []string{"CRAM-MD5", "PLAIN", "LOGIN"}
