package httpmail

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/postiemail/postie/transport"
)

// elsewhere is a connection that claims to have reached a remote address: what a loopback
// name resolved through DNS to another machine looks like.
type elsewhere struct{ net.Conn }

func (elsewhere) RemoteAddr() net.Addr { return &net.TCPAddr{IP: net.ParseIP("203.0.113.9"), Port: 80} }

// Plain http is allowed only to this machine; a loopback name that leads elsewhere gets
// no request, and the refusal is permanent.
func TestPlainHTTPOnlyToLoopbackPeer(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }))
	defer srv.Close()
	for _, remote := range []bool{false, true} {
		var d net.Dialer
		tr := &http.Transport{DialContext: loopbackOnly(func(ctx context.Context, network, _ string) (net.Conn, error) {
			c, err := d.DialContext(ctx, network, srv.Listener.Addr().String())
			if err == nil && remote {
				c = elsewhere{c}
			}
			return c, err
		})}
		u, _ := url.Parse("http://mail.localhost:8025")
		ep := NewEndpoint("testmail", u, &http.Client{Transport: tr}, func(h http.Header) { h.Set("Authorization", "Bearer sekrit-key") })
		_, _, err := post(ep, context.Background(), nil)
		tr.CloseIdleConnections()
		switch {
		case !remote && err != nil:
			t.Errorf("a loopback peer was refused: %v", err)
		case remote && (transport.CodeOf(err) != transport.FailedPrecondition || transport.IsTemporary(err) || !strings.Contains(err.Error(), "not loopback")):
			t.Errorf("a remote peer: %v (code %v, temporary %v)", err, transport.CodeOf(err), transport.IsTemporary(err))
		}
	}
	if n := hits.Load(); n != 1 {
		t.Errorf("the server got %d requests, want 1 (the loopback one)", n)
	}
}
