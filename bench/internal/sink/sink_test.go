package sink

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/smtp"
	"strings"
	"testing"
	"time"

	"github.com/postiemail/postie/bench/internal/certs"
)

func start(t *testing.T, cfg Config) (*Server, string, string) {
	t.Helper()
	srv := New(cfg)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.ServeSMTP(ln)
	go srv.ServeDiscard(dl)
	t.Cleanup(func() { srv.Close() })
	return srv, ln.Addr().String(), dl.Addr().String()
}

func TestNetSMTPWithSTARTTLSAndAuth(t *testing.T) {
	cert, pemBytes, err := certs.New()
	if err != nil {
		t.Fatal(err)
	}
	srv, addr, _ := start(t, Config{TLS: &tls.Config{Certificates: []tls.Certificate{cert}}})
	cc, err := certs.ClientConfig(pemBytes)
	if err != nil {
		t.Fatal(err)
	}
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.StartTLS(cc); err != nil {
		t.Fatal(err)
	}
	if ok, _ := c.Extension("STARTTLS"); ok {
		t.Error("STARTTLS still offered after TLS")
	}
	for _, ext := range []string{"PIPELINING", "CHUNKING", "8BITMIME", "SIZE", "AUTH"} {
		if ok, _ := c.Extension(ext); !ok {
			t.Errorf("%s not offered", ext)
		}
	}
	if err := c.Auth(smtp.PlainAuth("", "u", "p", "127.0.0.1")); err != nil {
		t.Fatal(err)
	}
	body := "Subject: x\r\n\r\n.leading dot\r\nline\r\n"
	for range 3 {
		if err := c.Mail("a@b.example"); err != nil {
			t.Fatal(err)
		}
		if err := c.Rcpt("c@d.example"); err != nil {
			t.Fatal(err)
		}
		w, err := c.Data()
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, body)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Quit(); err != nil {
		t.Fatal(err)
	}
	st := srv.Stats()
	// DotWriter stuffs the leading dot: one extra byte per message.
	if st.Messages != 3 || st.Bytes != 3*int64(len(body)+1) {
		t.Errorf("stats = %+v, want 3 messages of %d bytes", st, len(body)+1)
	}
}

// TestPipelinedBDAT sends two whole transactions in one write and expects every reply,
// then checks the counters.
func TestPipelinedBDAT(t *testing.T) {
	_, addr, _ := start(t, Config{RTT: 2 * time.Millisecond})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	readReply := func() string {
		var last string
		for {
			l, err := br.ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			last = l
			if len(l) < 4 || l[3] != '-' {
				return strings.TrimSpace(last)
			}
		}
	}
	if r := readReply(); !strings.HasPrefix(r, "220") {
		t.Fatalf("greeting %q", r)
	}
	fmt.Fprintf(c, "EHLO x\r\n")
	readReply()
	msg := "Subject: y\r\n\r\nbody\r\n"
	tx := fmt.Sprintf("MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nRCPT TO:<e@f>\r\nBDAT 4\r\n%sBDAT %d LAST\r\n%s", msg[:4], len(msg)-4, msg[4:])
	start := time.Now()
	if _, err := io.WriteString(c, tx+tx); err != nil {
		t.Fatal(err)
	}
	want := []string{"250", "250", "250", "250", "250"}
	for range 2 {
		for i, w := range want {
			if r := readReply(); !strings.HasPrefix(r, w) {
				t.Fatalf("reply %d = %q, want %s", i, r, w)
			}
		}
	}
	if el := time.Since(start); el < 2*time.Millisecond {
		t.Errorf("replies came after %v, before the 2ms RTT", el)
	}
	fmt.Fprintf(c, "XSTATS\r\n")
	if r := readReply(); !strings.Contains(r, fmt.Sprintf("messages=2 bytes=%d", 2*len(msg))) {
		t.Errorf("XSTATS = %q", r)
	}
}

func TestDiscardCountsBytes(t *testing.T) {
	srv, _, daddr := start(t, Config{})
	c, err := net.Dial("tcp", daddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	payload := strings.Repeat("x", 300000)
	io.WriteString(c, payload)
	c.(*net.TCPConn).CloseWrite()
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(b)); got != "300000" {
		t.Errorf("discard answered %q", got)
	}
	if st := srv.Stats(); st.Bytes != 300000 {
		t.Errorf("stats %+v", st)
	}
}

func TestRefusals(t *testing.T) {
	_, addr, _ := start(t, Config{})
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Rcpt("x@y"); err == nil {
		t.Error("RCPT before MAIL accepted")
	}
	if err := c.StartTLS(&tls.Config{}); err == nil {
		t.Error("STARTTLS accepted by a cleartext-only sink")
	}
}
