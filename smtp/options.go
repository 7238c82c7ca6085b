package smtp

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/postiemail/postie/internal/loopback"
	"github.com/postiemail/postie/transport"
)

// TLSPolicy says how a connection is protected. The zero value, TLSRequired, is the safe
// default: STARTTLS must succeed before any credential or message byte is sent.
type TLSPolicy int

const (
	// TLSRequired upgrades the connection with STARTTLS and fails the send when the server
	// does not offer it or the handshake fails. It is the default.
	TLSRequired TLSPolicy = iota
	// TLSOpportunistic uses STARTTLS when the server offers it and continues in cleartext
	// otherwise. An attacker on the path can strip the offer, so it must be asked for.
	TLSOpportunistic
	// TLSNone never starts TLS. It is allowed only to a loopback host, or with
	// Options.Insecure set.
	TLSNone
	// TLSImplicit speaks TLS from the first byte (SMTPS, usually port 465).
	TLSImplicit
)

var tlsPolicyNames = [...]string{"required", "opportunistic", "none", "implicit"}

// String returns the name used in URLs: "required", "opportunistic", "none" or "implicit".
func (p TLSPolicy) String() string {
	if p >= 0 && int(p) < len(tlsPolicyNames) {
		return tlsPolicyNames[p]
	}
	return fmt.Sprintf("TLSPolicy(%d)", int(p))
}

// ParseTLSPolicy parses a policy name as String prints it; "starttls" is an alias of
// "required" and "smtps" of "implicit".
func ParseTLSPolicy(s string) (TLSPolicy, error) {
	switch strings.ToLower(s) {
	case "required", "starttls", "mandatory":
		return TLSRequired, nil
	case "opportunistic":
		return TLSOpportunistic, nil
	case "none", "insecure", "plain":
		return TLSNone, nil
	case "implicit", "smtps", "ssl", "tls":
		return TLSImplicit, nil
	}
	return 0, fmt.Errorf("unknown TLS policy %q; use required, opportunistic, none or implicit", s)
}

// Timeouts bounds each phase of a session. A zero field takes its default; the defaults for
// the greeting, MAIL, RCPT and DATA phases are the minimums of RFC 5321 section 4.5.3.2.
// Every phase is further bounded by the deadline of the ctx passed to the call.
type Timeouts struct {
	Dial      time.Duration // TCP connect; default 30 s
	Greeting  time.Duration // the 220 banner; default 5 min
	Command   time.Duration // EHLO, STARTTLS and the TLS handshake, AUTH, RSET, NOOP, VRFY, EXPN, QUIT; default 5 min
	Mail      time.Duration // MAIL FROM; default 5 min
	Rcpt      time.Duration // each RCPT TO; default 5 min
	DataInit  time.Duration // the 354 reply to DATA (and each intermediate BDAT reply); default 2 min
	DataBlock time.Duration // each write of the message body; default 3 min
	DataTerm  time.Duration // the reply after the final dot or BDAT LAST; default 10 min
}

// defaultTimeouts are the timeouts a zero Timeouts field takes (documented on Timeouts).
var defaultTimeouts = Timeouts{
	Dial:      30 * time.Second,
	Greeting:  5 * time.Minute,
	Command:   5 * time.Minute,
	Mail:      5 * time.Minute,
	Rcpt:      5 * time.Minute,
	DataInit:  2 * time.Minute,
	DataBlock: 3 * time.Minute,
	DataTerm:  10 * time.Minute,
}

// All returns t with every phase set to d, the meaning of the URL parameter timeout=d.
func (t Timeouts) All(d time.Duration) Timeouts {
	return Timeouts{d, d, d, d, d, d, d, d}
}

func (t Timeouts) withDefaults() Timeouts {
	pick := func(v, def time.Duration) time.Duration {
		if v > 0 {
			return v
		}
		return def
	}
	d := defaultTimeouts
	return Timeouts{
		Dial:      pick(t.Dial, d.Dial),
		Greeting:  pick(t.Greeting, d.Greeting),
		Command:   pick(t.Command, d.Command),
		Mail:      pick(t.Mail, d.Mail),
		Rcpt:      pick(t.Rcpt, d.Rcpt),
		DataInit:  pick(t.DataInit, d.DataInit),
		DataBlock: pick(t.DataBlock, d.DataBlock),
		DataTerm:  pick(t.DataTerm, d.DataTerm),
	}
}

