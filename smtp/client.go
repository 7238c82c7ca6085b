package smtp

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/postiemail/postie/transport"
)

// writeBufferSize is the size of a connection's buffered writer: a pipelined transaction
// and large slices of a body go out in one write.
const writeBufferSize = 64 << 10

// aLongTimeAgo is a deadline in the past, set to interrupt blocked I/O.
var aLongTimeAgo = time.Unix(1, 0)

// Client is one SMTP session over one connection. It is not safe for concurrent use; a
// Transport pools Clients for concurrent senders.
//
// Every method takes a ctx that bounds it, together with the phase timeout of Options.
// After an I/O error, a malformed reply or a 421 the Client is broken: later calls fail
// and only Close is useful.
type Client struct {
	cfg *config

	mu   sync.Mutex // guards conn's deadline against the ctx watcher
	gen  uint64     // operation generation, so a late ctx watcher does nothing
	conn net.Conn

	br   *bufio.Reader
	bw   *bufio.Writer
	rr   replyReader
	tr   *transcript
	ctx  context.Context
	stop func() bool

	greeting   *transport.Reply
	hello      string // "EHLO" or "HELO"
	helloReply *transport.Reply
	ext        extensions
	tlsState   *tls.ConnectionState
	authMech   string

	bodyTimeout time.Duration // set while a body is written: deadline per write
	broken      error
	needReset   bool   // a transaction failed after MAIL; RSET before the next one
	msgs        int    // transactions completed, for the pool
	redact      bool   // the transcript hides lines (AUTH exchange)
	lineBuf     []byte // the MAIL line of the current Send (kept across its transactions)
	hdrBuf      []byte // BDAT headers

	// Transaction and body state, kept here so a warm connection sends without allocating it.
	t             txn
	dot           dotWriter
	cw            chunkWriter
	bs            bdatStream
	chunk         []byte // BDAT buffer, grown up to ChunkSize as bodies need, kept for reuse
	emitFn        func(p []byte, last bool) error
	flight        bool // the first BDAT chunk completes a pipelined flight
	pendingChunks int  // pipelined BDAT chunks whose replies are unread
	lastReply     *transport.Reply
	committed     bool // the end of the body may have been sent
	sendReplies   int  // replies read during the current Send
	firstCode     int  // the code of its first reply
	sock          socketPeek
}

// Dial connects to addr ("host:port"), reads the greeting, says EHLO, sets up TLS as
// opts.TLS says and authenticates when credentials are configured. A nil opts means
// defaults: STARTTLS required, no AUTH.
func Dial(ctx context.Context, addr string, opts *Options) (*Client, error) {
	cfg, err := newConfig(addr, opts)
	if err != nil {
		return nil, err
	}
	var tr *transcript
	if cfg.Transcript != nil {
		tr = &transcript{w: cfg.Transcript}
	}
	return dial(ctx, cfg, addr, tr, nil)
}

