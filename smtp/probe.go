package smtp

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"time"
)

// ProbeResult is what Probe learned about a server. Fields stay empty for the phases it
// did not reach.
type ProbeResult struct {
	Addr   string `json:"addr"`
	Banner string `json:"banner"` // the greeting text
	// Hello is the command the server accepted, "EHLO" or "HELO"; HelloReply its first line.
	Hello      string            `json:"hello"`
	HelloReply string            `json:"hello_reply"`
	Extensions map[string]string `json:"extensions"` // after TLS when TLS was set up
	// MaxSize is the SIZE limit in bytes, 0 when none was stated.
	MaxSize        int64        `json:"max_size"`
	TLS            *ProbeTLS    `json:"tls,omitempty"`
	AuthMechanisms []string     `json:"auth_mechanisms"`
	Auth           *ProbeAuth   `json:"auth,omitempty"` // set when credentials were given
	Timings        ProbeTimings `json:"timings"`
	// Error is the failure that ended the probe, as text, for printing; "" on success.
	Error string `json:"error,omitempty"`
}

// ProbeTLS describes the TLS session.
type ProbeTLS struct {
	Mode        string     `json:"mode"` // "starttls" or "implicit"
	Version     string     `json:"version"`
	CipherSuite string     `json:"cipher_suite"`
	ServerName  string     `json:"server_name"`
	Peer        *ProbeCert `json:"peer_certificate,omitempty"`
}

// ProbeCert summarizes the server's leaf certificate.
type ProbeCert struct {
	Subject  string    `json:"subject"`
	Issuer   string    `json:"issuer"`
	DNSNames []string  `json:"dns_names,omitempty"`
	NotAfter time.Time `json:"not_after"`
}

// ProbeAuth is the outcome of authentication.
type ProbeAuth struct {
	Mechanism string `json:"mechanism,omitempty"`
	OK        bool   `json:"ok"`
	Error     string `json:"error,omitempty"`
}

// ProbeTimings is how long each phase took; JSON shows durations as strings ("1.2ms").
type ProbeTimings struct {
	Dial     time.Duration // TCP connect (and the handshake for implicit TLS)
	Greeting time.Duration
	Hello    time.Duration
	TLS      time.Duration // STARTTLS, the handshake and the second EHLO
	Auth     time.Duration
}

// MarshalJSON writes each duration as a string such as "1.234ms".
func (p ProbeTimings) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]string{
		"dial": p.Dial.String(), "greeting": p.Greeting.String(), "hello": p.Hello.String(),
		"tls": p.TLS.String(), "auth": p.Auth.String(),
	})
}

// Probe connects to addr as Dial does, with the same Options (TLS policy, credentials),
// reports what it saw and says QUIT. It returns the result even when a phase fails,
// together with the error (an auth failure included), so a caller can print both.
// Passwords never appear in the result.
func Probe(ctx context.Context, addr string, opts *Options) (*ProbeResult, error) {
	res := &ProbeResult{Addr: addr}
	cfg, err := newConfig(addr, opts)
	if err != nil {
		res.Error = err.Error()
		return res, err
	}
	var tr *transcript
	if cfg.Transcript != nil {
		tr = &transcript{w: cfg.Transcript}
	}
	// Run the setup without auth first, so that an auth failure still leaves a full
	// picture of the server.
	auth := cfg.auth
	noAuth := *cfg
	noAuth.auth = nil
	var ph phases
	c, err := dialPartial(ctx, &noAuth, addr, tr, &ph)
	res.Timings = ProbeTimings{Dial: ph.dial, Greeting: ph.greeting, Hello: ph.hello, TLS: ph.tls}
	if c != nil {
		res.fill(c, cfg)
	}
	if err != nil {
		if c != nil {
			c.Close()
		}
		res.Error = err.Error()
		return res, err
	}
	defer func() {
		qctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = c.Quit(qctx)
	}()
	if auth != nil {
		t := time.Now()
		err = c.Auth(ctx, auth)
		res.Timings.Auth = time.Since(t)
		res.Auth = &ProbeAuth{Mechanism: c.authMech, OK: err == nil}
		if err != nil {
			res.Auth.Error = err.Error()
			res.Error = err.Error()
			return res, err
		}
	}
	return res, nil
}

// ProbeURL probes the server an smtp:// or smtps:// URL names, with its options.
func ProbeURL(ctx context.Context, rawurl string) (*ProbeResult, error) {
	addr, opts, err := ParseURL(rawurl)
	if err != nil {
		return &ProbeResult{Error: err.Error()}, err
	}
	return Probe(ctx, addr, opts)
}

func (res *ProbeResult) fill(c *Client, cfg *config) {
	if c.greeting != nil {
		res.Banner = c.greeting.Text()
	}
	res.Hello = c.hello
	if c.helloReply != nil && len(c.helloReply.Lines) > 0 {
		res.HelloReply = c.helloReply.Lines[0]
	}
	res.Extensions = c.Extensions()
	res.MaxSize = c.ext.size
	res.AuthMechanisms = append([]string{}, c.ext.auth...)
	if st, ok := c.TLSState(); ok {
		pt := &ProbeTLS{Mode: "starttls", Version: tls.VersionName(st.Version),
			CipherSuite: tls.CipherSuiteName(st.CipherSuite), ServerName: st.ServerName}
		if cfg.TLS == TLSImplicit {
			pt.Mode = "implicit"
		}
		if len(st.PeerCertificates) > 0 {
			leaf := st.PeerCertificates[0]
			pt.Peer = &ProbeCert{Subject: leaf.Subject.String(), Issuer: leaf.Issuer.String(),
				DNSNames: leaf.DNSNames, NotAfter: leaf.NotAfter}
		}
		res.TLS = pt
	}
}
