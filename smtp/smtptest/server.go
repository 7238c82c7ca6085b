package smtptest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"
)

// TLSMode says how a Server offers TLS.
type TLSMode int

const (
	// StartTLS offers STARTTLS on a plain connection (port 587 style). The default.
	StartTLS TLSMode = iota
	// ImplicitTLS speaks TLS from the first byte (port 465 style).
	ImplicitTLS
	// NoTLS offers no TLS at all.
	NoTLS
)

// ServerOptions configures a Server. A nil *ServerOptions and zero fields mean defaults.
type ServerOptions struct {
	// Addr is the address to listen on; default "127.0.0.1:0" (a free loopback port).
	Addr string
	// Domain is the name in the greeting and the EHLO reply; default "smtptest.localhost".
	Domain string

	// TLS says how TLS is offered; the zero value offers STARTTLS.
	TLS TLSMode
	// RequireTLS refuses MAIL with 530 5.7.0 on a connection without TLS.
	RequireTLS bool

	// Users maps user names to passwords. When it is not empty the server offers AUTH and
	// refuses MAIL from a client that has not authenticated (unless AuthOptional).
	Users map[string]string
	// Mechanisms lists the AUTH mechanisms offered, in order; default DefaultMechanisms.
	Mechanisms []string
	// AuthOptional accepts mail from clients that did not authenticate.
	AuthOptional bool
	// InsecureAuth offers AUTH on a connection without TLS; by default AUTH is offered only
	// after STARTTLS (or with ImplicitTLS).
	InsecureAuth bool

	// MaxMessageBytes is advertised with SIZE and enforced (552 5.3.4); 0 means no limit.
	MaxMessageBytes int64
	// MaxRecipients refuses recipients beyond this many per message with 452 4.5.3;
	// 0 means no limit.
	MaxRecipients int

	// ReplyDelay delays every reply by this much, modelling a remote server whose round
	// trip is ReplyDelay. Replies are queued, not serialized: pipelined replies travel
	// together, so a client that pipelines pays one delay where others pay several.
	ReplyDelay time.Duration
	// IdleTimeout closes a connection that sent nothing for this long, with 421 4.4.2;
	// 0 means never.
	IdleTimeout time.Duration

	// Discard keeps envelopes and sizes but drops message contents, so a long benchmark
	// does not fill memory. Messages then have nil Raw.
	Discard bool

	// OnMessage, when set, is called with a copy of each accepted message as it is
	// recorded, before the final reply goes out. It runs on the connection's goroutine, so
	// it must be quick; "postie dev" uses it to print each arrival.
	OnMessage func(Message)

	// Debug, when set, receives go-smtp's wire log of every connection (decrypted, with
	// AUTH exchanges in base64) and the server's internal errors.
	Debug io.Writer
}

// Message is one message the server accepted, as it received it.
type Message struct {
	From       string       // the MAIL FROM address; "" for the null sender
	To         []string     // the recipients the server accepted, in RCPT order
	RcptParams []RcptParams // the RCPT parameters of each recipient in To
	Params     MailParams   // the MAIL FROM parameters
	Raw        []byte       // the message as received, dot-stuffing removed; nil with Discard
	Size       int64        // the length of the message as received
	Chunked    bool         // the body came in BDAT chunks rather than DATA
	TLS        bool         // the connection was protected by TLS
	User       string       // the authenticated user, "" when none
	Helo       string       // the name the client gave in EHLO or HELO
	QueueID    string       // the id the server gave it: "250 2.0.0 OK: queued as <id>"
}

// MailParams holds the parameters of a MAIL FROM command.
type MailParams struct {
	Size       int64  // SIZE=; 0 when absent
	Body       string // BODY=: "7BIT", "8BITMIME" or "BINARYMIME"; "" when absent
	SMTPUTF8   bool   // SMTPUTF8 was given
	RequireTLS bool   // REQUIRETLS was given
	Ret        string // RET=: "FULL" or "HDRS"; "" when absent
	EnvID      string // ENVID=, xtext-decoded
}

// RcptParams holds the parameters of one RCPT TO command.
type RcptParams struct {
	Notify []string // NOTIFY= values, such as "SUCCESS", "FAILURE"
	ORcpt  string   // ORCPT= as "type;address", decoded; "" when absent
}