// NewClient starts a session on conn, an established connection to a server at addr
// (whose host part is used for TLS and the loopback check), and reads the greeting.
// The caller drives the rest: Hello, StartTLS, Auth. With TLSImplicit, conn must already
// be a *tls.Conn. The TLS policy of opts still holds: under TLSRequired, Auth, Mail and
// Send refuse to run before StartTLS.
func NewClient(ctx context.Context, conn net.Conn, addr string, opts *Options) (*Client, error) {
	cfg, err := newConfig(addr, opts)
	if err != nil {
		return nil, err
	}
	var tr *transcript
	if cfg.Transcript != nil {
		tr = &transcript{w: cfg.Transcript}
	}
	c := newClient(cfg, conn, tr)
	if tc, ok := conn.(*tls.Conn); ok {
		st := tc.ConnectionState()
		c.tlsState = &st
	}
	c.begin(ctx)
	defer c.end()
	if err := c.readGreeting(); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func newClient(cfg *config, conn net.Conn, tr *transcript) *Client {
	c := &Client{cfg: cfg, conn: conn, tr: tr}
	c.br = bufio.NewReaderSize(conn, MaxReplyLineLen)
	c.bw = bufio.NewWriterSize(connWriter{c}, writeBufferSize)
	c.rr.r = c.br
	c.emitFn = c.emitChunk
	return c
}

// phases records how long each setup phase took, for Probe.
type phases struct {
	dial, greeting, hello, tls, auth time.Duration
}

// dial runs the whole setup; ph, when non-nil, receives timings.
func dial(ctx context.Context, cfg *config, addr string, tr *transcript, ph *phases) (*Client, error) {
	c, err := dialPartial(ctx, cfg, addr, tr, ph)
	if err != nil && c != nil {
		c.Close()
		return nil, err
	}
	return c, err
}

// dialPartial is dial that, on failure after connecting, returns the Client too (broken
// or not) so that Probe can report how far it got. The caller closes it.
func dialPartial(ctx context.Context, cfg *config, addr string, tr *transcript, ph *phases) (*Client, error) {
	t0 := time.Now()
	endDial := transport.StartPhase(ctx, transport.PhaseDial)
	conn, err := cfg.dial(ctx, addr)
	if err != nil {
		err = ioError(ctx, "dial "+addr, err)
		endDial(err)
		return nil, err
	}
	c := newClient(cfg, conn, tr)
	c.begin(ctx)
	defer c.end()
	if cfg.TLS == TLSImplicit {
		endTLS := transport.StartPhase(ctx, transport.PhaseTLS)
		err := c.handshake()
		endTLS(err)
		if err != nil {
			endDial(err)
			return c, err
		}
	}
	t1 := time.Now()
	if ph != nil {
		ph.dial = t1.Sub(t0)
	}
	if err := c.readGreeting(); err != nil {
		endDial(err)
		return c, err
	}
	t2 := time.Now()
	err = c.sayHello()
	endDial(err)
	if err != nil {
		return c, err
	}
	t3 := time.Now()
	if ph != nil {
		ph.greeting, ph.hello = t2.Sub(t1), t3.Sub(t2)
	}
	endTLS := noPhase
	if cfg.TLS == TLSRequired || cfg.TLS == TLSOpportunistic && c.ext.startTLS {
		endTLS = transport.StartPhase(ctx, transport.PhaseTLS)
	}
	err = c.setupTLS()
	endTLS(err)
	t4 := time.Now()
	if ph != nil {
		ph.tls = t4.Sub(t3)
	}
	if err != nil {
		return c, err
	}
	if cfg.auth != nil {
		endAuth := transport.StartPhase(ctx, transport.PhaseAuth)
		err := c.authenticate(cfg.auth)
		endAuth(err)
		if ph != nil {
			ph.auth = time.Since(t4)
		}
		if err != nil {
			return c, err
		}
	}
	return c, nil
}

func noPhase(error) {}

// setupTLS applies the TLS policy after the first EHLO.
func (c *Client) setupTLS() error {
	switch c.cfg.TLS {
	case TLSImplicit, TLSNone:
		return nil
	case TLSOpportunistic:
		if !c.ext.startTLS {
			return nil
		}
	case TLSRequired:
		if !c.ext.startTLS {
			c.fail(errors.New("STARTTLS missing"))
			return &transport.Error{Code: transport.Unimplemented,
				Err: fmt.Errorf("smtp: %s does not offer STARTTLS and the TLS policy requires it; nothing was sent (use tls=implicit for port 465, or tls=opportunistic to allow cleartext)", c.cfg.host)}
		}
	}
	err := c.startTLS()
	switch {
	case err == nil:
	case c.cfg.TLS == TLSRequired:
		c.fail(err)
	case c.broken == nil:
		// Opportunistic: the server refused STARTTLS (454) and the session goes on in
		// cleartext, as asked.
		return nil
	}
	return err
}

// begin starts an operation bounded by ctx: a ctx that ends interrupts blocked I/O by
// setting a deadline in the past.
func (c *Client) begin(ctx context.Context) {
	c.ctx = ctx
	if ctx.Done() == nil {
		return
	}
	c.mu.Lock()
	c.gen++
	gen := c.gen
	c.mu.Unlock()
	c.stop = context.AfterFunc(ctx, func() {
		c.mu.Lock()
		if c.gen == gen {
			_ = c.conn.SetDeadline(aLongTimeAgo)
		}
		c.mu.Unlock()
	})
}

// end finishes the operation begun by begin.
func (c *Client) end() {
	if c.stop != nil {
		c.stop()
		c.stop = nil
		c.mu.Lock()
		c.gen++
		c.mu.Unlock()
	}
	c.ctx = nil
}

// deadline bounds the next I/O by d and ctx's deadline.
func (c *Client) deadline(d time.Duration) {
	ctx := c.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	t := time.Now().Add(d)
	if dl, ok := ctx.Deadline(); ok && dl.Before(t) {
		t = dl
	}
	c.mu.Lock()
	_ = c.conn.SetDeadline(t)
	if ctx.Err() != nil {
		_ = c.conn.SetDeadline(aLongTimeAgo)
	}
	c.mu.Unlock()
}

// usable reports why the Client cannot run a command, or nil.
func (c *Client) usable() error {
	if c.broken != nil {
		return &transport.Error{Code: transport.Unavailable, Temporary: true,
			Err: fmt.Errorf("smtp: connection unusable after an earlier failure: %w", c.broken)}
	}
	return nil
}

// fail marks the connection broken.
func (c *Client) fail(err error) {
	if c.broken == nil {
		c.broken = err
	}
}

// connWriter is what the buffered writer writes to. Each write gets its own deadline:
// the data-block timeout while a body is written, the command timeout otherwise.
type connWriter struct{ c *Client }

func (w connWriter) Write(p []byte) (int, error) {
	d := w.c.bodyTimeout
	if d == 0 {
		d = w.c.cfg.Timeouts.Command
	}
	w.c.deadline(d)
	return w.c.conn.Write(p)
}

// cmd buffers one command line; it is sent at the next flush.
func (c *Client) cmd(parts ...string) {
	for _, p := range parts {
		c.bw.WriteString(p)
	}
	c.bw.WriteString("\r\n")
	if c.tr != nil {
		if c.redact {
			c.tr.line("C: ", Redacted)
		} else {
			c.tr.line("C: ", parts...)
		}
	}
}

// cmdBytes is cmd for a line built in a buffer.
func (c *Client) cmdBytes(line []byte) {
	c.bw.Write(line)
	c.bw.WriteString("\r\n")
	if c.tr != nil {
		c.tr.bytesLine("C: ", line)
	}
}

// flush sends the buffered commands.
func (c *Client) flush(phase string) error {
	if err := c.bw.Flush(); err != nil {
		c.fail(err)
		return ioError(c.ctx, phase, err)
	}
	return nil
}

// read reads one reply into c.rr within timeout d.
func (c *Client) read(phase string, d time.Duration) error {
	c.deadline(d)
	var log func([]byte)
	if c.tr != nil {
		log = c.logReply
	}
	if err := c.rr.read(log); err != nil {
		c.fail(err)
		return ioError(c.ctx, phase, err)
	}
	if c.sendReplies == 0 {
		c.firstCode = c.rr.code
	}
	c.sendReplies++
	if c.rr.code == 421 {
		c.fail(errors.New("server closing: " + c.rr.reply().String()))
	}
	return nil
}

func (c *Client) logReply(line []byte) {
	if c.redact && len(line) >= 4 && string(line[:3]) == "334" {
		c.tr.line("S: ", "334 ", Redacted)
		return
	}
	c.tr.bytesLine("S: ", line)
}

// expect reads a reply and turns a code other than want (a class such as 2 for 2xx, or an
// exact code) into a classified error.
func (c *Client) expect(cmd string, d time.Duration, want int) error {
	if err := c.read(cmd, d); err != nil {
		return err
	}
	if !c.codeIs(want) {
		return replyError(cmd, c.rr.reply())
	}
	return nil
}

func (c *Client) codeIs(want int) bool {
	if want < 10 {
		return c.rr.code/100 == want
	}
	return c.rr.code == want
}

// roundTrip sends one command and checks its reply.
func (c *Client) roundTrip(cmd string, d time.Duration, want int, parts ...string) error {
	c.cmd(parts...)
	if err := c.flush(cmd); err != nil {
		return err
	}
	return c.expect(cmd, d, want)
}

func (c *Client) readGreeting() error {
	if err := c.read("greeting", c.cfg.Timeouts.Greeting); err != nil {
		return err
	}
	c.greeting = c.rr.reply()
	if c.rr.code != 220 {
		c.fail(errors.New("refused at greeting"))
		return replyError("connection (greeting)", c.greeting)
	}
	return nil
}

// sayHello sends EHLO, and HELO only when EHLO is answered 500 or 502 (a server that does
// not know it); any other refusal is an error.
func (c *Client) sayHello() error {
	c.cmd("EHLO ", c.cfg.LocalName)
	if err := c.flush("EHLO"); err != nil {
		return err
	}
	if err := c.read("EHLO", c.cfg.Timeouts.Command); err != nil {
		return err
	}
	if c.rr.code == 250 {
		c.hello = "EHLO"
		c.helloReply = c.rr.reply()
		c.ext = parseExtensions(c.helloReply.Lines[1:])
		return nil
	}
	if c.rr.code != 500 && c.rr.code != 502 {
		return replyError("EHLO", c.rr.reply())
	}
	c.cmd("HELO ", c.cfg.LocalName)
	if err := c.flush("HELO"); err != nil {
		return err
	}
	if err := c.read("HELO", c.cfg.Timeouts.Command); err != nil {
		return err
	}
	if c.rr.code != 250 {
		return replyError("HELO", c.rr.reply())
	}
	c.hello = "HELO"
	c.helloReply = c.rr.reply()
	c.ext = extensions{params: map[string]string{}}
	return nil
}

// startTLS sends STARTTLS, upgrades the connection and says EHLO again (RFC 3207).
func (c *Client) startTLS() error {
	if c.tlsState != nil {
		return &transport.Error{Code: transport.FailedPrecondition, Err: errors.New("smtp: STARTTLS on a connection that already uses TLS")}
	}
	if !c.ext.startTLS {
		return &transport.Error{Code: transport.Unimplemented, Err: fmt.Errorf("smtp: %s does not offer STARTTLS", c.cfg.host)}
	}
	if err := c.roundTrip("STARTTLS", c.cfg.Timeouts.Command, 220, "STARTTLS"); err != nil {
		return err
	}
	if c.br.Buffered() > 0 {
		// Bytes after the 220 would be read as if they came over TLS: the STARTTLS
		// command injection attack (CVE-2011-0411 and its kin).
		c.fail(errors.New("data after STARTTLS reply"))
		return protocolf("server sent data after its reply to STARTTLS")
	}
	if err := c.handshake(); err != nil {
		return err
	}
	return c.sayHello()
}

// handshake runs the TLS client handshake on the connection.
func (c *Client) handshake() error {
	tc := tls.Client(c.conn, c.cfg.tlsConfig())
	c.deadline(c.cfg.Timeouts.Command)
	err := tc.HandshakeContext(c.ctx)
	if err != nil {
		c.fail(err)
		code, temp := transport.Unavailable, true
		var cv *tls.CertificateVerificationError
		var rh tls.RecordHeaderError
		switch {
		case errors.As(err, &cv):
			temp = false
		case errors.As(err, &rh):
			temp = false
		}
		if cerr := ctxError(c.ctx, err); cerr != nil {
			return cerr
		}
		return &transport.Error{Code: code, Temporary: temp, Err: fmt.Errorf("smtp: TLS handshake with %s failed; nothing was sent: %w", c.cfg.host, err)}
	}
	st := tc.ConnectionState()
	c.mu.Lock()
	c.conn = tc
	c.mu.Unlock()
	c.tlsState = &st
	c.br.Reset(tc)
	c.ext = extensions{}
	return nil
}

// tlsOK refuses to go on when the policy requires TLS that is not there.
func (c *Client) tlsOK() error {
	if c.tlsState == nil && (c.cfg.TLS == TLSRequired || c.cfg.TLS == TLSImplicit) {
		return &transport.Error{Code: transport.FailedPrecondition,
			Err: errors.New("smtp: the TLS policy requires TLS and the connection is not encrypted; call StartTLS first")}
	}
	return nil
}

// authenticate runs a, resolving the automatic choice of mechanism.
func (c *Client) authenticate(a Auth) error {
	if err := c.tlsOK(); err != nil {
		return err
	}
	if c.ext.auth == nil {
		return &transport.Error{Code: transport.Unimplemented,
			Err: fmt.Errorf("smtp: credentials are configured but %s offers no AUTH (after %s)", c.cfg.host, c.helloOrTLS())}
	}
	info := &ServerInfo{Name: c.cfg.host, TLS: c.tlsState != nil, Auth: c.ext.auth}
	if auto, ok := a.(autoAuth); ok {
		var refused error
		for i, mech := range autoMechs {
			if !containsFold(info.Auth, mech) {
				continue
			}
			mech, ir, err := auto[i].Start(c.ctx, info)
			if errors.Is(err, ErrCleartextAuth) {
				refused = err
				continue
			}
			if err != nil {
				return err
			}
			return c.exchange(auto[i], mech, ir)
		}
		if refused != nil {
			return refused
		}
		return &transport.Error{Code: transport.Unimplemented,
			Err: fmt.Errorf("smtp: no common auth mechanism: %s offers %s; Postie speaks %s (and XOAUTH2 with a TokenSource)", c.cfg.host, strings.Join(info.Auth, " "), strings.Join(autoMechs, " "))}
	}
	mech, ir, err := a.Start(c.ctx, info)
	if err != nil {
		return err
	}
	if !containsFold(info.Auth, mech) {
		return &transport.Error{Code: transport.Unimplemented,
			Err: fmt.Errorf("smtp: %s does not offer AUTH %s (it offers %s)", c.cfg.host, mech, strings.Join(info.Auth, " "))}
	}
	err = c.exchange(a, mech, ir)
	if x, ok := a.(xoauth2Auth); ok && transport.CodeOf(err) == transport.PermissionDenied && c.broken == nil {
		// The token may have expired or been revoked: get a fresh one and try once more.
		mech, ir, serr := x.start(c.ctx, info, true)
		if serr != nil {
			return serr
		}
		err = c.exchange(a, mech, ir)
	}
	return err
}

func (c *Client) helloOrTLS() string {
	if c.tlsState != nil {
		return "TLS"
	}
	return c.hello
}

// exchange runs one SASL exchange; the transcript hides everything but the mechanism.
func (c *Client) exchange(a Auth, mech string, ir []byte) error {
	switch {
	case ir == nil:
		c.cmd("AUTH ", mech)
	case len(ir) == 0:
		c.cmd("AUTH ", mech, " =")
	default:
		c.bw.WriteString("AUTH " + mech + " " + base64.StdEncoding.EncodeToString(ir) + "\r\n")
		c.tr.line("C: ", "AUTH ", mech, " ", Redacted)
	}
	c.redact = true
	defer func() { c.redact = false }()
	if err := c.flush("AUTH"); err != nil {
		return err
	}
	for step := 0; ; step++ {
		if err := c.read("AUTH", c.cfg.Timeouts.Command); err != nil {
			return err
		}
		switch c.rr.code {
		case 235:
			c.authMech = mech
			return nil
		case 334:
		default:
			return replyError("AUTH "+mech, c.rr.reply())
		}
		var resp []byte
		var nerr error
		if step >= 10 {
			nerr = protocolf("AUTH %s: more than 10 challenges", mech)
		} else if ch, err := base64.StdEncoding.DecodeString(string(c.rr.line(0))); err != nil {
			nerr = protocolf("AUTH %s: challenge is not base64", mech)
		} else if resp, err = a.Next(c.ctx, step, ch); err != nil {
			nerr = err
		}
		if nerr != nil {
			c.cmd("*") // cancel the exchange (RFC 4954)
			if err := c.flush("AUTH"); err != nil {
				return err
			}
			if err := c.read("AUTH", c.cfg.Timeouts.Command); err != nil {
				return err
			}
			return nerr
		}
		c.cmd(base64.StdEncoding.EncodeToString(resp))
		if err := c.flush("AUTH"); err != nil {
			return err
		}
	}
}

// checkLine refuses CR, LF and other control characters (NUL included) in a command
// argument: line breaks would inject commands, and servers treat the rest unpredictably.
func checkLine(what, s string) error {
	if strings.ContainsAny(s, "\r\n") {
		return invalidf("smtp: %s contains a line break", what)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' && c != '\t' || c == 0x7f {
			return invalidf("smtp: %s contains the control character %#02x", what, c)
		}
	}
	return nil
}

