package middleware_test

import (
	"context"
	"net/mail"
	"slices"
	"testing"

	"github.com/postiemail/postie/middleware"
	"github.com/postiemail/postie/transport"
	"github.com/postiemail/postie/transport/memmail"
)

func addrs(l []mail.Address) []string {
	var s []string
	for _, a := range l {
		s = append(s, a.Address)
	}
	return s
}

// stagingMessage has To, Cc and Bcc recipients, like one a mailer.Client prepared.
func stagingMessage() *transport.Message {
	m := testMessage()
	m.To = []mail.Address{{Name: "Ann", Address: "ann@example.com"}, {Address: "bob@customer.org"}}
	m.Cc = []mail.Address{{Address: "cat@eu.corp.example"}}
	m.Bcc = []mail.Address{{Address: "audit@corp.example"}}
	m.Envelope.To = []string{"ann@example.com", "bob@customer.org", "cat@eu.corp.example", "audit@corp.example"}
	return m
}

func TestRedirectSendsEverythingToOneAddress(t *testing.T) {
	mem := memmail.New(nil)
	m := stagingMessage()
	r, err := middleware.Redirect("QA <qa@staging.example>")(mem).Send(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(r.Accepted, []string{"qa@staging.example"}) {
		t.Errorf("accepted %v", r.Accepted)
	}
	got := mem.Messages()[0]
	if !slices.Equal(got.Envelope.To, []string{"qa@staging.example"}) || !slices.Equal(addrs(got.To), []string{"qa@staging.example"}) ||
		got.To[0].Name != "QA" || len(got.Cc) != 0 || len(got.Bcc) != 0 {
		t.Errorf("delivered envelope %v To %v Cc %v Bcc %v; want only QA everywhere", got.Envelope.To, got.To, got.Cc, got.Bcc)
	}
	orig, _ := got.Header(middleware.HeaderOriginalRecipients)
	if orig != "ann@example.com, bob@customer.org, cat@eu.corp.example" {
		t.Errorf("%s = %q, want To and Cc, never Bcc", middleware.HeaderOriginalRecipients, orig)
	}
	if len(m.Envelope.To) != 4 || len(m.Bcc) != 1 || len(m.Headers) != 0 {
		t.Error("the caller's message was modified")
	}
}

func TestRedirectRejectsAMalformedAddress(t *testing.T) {
	mem := memmail.New(nil)
	_, err := middleware.Redirect("not an address")(mem).Send(context.Background(), stagingMessage())
	if transport.CodeOf(err) != transport.InvalidArgument || mem.Attempts() != 0 {
		t.Fatalf("err = %v after %d attempts, want InvalidArgument and nothing sent", err, mem.Attempts())
	}
}

func TestAllowListDropsOtherRecipients(t *testing.T) {
	mem := memmail.New(nil)
	m := stagingMessage()
	tr := middleware.AllowList("EXAMPLE.com", "*.corp.example", "qa@other.org")(mem)
	r, err := tr.Send(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(r.Accepted, []string{"ann@example.com", "cat@eu.corp.example"}) {
		t.Errorf("accepted %v", r.Accepted)
	}
	got := mem.Messages()[0]
	if !slices.Equal(addrs(got.To), []string{"ann@example.com"}) || !slices.Equal(addrs(got.Cc), []string{"cat@eu.corp.example"}) || len(got.Bcc) != 0 {
		t.Errorf("To %v Cc %v Bcc %v: want bob and the apex-domain Bcc dropped", got.To, got.Cc, got.Bcc)
	}
	if got.To[0].Name != "Ann" {
		t.Error("display name lost")
	}
	if orig, _ := got.Header(middleware.HeaderOriginalRecipients); orig != "ann@example.com, bob@customer.org, cat@eu.corp.example" {
		t.Errorf("%s = %q", middleware.HeaderOriginalRecipients, orig)
	}
}

func TestAllowListKeepsAnAllowedMessageAsItIs(t *testing.T) {
	var seen *transport.Message
	fake := transport.SendFunc(func(_ context.Context, m *transport.Message) (*transport.Receipt, error) {
		seen = m
		return &transport.Receipt{Accepted: m.Envelope.To}, nil
	})
	m := testMessage("ann@example.com", "Bob@Example.COM")
	if _, err := middleware.AllowList("example.com")(fake).Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	if seen != m {
		t.Error("an all-allowed message was copied or rewritten")
	}
}

func TestAllowListRefusesWhenNoneRemain(t *testing.T) {
	mem := memmail.New(nil)
	_, err := middleware.AllowList("qa@example.com")(mem).Send(context.Background(), testMessage("bob@customer.org"))
	if transport.CodeOf(err) != transport.PermissionDenied || transport.IsTemporary(err) || mem.Attempts() != 0 {
		t.Fatalf("err = %v after %d attempts, want permanent PermissionDenied and nothing sent", err, mem.Attempts())
	}
}

func TestAllowListRejectsBadLists(t *testing.T) {
	for _, list := range [][]string{nil, {""}, {"a b.example"}, {"<qa@example.com>"}} {
		_, err := middleware.AllowList(list...)(memmail.New(nil)).Send(context.Background(), testMessage("ann@example.com"))
		if transport.CodeOf(err) != transport.InvalidArgument {
			t.Errorf("AllowList(%q): err = %v, want InvalidArgument", list, err)
		}
	}
}

// Stacked staging middleware keep the first record of the original recipients.
func TestStagingHeaderIsWrittenOnce(t *testing.T) {
	mem := memmail.New(nil)
	tr := transport.Chain(middleware.AllowList("example.com"), middleware.Redirect("qa@example.com"))(mem)
	if _, err := tr.Send(context.Background(), stagingMessage()); err != nil {
		t.Fatal(err)
	}
	got := mem.Messages()[0]
	n := 0
	for _, f := range got.Headers {
		if f.Name == middleware.HeaderOriginalRecipients {
			n++
			if f.Value != "ann@example.com, bob@customer.org, cat@eu.corp.example" {
				t.Errorf("header = %q, want the first middleware's record", f.Value)
			}
		}
	}
	if n != 1 {
		t.Errorf("%d %s headers, want 1", n, middleware.HeaderOriginalRecipients)
	}
}