// Server is an in-process SMTP server. It is safe for concurrent use; every method may be
// called while clients are connected.
type Server struct {
	opts  ServerOptions
	addr  string
	ca    *authority
	smtp  *gosmtp.Server
	ln    *listener
	users map[string]string
	mechs []string

	serveDone chan struct{}
	wg        sync.WaitGroup // reply writers and message readers

	mu       sync.Mutex
	conns    map[*conn]struct{}
	count    int
	msgs     []Message
	queued   int
	idPrefix uint16 // random, so ids differ between servers
	faults   []*Fault
	closed   bool
}

// NewServer starts a server on 127.0.0.1 (or opts.Addr) and returns it serving.
// Close it when done.
func NewServer(opts *ServerOptions) (*Server, error) {
	s := &Server{conns: make(map[*conn]struct{}), serveDone: make(chan struct{})}
	var b [2]byte
	_, _ = rand.Read(b[:])
	s.idPrefix = uint16(b[0])<<8 | uint16(b[1])
	if opts != nil {
		s.opts = *opts
	}
	o := &s.opts
	if o.Addr == "" {
		o.Addr = "127.0.0.1:0"
	}
	if o.Domain == "" {
		o.Domain = "smtptest.localhost"
	}
	if o.TLS < StartTLS || o.TLS > NoTLS {
		return nil, fmt.Errorf("smtptest: unknown TLS mode %d; use StartTLS, ImplicitTLS or NoTLS", int(o.TLS))
	}
	if o.RequireTLS && o.TLS == NoTLS {
		return nil, errors.New("smtptest: RequireTLS with NoTLS would refuse every message")
	}
	s.users = make(map[string]string, len(o.Users))
	for u, p := range o.Users {
		s.users[u] = p
	}
	s.mechs = DefaultMechanisms
	if len(o.Mechanisms) > 0 {
		s.mechs = nil
		for _, m := range o.Mechanisms {
			m = strings.ToUpper(m)
			if m != MechPlain && m != MechLogin && m != MechCRAMMD5 {
				return nil, fmt.Errorf("smtptest: unknown AUTH mechanism %q; use PLAIN, LOGIN or CRAM-MD5", m)
			}
			s.mechs = append(s.mechs, m)
		}
	}

	ca, err := newAuthority(o.Domain)
	if err != nil {
		return nil, err
	}
	s.ca = ca

	srv := gosmtp.NewServer(backend{s})
	srv.Domain = o.Domain
	srv.MaxMessageBytes = o.MaxMessageBytes
	srv.MaxRecipients = o.MaxRecipients
	srv.AllowInsecureAuth = o.InsecureAuth
	srv.ReadTimeout = o.IdleTimeout
	srv.EnableSMTPUTF8 = true
	srv.EnableDSN = true
	srv.EnableREQUIRETLS = true
	srv.Debug = o.Debug
	logTo := io.Discard
	if o.Debug != nil {
		logTo = o.Debug
	}
	srv.ErrorLog = log.New(logTo, "smtptest: ", 0)
	if o.TLS != NoTLS {
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{ca.leaf}, MinVersion: tls.VersionTLS12}
	}
	s.smtp = srv

	tcp, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return nil, fmt.Errorf("smtptest: listen: %w", err)
	}
	s.addr = tcp.Addr().String()
	s.ln = &listener{Listener: tcp, srv: s}
	var l net.Listener = s.ln
	if o.TLS == ImplicitTLS {
		l = tls.NewListener(s.ln, srv.TLSConfig)
	}
	go func() {
		defer close(s.serveDone)
		_ = srv.Serve(l)
	}()
	return s, nil
}

// TB is the part of testing.TB that Start uses.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
	Cleanup(func())
}