// checkPath refuses what may not stand inside <...> of MAIL FROM or RCPT TO: besides
// checkLine's characters, white space and angle brackets, which would end the path and let
// the rest of the address add ESMTP parameters (AUTH=, NOTIFY=, ORCPT=).
func checkPath(what, s string) error {
	if err := checkLine(what, s); err != nil {
		return err
	}
	if i := strings.IndexAny(s, " \t<>"); i >= 0 {
		return invalidf("smtp: %s %q contains %q; pass a bare address such as user@example.com", what, s, s[i])
	}
	return nil
}

// Greeting returns the server's 220 greeting.
func (c *Client) Greeting() *transport.Reply { return c.greeting }

// Hello says EHLO again (HELO on 500/502) with name, or Options.LocalName when name is
// empty, and refreshes Extensions. Use it after NewClient.
func (c *Client) Hello(ctx context.Context, name string) error {
	if err := c.usable(); err != nil {
		return err
	}
	if name != "" {
		if strings.ContainsAny(name, "\r\n \t") {
			return invalidf("smtp: hello name %q contains white space or a line break", name)
		}
		cfg := *c.cfg
		cfg.LocalName = name
		c.cfg = &cfg
	}
	c.begin(ctx)
	defer c.end()
	return c.sayHello()
}

// HelloCommand returns "EHLO" or "HELO", whichever the server accepted.
func (c *Client) HelloCommand() string { return c.hello }