// Default pool settings.
const (
	DefaultMaxConns           = 4
	DefaultMaxMessagesPerConn = 100
	// DefaultIdleTimeout is below the idle limits of common servers (Postfix 300 s,
	// Exchange Online and SES about 60 s), so the pool closes first.
	DefaultIdleTimeout = 30 * time.Second
	// DefaultHealthCheckAfter is how long a pooled connection may sit idle before it is
	// checked with NOOP when taken.
	DefaultHealthCheckAfter = 5 * time.Second
)

// Options configures a Client or a Transport. A nil *Options and zero fields mean defaults.
// Options are copied when used; changing them afterwards has no effect.
type Options struct {
	// TLS is the TLS policy; the zero value requires STARTTLS.
	TLS TLSPolicy
	// TLSConfig is cloned before use, never changed. Its ServerName defaults to the host of
	// the address. Certificates are verified unless the config says otherwise.
	TLSConfig *tls.Config
	// Insecure allows TLSNone to a host that is not loopback. Credentials that would travel
	// in clear (PLAIN, LOGIN, XOAUTH2) are still refused on such a connection.
	Insecure bool

	// LocalName is the name sent with EHLO/HELO; default the host name of this machine when
	// it is a dotted name, else "localhost".
	LocalName string

	// Username and Password authenticate with the strongest mechanism both sides support
	// (CRAM-MD5, PLAIN, LOGIN), or with Mechanism when it is set. Empty means no AUTH.
	// On an unencrypted connection to a host that is not loopback none is chosen: set
	// Mechanism to CRAM-MD5 to allow that one there (its answer can be relayed by whoever
	// stripped STARTTLS, but the password does not cross).
	Username, Password string
	// Mechanism forces one SASL mechanism: "PLAIN", "LOGIN", "CRAM-MD5" or "XOAUTH2".
	Mechanism string
	// TokenSource supplies OAuth 2 access tokens for XOAUTH2 (with Username as the user).
	TokenSource TokenSource
	// Auth, when set, is used instead of Username/Password/TokenSource.
	Auth Auth

	// Dialer makes the TCP connection; nil means a net.Dialer with Timeouts.Dial.
	Dialer *net.Dialer
	// DialContext, when set, is used instead of Dialer, for proxies and tests. The address
	// it gets is the one given to New or Dial; host name checks (TLS, cleartext
	// credentials) use that address, not the peer the function reaches.
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)

	// Timeouts bounds each phase; zero fields take the defaults documented on Timeouts.
	Timeouts Timeouts

	// Pool settings of a Transport.
	MaxConns           int           // connections open at once; default DefaultMaxConns
	MaxMessagesPerConn int           // messages before a connection is replaced; default DefaultMaxMessagesPerConn
	IdleTimeout        time.Duration // an idle connection is closed after this; default DefaultIdleTimeout
	HealthCheckAfter   time.Duration // NOOP before reusing a connection idle longer; default DefaultHealthCheckAfter

	// AllOrNothing sends the message only when every recipient is accepted; by default it
	// goes to the accepted recipients and the refused ones are reported.
	AllOrNothing bool
	// Allow8Bit lets 8-bit text parts go unencoded when the server offers 8BITMIME.
	Allow8Bit bool
	// NoPipelining turns off PIPELINING and NoChunking turns off BDAT even when offered,
	// for servers that advertise them but get them wrong.
	NoPipelining, NoChunking bool

	// Transcript, when set, receives the session as "C: " and "S: " lines, with AUTH
	// exchanges redacted and message bodies reduced to their size. A Transport serializes
	// the lines of its connections; each line is one Write.
	Transcript io.Writer
}

// String describes the options with the password and token source left out, so that
// printing Options (%v, %+v) never shows a secret.
func (o Options) String() string {
	pass := ""
	if o.Password != "" {
		pass = Redacted
	}
	return fmt.Sprintf("{TLS:%v Insecure:%v LocalName:%q Username:%q Password:%s Mechanism:%q TokenSource:%v Auth:%v "+
		"Timeouts:%+v MaxConns:%d MaxMessagesPerConn:%d IdleTimeout:%v HealthCheckAfter:%v AllOrNothing:%v Allow8Bit:%v "+
		"NoPipelining:%v NoChunking:%v Transcript:%v}",
		o.TLS, o.Insecure, o.LocalName, o.Username, pass, o.Mechanism, o.TokenSource != nil, o.Auth != nil,
		o.Timeouts, o.MaxConns, o.MaxMessagesPerConn, o.IdleTimeout, o.HealthCheckAfter, o.AllOrNothing, o.Allow8Bit,
		o.NoPipelining, o.NoChunking, o.Transcript != nil)
}