// Start is NewServer for tests: it fails t on error and closes the server when t ends.
func Start(t TB, opts *ServerOptions) *Server {
	t.Helper()
	s, err := NewServer(opts)
	if err != nil {
		t.Fatalf("%v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// Addr returns the host:port the server listens on, such as "127.0.0.1:40123".
func (s *Server) Addr() string { return s.addr }

// RootCAs returns a pool holding the CA that signed the server's certificate, for a
// client's tls.Config.RootCAs.
func (s *Server) RootCAs() *x509.CertPool { return s.ca.pool.Clone() }

// CACertPEM returns the CA certificate in PEM form, for SSL_CERT_FILE or other programs.
func (s *Server) CACertPEM() []byte { return slices.Clone(s.ca.caPEM) }

// ClientTLSConfig returns a client configuration that verifies the server's certificate
// (valid for 127.0.0.1, ::1 and localhost).
func (s *Server) ClientTLSConfig() *tls.Config {
	return &tls.Config{RootCAs: s.RootCAs(), MinVersion: tls.VersionTLS12}
}

// Messages returns a copy of the messages accepted so far, in arrival order. A message is
// recorded before its final reply is sent, so it is there when the client's send returns.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Message, len(s.msgs))
	for i, m := range s.msgs {
		out[i] = m.clone()
	}
	return out
}

// Reset forgets the messages received so far.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs = nil
}

// Connections returns how many connections the server has accepted since it started.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.count
}

// DropConnections closes every open connection at once, without a reply, as a server
// restart or a middlebox timeout would. The server keeps listening.
func (s *Server) DropConnections() {
	s.mu.Lock()
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.abort()
	}
}

// Close stops the server: it stops listening, closes every connection and waits until
// all of its goroutines have ended.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()

	err := s.ln.Close()
	<-s.serveDone
	s.DropConnections()
	// Every connection is closed, so Shutdown only waits for go-smtp's handlers to end.
	_ = s.smtp.Shutdown(context.Background())
	s.wg.Wait()
	return err
}

func (s *Server) track(c net.Conn) net.Conn {
	w := newConn(c, s, s.opts.ReplyDelay)
	s.mu.Lock()
	s.count++
	closed := s.closed
	if !closed {
		s.conns[w] = struct{}{}
	}
	s.mu.Unlock()
	if closed {
		w.abort()
	}
	return w
}