// StartTLS upgrades the connection with STARTTLS and says EHLO again. The config is
// Options.TLSConfig cloned, with ServerName defaulting to the address's host.
func (c *Client) StartTLS(ctx context.Context) error {
	if err := c.usable(); err != nil {
		return err
	}
	c.begin(ctx)
	defer c.end()
	return c.startTLS()
}

// Auth authenticates with a. PLAIN, LOGIN and XOAUTH2 refuse an unencrypted connection
// to a host that is not loopback; a 535 is PermissionDenied, a 454 temporary.
func (c *Client) Auth(ctx context.Context, a Auth) error {
	if err := c.usable(); err != nil {
		return err
	}
	c.begin(ctx)
	defer c.end()
	return c.authenticate(a)
}

// AuthMechanism returns the mechanism that authenticated the session, or "".
func (c *Client) AuthMechanism() string { return c.authMech }

// Extensions returns a copy of the EHLO keywords (upper case) and their parameters.
func (c *Client) Extensions() map[string]string { return maps.Clone(c.ext.params) }

// Extension reports whether the server advertised name, with its parameters.
func (c *Client) Extension(name string) (string, bool) {
	v, ok := c.ext.params[strings.ToUpper(name)]
	return v, ok
}

// MaxMessageSize returns the server's SIZE limit, 0 when it stated none.
func (c *Client) MaxMessageSize() int64 { return c.ext.size }

