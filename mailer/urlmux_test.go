package mailer_test

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/postiemail/postie/mailer"
	"github.com/postiemail/postie/transport"
	"github.com/postiemail/postie/transport/memmail"
)

// named is a transport that remembers the URL it was opened with.
type named struct {
	transport.Transport
	url     string
	members []transport.Transport
	closed  *int
}

func (n *named) Close() error {
	if n.closed != nil {
		*n.closed++
	}
	return nil
}

func opener(closed *int) mailer.URLOpenerFunc {
	return func(_ context.Context, u *url.URL) (transport.Transport, error) {
		if u.Query().Get("fail") != "" {
			return nil, errors.New("refused by opener")
		}
		return &named{Transport: memmail.New(nil), url: u.String(), closed: closed}, nil
	}
}

func composite(name string) mailer.CompositeOpener {
	return func(_ context.Context, members []transport.Transport) (transport.Transport, error) {
		return &named{url: name, members: members}, nil
	}
}

func TestURLMuxZeroValue(t *testing.T) {
	var m mailer.URLMux
	if s := m.Schemes(); len(s) != 0 {
		t.Errorf("zero mux Schemes = %v", s)
	}
	_, err := m.OpenTransport(context.Background(), "mem://")
	if mailer.CodeOf(err) != transport.InvalidArgument {
		t.Errorf("zero mux opened an unregistered scheme: %v", err)
	}
	m.Register("Test", opener(nil))
	tr, err := m.OpenTransport(context.Background(), "TEST://host/path?x=1")
	if err != nil {
		t.Fatal(err)
	}
	if got := tr.(*named).url; got != "test://host/path?x=1" {
		t.Errorf("opener got %q", got)
	}
	c, err := m.OpenMailer(context.Background(), "test://h")
	if err != nil || c == nil {
		t.Fatalf("OpenMailer: %v", err)
	}
	var inner transport.Transport
	if !c.As(&inner) || inner.(*named).url != "test://h" {
		t.Errorf("OpenMailer's client is not over the opened transport")
	}
}

func TestURLMuxUnknownSchemeListsKnown(t *testing.T) {
	var m mailer.URLMux
	m.Register("smtp", opener(nil))
	m.Register("mem", opener(nil))
	m.RegisterComposite("failover", composite("failover"))
	for _, u := range []string{"sendgrid://key@api", "no-scheme-here", "/var/mail"} {
		_, err := m.OpenTransport(context.Background(), u)
		if mailer.CodeOf(err) != transport.InvalidArgument || !strings.Contains(err.Error(), "failover(...), mem, smtp") {
			t.Errorf("%s: %v, want InvalidArgument listing the known schemes", u, err)
		}
	}
	if got, want := m.Schemes(), []string{"failover(...)", "mem", "smtp"}; !slices.Equal(got, want) {
		t.Errorf("Schemes = %v, want %v", got, want)
	}
}

func TestURLMuxDuplicatePanics(t *testing.T) {
	var m mailer.URLMux
	m.Register("smtp", opener(nil))
	m.RegisterComposite("failover", composite("f"))
	for name, f := range map[string]func(){
		"scheme, other case": func() { m.Register("SMTP", opener(nil)) },
		"composite":          func() { m.RegisterComposite("Failover", composite("f")) },
	} {
		func() {
			defer func() {
				r := recover()
				if r == nil || !strings.Contains(r.(string), "registered twice") {
					t.Errorf("%s: recover() = %v, want a panic naming the duplicate", name, r)
				}
			}()
			f()
		}()
	}
}

func TestURLMuxRedactsPasswords(t *testing.T) {
	var m mailer.URLMux
	m.Register("smtp", opener(nil))
	for _, u := range []string{
		"unknown://user:s3cret@host",
		"smtp://user:s3cret@host:badport",
		"smtp://user:s3cret@ho st",
		"smtp://user:s3cret@[::1",
		"user:s3cret@host", // forgot the scheme: parses as scheme "user"
		"nosuch(smtp://user:s3cret@host)",
		"failover(smtp://user:s3cret@host:bad)",
	} {
		_, err := m.OpenTransport(context.Background(), u)
		if err == nil {
			t.Errorf("%s: no error", u)
			continue
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%s: error shows the password: %v", u, err)
		}
	}
}