// GoString is String for %#v, which would otherwise print every field, the password and
// the Auth's secrets included.
func (o Options) GoString() string { return "smtp.Options" + o.String() }

// LogValue is String for log/slog, whose JSON and text handlers would otherwise print the
// fields as they are.
func (o Options) LogValue() slog.Value { return slog.StringValue(o.String()) }

// config is Options with defaults applied, shared by a Transport's connections.
type config struct {
	Options
	host     string // host part of the address, for TLS and loopback checks
	loopback bool
	auth     Auth // nil when no credentials
}

func newConfig(addr string, o *Options) (*config, error) {
	cfg := &config{}
	if o != nil {
		cfg.Options = *o
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" || port == "" {
		return nil, invalidf("smtp: address %q is not host:port; use e.g. \"mail.example.com:587\"", addr)
	}
	cfg.host = host
	cfg.loopback = loopback.Host(host)
	if cfg.TLS < TLSRequired || cfg.TLS > TLSImplicit {
		return nil, invalidf("smtp: unknown TLS policy %d", int(cfg.TLS))
	}
	if cfg.TLS == TLSNone && !cfg.loopback && !cfg.Insecure {
		return nil, invalidf("smtp: TLS policy none to %q, which is not loopback: use tls=required (STARTTLS) or tls=implicit, or set Options.Insecure", host)
	}
	if cfg.LocalName == "" {
		cfg.LocalName = defaultLocalName()
	} else if strings.ContainsAny(cfg.LocalName, "\r\n \t") {
		return nil, invalidf("smtp: LocalName %q contains white space or a line break", cfg.LocalName)
	}
	cfg.Timeouts = cfg.Timeouts.withDefaults()
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = DefaultMaxConns
	}
	if cfg.MaxMessagesPerConn <= 0 {
		cfg.MaxMessagesPerConn = DefaultMaxMessagesPerConn
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.HealthCheckAfter <= 0 {
		cfg.HealthCheckAfter = DefaultHealthCheckAfter
	}
	if cfg.TLSConfig != nil {
		cfg.TLSConfig = cfg.TLSConfig.Clone()
	}
	a, err := authFromOptions(&cfg.Options)
	if err != nil {
		return nil, err
	}
	cfg.auth = a
	return cfg, nil
}

// tlsConfig returns a fresh clone for one handshake, with ServerName set.
func (cfg *config) tlsConfig() *tls.Config {
	var tc *tls.Config
	if cfg.TLSConfig != nil {
		tc = cfg.TLSConfig.Clone()
	} else {
		tc = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	if tc.ServerName == "" {
		tc.ServerName = cfg.host
	}
	return tc
}

// dial connects within Timeouts.Dial (and ctx). When the host is a loopback name, the
// connection must reach a loopback address: "localhost" or "mail.localhost" resolves
// through the hosts file and DNS, and the rules that relax on loopback (a cleartext
// session, credentials without TLS) must not follow the name to another machine. A
// DialContext is the caller's to vouch for (a proxy, a test seam), so it is not checked.
func (cfg *config) dial(ctx context.Context, addr string) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeouts.Dial)
	defer cancel()
	if cfg.DialContext != nil {
		return cfg.DialContext(ctx, "tcp", addr)
	}
	d := cfg.Dialer
	if d == nil {
		d = &net.Dialer{}
	}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err == nil && cfg.loopback && !loopback.Peer(conn) {
		conn.Close()
		return nil, &transport.Error{Code: transport.FailedPrecondition, Err: fmt.Errorf(
			"smtp: %q is a loopback name but it reached %s, which is not loopback; nothing was sent (use the server's real host name, so TLS and credentials are handled as for a remote server)",
			cfg.host, conn.RemoteAddr())}
	}
	return conn, err
}

func defaultLocalName() string {
	h, err := os.Hostname()
	if err != nil || !strings.Contains(h, ".") || strings.ContainsAny(h, "\r\n \t") {
		return "localhost"
	}
	return h
}
