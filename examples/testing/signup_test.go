package main

import (
	"context"
	"net/mail"
	"testing"

	"github.com/postiemail/postie/mailer"
	"github.com/postiemail/postie/mailer/mailertest"
	"github.com/postiemail/postie/transport"
)

func TestSignUpSendsConfirmation(t *testing.T) {
	rec := mailertest.NewRecorder(nil)
	s := &Signups{Mail: rec, From: mail.Address{Address: "hello@shop.example"}}

	if err := s.SignUp(context.Background(), "Ann", "ann@example.org", "abc"); err != nil {
		t.Fatal(err)
	}

	rec.AssertSentCount(t, 1)
	rec.AssertSentTo(t, "ann@example.org").
		AssertSubject(t, "Confirm your account").
		AssertTextContains(t, "confirm?t=abc").
		AssertHeaderEquals(t, "X-Campaign", "signup")
}

func TestSignUpReportsRefusedRecipient(t *testing.T) {
	rec := mailertest.NewRecorder(nil)
	rec.Transport().RejectRecipient("gone@example.org", &transport.Error{Code: transport.NotFound})
	s := &Signups{Mail: rec, From: mail.Address{Address: "hello@shop.example"}}

	err := s.SignUp(context.Background(), "Gone", "gone@example.org", "abc")
	if mailer.CodeOf(err) != mailer.NotFound {
		t.Fatalf("SignUp error = %v, want NotFound", err)
	}
	rec.AssertNothingSent(t)
}

func TestSignUpRejectsHeaderInjection(t *testing.T) {
	rec := mailertest.NewRecorder(nil)
	s := &Signups{Mail: rec, From: mail.Address{Address: "hello@shop.example"}}

	err := s.SignUp(context.Background(), "Eve\r\nBcc: victim@example.org", "eve@example.org", "abc")
	if mailer.CodeOf(err) != mailer.InvalidArgument {
		t.Fatalf("SignUp error = %v, want InvalidArgument", err)
	}
	rec.AssertNothingSent(t)
}
