// Package loopback decides what counts as this machine, for the rules that relax there:
// the SMTP engine's cleartext session and credentials, and the provider adapters' plain
// http:// base URL. A name is only a claim, so Peer checks where a connection really went.
package loopback

import (
	"net"
	"net/netip"
	"strings"
)

// Host reports whether host, a name or an IP literal (brackets allowed), names this
// machine: "localhost", a name under ".localhost" (RFC 6761), or a loopback address.
func Host(host string) bool {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	ip, err := netip.ParseAddr(strings.Trim(h, "[]"))
	return err == nil && ip.IsLoopback()
}

// Peer reports whether the connection c reached a loopback address. A loopback name
// resolves through the hosts file and DNS like any other, so it may lead elsewhere.
func Peer(c net.Conn) bool {
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return a.IP.IsLoopback()
	}
	ap, err := netip.ParseAddrPort(c.RemoteAddr().String())
	return err == nil && ap.Addr().Unmap().IsLoopback()
}