func (s *Server) untrack(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// record stores m, giving it a queue id, and returns that id.
func (s *Server) record(m Message) string {
	s.mu.Lock()
	s.queued++
	m.QueueID = fmt.Sprintf("%X%06X", s.idPrefix, s.queued)
	s.msgs = append(s.msgs, m)
	s.mu.Unlock()
	if s.opts.OnMessage != nil {
		s.opts.OnMessage(m.clone())
	}
	return m.QueueID
}

func (m Message) clone() Message {
	m.To = slices.Clone(m.To)
	m.RcptParams = slices.Clone(m.RcptParams)
	for i := range m.RcptParams {
		m.RcptParams[i].Notify = slices.Clone(m.RcptParams[i].Notify)
	}
	m.Raw = bytes.Clone(m.Raw)
	return m
}

// backend makes a session per connection (and again after STARTTLS).
type backend struct{ s *Server }

func (b backend) NewSession(c *gosmtp.Conn) (gosmtp.Session, error) {
	raw := c.Conn()
	_, isTLS := raw.(*tls.Conn)
	if tc, ok := raw.(*tls.Conn); ok {
		raw = tc.NetConn()
	}
	w, ok := raw.(*conn)
	if !ok {
		return nil, errors.New("smtptest: connection not made by this server")
	}
	if err := b.s.fire(w, AtHello, ""); err != nil {
		return nil, err
	}
	return &session{s: b.s, c: w, tls: isTLS, helo: c.Hostname()}, nil
}

// session is the state of one SMTP session. go-smtp calls its methods from the
// connection's goroutine (Data from a helper goroutine during BDAT, but never at the same
// time as the others), except Logout, which may come from Close.
type session struct {
	s    *Server
	c    *conn
	tls  bool
	helo string
	user string

	from   string
	params MailParams
	to     []string
	rcpt   []RcptParams
}

var (
	errAuthRequired = &gosmtp.SMTPError{Code: 530, EnhancedCode: gosmtp.EnhancedCode{5, 7, 0}, Message: "Authentication required"}
	errTLSRequired  = &gosmtp.SMTPError{Code: 530, EnhancedCode: gosmtp.EnhancedCode{5, 7, 0}, Message: "Must issue a STARTTLS command first"}
)

func (ss *session) AuthMechanisms() []string {
	if len(ss.s.users) == 0 {
		return nil
	}
	return ss.s.mechs
}

func (ss *session) Auth(mech string) (sasl.Server, error) {
	if len(ss.s.users) == 0 || !slices.Contains(ss.s.mechs, mech) {
		return nil, gosmtp.ErrAuthUnknownMechanism
	}
	var user string
	success := func(u string) { user = u }
	var inner sasl.Server
	switch mech {
	case MechPlain:
		inner = sasl.NewPlainServer(func(identity, username, password string) error {
			if identity != "" && identity != username {
				return errAuthFailed
			}
			if !checkPassword(ss.s.users, username, password) {
				return errAuthFailed
			}
			success(username)
			return nil
		})
	case MechLogin:
		inner = &loginServer{users: ss.s.users, success: success}
	case MechCRAMMD5:
		inner = &cramMD5Server{users: ss.s.users, success: success, domain: ss.s.opts.Domain}
	}
	return &exchange{
		inner:   inner,
		user:    &user,
		finish:  func() error { return ss.s.fire(ss.c, AtAuth, "") },
		confirm: func(u string) { ss.user = u },
	}, nil
}

func (ss *session) Mail(from string, opts *gosmtp.MailOptions) error {
	if err := ss.s.fire(ss.c, AtMail, ""); err != nil {
		return err
	}
	if ss.s.opts.RequireTLS && !ss.tls {
		return errTLSRequired
	}
	if len(ss.s.users) > 0 && !ss.s.opts.AuthOptional && ss.user == "" {
		return errAuthRequired
	}
	ss.from = from
	ss.params = MailParams{}
	if opts != nil {
		ss.params = MailParams{
			Size:       opts.Size,
			Body:       string(opts.Body),
			SMTPUTF8:   opts.UTF8,
			RequireTLS: opts.RequireTLS,
			Ret:        string(opts.Return),
			EnvID:      opts.EnvelopeID,
		}
	}
	return nil
}

func (ss *session) Rcpt(to string, opts *gosmtp.RcptOptions) error {
	if err := ss.s.fire(ss.c, AtRcpt, to); err != nil {
		return err
	}
	var p RcptParams
	if opts != nil {
		for _, n := range opts.Notify {
			p.Notify = append(p.Notify, string(n))
		}
		if opts.OriginalRecipient != "" {
			p.ORcpt = string(opts.OriginalRecipientType) + ";" + opts.OriginalRecipient
		}
	}
	ss.to = append(ss.to, to)
	ss.rcpt = append(ss.rcpt, p)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	ss.s.wg.Add(1)
	defer ss.s.wg.Done()
	_, chunked := r.(*io.PipeReader) // go-smtp feeds BDAT chunks through a pipe
	m := Message{
		From:       ss.from,
		To:         slices.Clone(ss.to),
		RcptParams: slices.Clone(ss.rcpt),
		Params:     ss.params,
		Chunked:    chunked,
		TLS:        ss.tls,
		User:       ss.user,
		Helo:       ss.helo,
	}
	var err error
	if ss.s.opts.Discard {
		m.Size, err = io.Copy(io.Discard, r)
	} else {
		var buf bytes.Buffer
		m.Size, err = buf.ReadFrom(r)
		m.Raw = buf.Bytes()
	}
	if err != nil {
		return err // too large (go-smtp's 552), or the connection broke
	}
	// A refused message is not recorded; one whose connection is dropped or stalled is,
	// since the server got all of it: that is what makes the outcome unknown.
	f := ss.s.take(AtData, "")
	if f != nil {
		if f.Drop || f.Stall {
			ss.s.record(m)
		}
		return ss.s.apply(ss.c, f)
	}
	id := ss.s.record(m)
	// go-smtp sends the code of an *SMTPError that Data returns, a 250 included: the way to
	// say which queue id the message got, as real servers do.
	return &gosmtp.SMTPError{Code: 250, EnhancedCode: gosmtp.EnhancedCode{2, 0, 0}, Message: "OK: queued as " + id}
}

func (ss *session) Reset() {
	ss.from = ""
	ss.params = MailParams{}
	ss.to = nil
	ss.rcpt = nil
}

func (ss *session) Logout() error { return nil }