func TestURLMuxComposite(t *testing.T) {
	var m mailer.URLMux
	closed := 0
	m.Register("a", opener(&closed))
	m.Register("b", opener(&closed))
	m.RegisterComposite("failover", composite("failover"))
	m.RegisterComposite("roundrobin", composite("roundrobin"))
	ctx := context.Background()

	tr, err := m.OpenTransport(ctx, " Failover(a://one \t b://two?x=1\n a://three) ")
	if err != nil {
		t.Fatal(err)
	}
	if got := urls(tr.(*named).members); !slices.Equal(got, []string{"a://one", "b://two?x=1", "a://three"}) {
		t.Errorf("members = %v", got)
	}

	tr, err = m.OpenTransport(ctx, "failover(roundrobin(a://1 a://2) b://3 roundrobin(failover(a://4 a://5)))")
	if err != nil {
		t.Fatal(err)
	}
	top := tr.(*named)
	if top.url != "failover" || len(top.members) != 3 {
		t.Fatalf("top = %+v", top)
	}
	rr := top.members[0].(*named)
	if rr.url != "roundrobin" || !slices.Equal(urls(rr.members), []string{"a://1", "a://2"}) {
		t.Errorf("first member = %s %v", rr.url, urls(rr.members))
	}
	deep := top.members[2].(*named).members[0].(*named)
	if deep.url != "failover" || !slices.Equal(urls(deep.members), []string{"a://4", "a://5"}) {
		t.Errorf("nested member = %s %v", deep.url, urls(deep.members))
	}

	for _, bad := range []string{"failover()", "failover(  )", "nosuch(a://1)", "failover(a://1 c://2)", "failover(a://1 (a://2)"} {
		if _, err := m.OpenTransport(ctx, bad); mailer.CodeOf(err) != transport.InvalidArgument {
			t.Errorf("%q: err = %v, want InvalidArgument", bad, err)
		}
	}

	// A member that fails to open closes the ones already opened.
	closed = 0
	if _, err := m.OpenTransport(ctx, "failover(a://1 b://2 a://3?fail=1)"); err == nil || !strings.Contains(err.Error(), "refused by opener") {
		t.Errorf("failing member: %v", err)
	}
	if closed != 2 {
		t.Errorf("closed %d members after a failure, want 2", closed)
	}
	// So does a composite opener that fails.
	m.RegisterComposite("broken", func(context.Context, []transport.Transport) (transport.Transport, error) {
		return nil, errors.New("broken composite")
	})
	closed = 0
	if _, err := m.OpenTransport(ctx, "broken(a://1 a://2)"); err == nil || closed != 2 {
		t.Errorf("failing composite: err %v, closed %d, want 2", err, closed)
	}
}

func urls(ts []transport.Transport) []string {
	var s []string
	for _, t := range ts {
		s = append(s, t.(*named).url)
	}
	return s
}

func TestURLMuxConcurrent(t *testing.T) {
	var m mailer.URLMux
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			m.Register("s"+string(rune('a'+i)), opener(nil))
		}()
		go func() {
			defer wg.Done()
			_, _ = m.OpenTransport(context.Background(), "sa://x")
			_ = m.Schemes()
		}()
	}
	wg.Wait()
	if len(m.Schemes()) != 10 {
		t.Errorf("Schemes = %v", m.Schemes())
	}
}

func TestDefaultURLMux(t *testing.T) {
	if mailer.DefaultURLMux() != mailer.DefaultURLMux() {
		t.Error("DefaultURLMux returns different muxes")
	}
	if !slices.Contains(mailer.DefaultURLMux().Schemes(), memmail.Scheme) {
		t.Errorf("memmail did not register %q: %v", memmail.Scheme, mailer.DefaultURLMux().Schemes())
	}
	c, err := mailer.OpenMailer(context.Background(), "mem://")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Send(context.Background(), validMessage()); err != nil {
		t.Error(err)
	}
}