// TLSState returns the TLS connection state, and false on an unencrypted connection.
func (c *Client) TLSState() (tls.ConnectionState, bool) {
	if c.tlsState == nil {
		return tls.ConnectionState{}, false
	}
	return *c.tlsState, true
}

// simple sends a command that takes a 2xx reply, returning the reply.
func (c *Client) simple(ctx context.Context, cmd string, parts ...string) (*transport.Reply, error) {
	if err := c.usable(); err != nil {
		return nil, err
	}
	c.begin(ctx)
	defer c.end()
	c.cmd(parts...)
	if err := c.flush(cmd); err != nil {
		return nil, err
	}
	if err := c.read(cmd, c.cfg.Timeouts.Command); err != nil {
		return nil, err
	}
	r := c.rr.reply()
	if r.Code/100 != 2 {
		return r, replyError(cmd, r)
	}
	return r, nil
}

// Reset sends RSET, aborting the current transaction.
func (c *Client) Reset(ctx context.Context) error {
	_, err := c.simple(ctx, "RSET", "RSET")
	if err == nil {
		c.needReset = false
	}
	return err
}

// Noop sends NOOP, to check that the connection is alive.
func (c *Client) Noop(ctx context.Context) error {
	_, err := c.simple(ctx, "NOOP", "NOOP")
	return err
}

