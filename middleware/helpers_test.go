package middleware_test

import (
	"net/mail"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/postiemail/postie/transport"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testMessage returns a normalized message with the given envelope recipients, all in To.
func testMessage(rcpts ...string) *transport.Message {
	m := &transport.Message{
		Envelope:  transport.Envelope{From: "app@example.com", To: rcpts},
		From:      mail.Address{Name: "App", Address: "app@example.com"},
		Subject:   "Your receipt",
		Date:      time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		MessageID: "0123456789abcdef@example.com",
		Text:      "Thanks for your order.\n",
	}
	for _, r := range rcpts {
		m.To = append(m.To, mail.Address{Address: r})
	}
	return m
}

func reply(code int, en transport.Enhanced, text string) *transport.Error {
	return transport.ClassifyReply(&transport.Reply{Code: code, Enhanced: en, Lines: []string{text}})
}

var (
	errGreylisted = func() *transport.Error { return reply(450, transport.Enhanced{4, 2, 1}, "greylisted, try later") }
	errNoSuchUser = func() *transport.Error { return reply(550, transport.Enhanced{5, 1, 1}, "no such user") }
	errShutdown   = func() *transport.Error { return reply(421, transport.Enhanced{4, 3, 2}, "service shutting down") }
	errAuth       = func() *transport.Error { return reply(535, transport.Enhanced{5, 7, 8}, "bad credentials") }
)
