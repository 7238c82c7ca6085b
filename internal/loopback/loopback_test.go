package loopback

import (
	"net"
	"testing"
)

func TestHost(t *testing.T) {
	for h, want := range map[string]bool{
		"localhost": true, "LOCALHOST": true, "localhost.": true, "mailpit.localhost": true, "127.0.0.1": true,
		"127.8.9.10": true, "::1": true, "[::1]": true, "::ffff:127.0.0.1": true,
		"example.com": false, "localhost.example.com": false, "notlocalhost": false, "10.0.0.1": false,
		"::": false, "0.0.0.0": false, "": false, "[::2]": false,
	} {
		if got := Host(h); got != want {
			t.Errorf("Host(%q) = %v, want %v", h, got, want)
		}
	}
}

// addrConn is a net.Conn whose peer is addr.
type addrConn struct {
	net.Conn
	addr net.Addr
}

func (c addrConn) RemoteAddr() net.Addr { return c.addr }

func TestPeer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if !Peer(c) {
		t.Errorf("a connection to %s is not loopback", ln.Addr())
	}
	for addr, want := range map[net.Addr]bool{
		&net.TCPAddr{IP: net.ParseIP("203.0.113.7"), Port: 25}: false,
		&net.TCPAddr{IP: net.ParseIP("::1"), Port: 25}:         true,
		&net.UnixAddr{Name: "/tmp/x", Net: "unix"}:             false,
		fakeAddr("[::ffff:127.0.0.1]:25"):                      true,
		fakeAddr("192.0.2.1:25"):                               false,
	} {
		if got := Peer(addrConn{addr: addr}); got != want {
			t.Errorf("Peer(%v) = %v, want %v", addr, got, want)
		}
	}
}

type fakeAddr string

func (a fakeAddr) Network() string { return "tcp" }
func (a fakeAddr) String() string  { return string(a) }