// Verify sends VRFY addr. Most servers answer 252 (cannot verify) or refuse it.
func (c *Client) Verify(ctx context.Context, addr string) (*transport.Reply, error) {
	if err := checkLine("VRFY argument", addr); err != nil {
		return nil, err
	}
	return c.simple(ctx, "VRFY", "VRFY ", addr)
}

// Expand sends EXPN list; the reply's lines are the members. Most servers refuse it.
func (c *Client) Expand(ctx context.Context, list string) (*transport.Reply, error) {
	if err := checkLine("EXPN argument", list); err != nil {
		return nil, err
	}
	return c.simple(ctx, "EXPN", "EXPN ", list)
}

// Quit sends QUIT and closes the connection.
func (c *Client) Quit(ctx context.Context) error {
	if c.broken != nil {
		return c.Close()
	}
	c.begin(ctx)
	c.cmd("QUIT")
	err := c.flush("QUIT")
	if err == nil {
		err = c.expect("QUIT", c.cfg.Timeouts.Command, 2)
	}
	c.end()
	c.fail(errors.New("closed"))
	if cerr := c.conn.Close(); err == nil && cerr != nil && !errors.Is(cerr, net.ErrClosed) {
		err = ioError(nil, "close", cerr)
	}
	return err
}

// Close closes the connection without QUIT.
func (c *Client) Close() error {
	c.fail(errors.New("closed"))
	err := c.conn.Close()
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// MailOptions are the parameters of MAIL FROM. Each is sent only when the server offers
// the extension; the ones a message cannot do without fail the command when it does not.
type MailOptions struct {
	Size       int64  // SIZE=; refused early when above the server's limit
	EightBit   bool   // BODY=8BITMIME; fails without 8BITMIME
	UTF8       bool   // SMTPUTF8; fails without SMTPUTF8
	RequireTLS bool   // REQUIRETLS (RFC 8689); fails without it or without TLS
	Return     string // DSN RET= FULL or HDRS; dropped without DSN
	EnvID      string // DSN ENVID=, xtext-encoded here; dropped without DSN
}

// RcptOptions are the DSN parameters of RCPT TO, dropped when the server lacks DSN.
type RcptOptions struct {
	Notify []string // NEVER, or any of SUCCESS, FAILURE, DELAY
	ORcpt  string   // the original recipient, sent as ORCPT=rfc822;<xtext>
}

// Mail sends MAIL FROM:<from>, starting a transaction.
func (c *Client) Mail(ctx context.Context, from string, opts *MailOptions) error {
	if err := c.usable(); err != nil {
		return err
	}
	if err := c.tlsOK(); err != nil {
		return err
	}
	if opts == nil {
		opts = &MailOptions{}
	}
	line, err := c.mailLine(from, opts)
	if err != nil {
		return err
	}
	c.begin(ctx)
	defer c.end()
	if err := c.roundTrip("MAIL", c.cfg.Timeouts.Mail, 2, string(line)); err != nil {
		return err
	}
	c.needReset = true
	return nil
}

// Rcpt sends RCPT TO:<to>. A refusal is a classified *transport.Error.
func (c *Client) Rcpt(ctx context.Context, to string, opts *RcptOptions) error {
	if err := c.usable(); err != nil {
		return err
	}
	line, err := c.rcptLine(to, opts)
	if err != nil {
		return err
	}
	c.begin(ctx)
	defer c.end()
	return c.roundTrip("RCPT", c.cfg.Timeouts.Rcpt, 2, line)
}

// mailLine builds the MAIL command and checks the options against the extensions.
// The line is built in a buffer of the Client, valid until the next call.
func (c *Client) mailLine(from string, o *MailOptions) ([]byte, error) {
	if err := checkPath("sender address", from); err != nil {
		return nil, err
	}
	b := append(c.lineBuf[:0], "MAIL FROM:<"...)
	defer func() { c.lineBuf = b[:0] }()
	b = append(b, from...)
	b = append(b, '>')
	if _, ok := c.ext.params["SIZE"]; ok && o.Size > 0 {
		if c.ext.size > 0 && o.Size > c.ext.size {
			return nil, &transport.Error{Code: transport.ResourceExhausted,
				Err: fmt.Errorf("smtp: the message is %d bytes and %s accepts at most %d (EHLO SIZE); nothing was sent", o.Size, c.cfg.host, c.ext.size)}
		}
		b = append(b, " SIZE="...)
		b = strconv.AppendInt(b, o.Size, 10)
	}
	if o.EightBit {
		if !c.ext.eightBit {
			return nil, unimplemented(c, "8BITMIME", "the body has 8-bit text; turn Allow8Bit off")
		}
		b = append(b, " BODY=8BITMIME"...)
	}
	if o.UTF8 {
		if !c.ext.smtpUTF8 {
			return nil, unimplemented(c, "SMTPUTF8", "an address or header of the message needs it")
		}
		b = append(b, " SMTPUTF8"...)
	}
	if o.RequireTLS {
		if !c.ext.requireTLS {
			return nil, unimplemented(c, "REQUIRETLS", "the message asks for it")
		}
		if c.tlsState == nil {
			return nil, &transport.Error{Code: transport.FailedPrecondition, Err: errors.New("smtp: the message asks for REQUIRETLS and the connection is not encrypted; nothing was sent")}
		}
		b = append(b, " REQUIRETLS"...)
	}
	if c.ext.dsn {
		if o.Return != "" {
			ret := strings.ToUpper(o.Return)
			if ret != "FULL" && ret != "HDRS" {
				return nil, invalidf("smtp: DSN Return %q: use FULL or HDRS", o.Return)
			}
			b = append(b, " RET="...)
			b = append(b, ret...)
		}
		if o.EnvID != "" {
			b = append(b, " ENVID="...)
			b = appendXtext(b, o.EnvID)
		}
	}
	return b, nil
}

func unimplemented(c *Client, ext, why string) error {
	return &transport.Error{Code: transport.Unimplemented,
		Err: fmt.Errorf("smtp: %s does not offer %s, and %s; nothing was sent", c.cfg.host, ext, why)}
}

// rcptLine builds an RCPT command.
func (c *Client) rcptLine(to string, o *RcptOptions) (string, error) {
	if err := checkPath("recipient address", to); err != nil {
		return "", err
	}
	if o == nil || !c.ext.dsn || (len(o.Notify) == 0 && o.ORcpt == "") {
		return "RCPT TO:<" + to + ">", nil
	}
	b := make([]byte, 0, 64+len(to)*2)
	b = append(b, "RCPT TO:<"...)
	b = append(b, to...)
	b = append(b, '>')
	if len(o.Notify) > 0 {
		b = append(b, " NOTIFY="...)
		for i, n := range o.Notify {
			n = strings.ToUpper(n)
			switch n {
			case "NEVER", "SUCCESS", "FAILURE", "DELAY":
			default:
				return "", invalidf("smtp: DSN Notify %q: use NEVER, SUCCESS, FAILURE or DELAY", n)
			}
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, n...)
		}
	}
	if o.ORcpt != "" && isASCII(o.ORcpt) {
		b = append(b, " ORCPT=rfc822;"...)
		b = appendXtext(b, o.ORcpt)
	}
	return string(b), nil
}

// appendXtext encodes s as RFC 3461 xtext: "+", "=", controls and non-ASCII as "+XX".
func appendXtext(b []byte, s string) []byte {
	const hexDigits = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if ch < '!' || ch > '~' || ch == '+' || ch == '=' {
			b = append(b, '+', hexDigits[ch>>4], hexDigits[ch&0xf])
			continue
		}
		b = append(b, ch)
	}
	return b
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
