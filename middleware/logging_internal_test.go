package middleware

import "testing"

func TestRedactAddresses(t *testing.T) {
	for in, want := range map[string]string{
		"": "",
		"dial tcp 127.0.0.1:25: connection refused": "dial tcp 127.0.0.1:25: connection refused",
		"550 5.1.1 <bob@example.com>: no such user": "550 5.1.1 <[redacted]>: no such user",
		"recipient <a@x>; recipient <b@y>":          "recipient <[redacted]>; recipient <[redacted]>",
		"send <id@host>: to=a@b.c, c@d.e":           "send <[redacted]>: [redacted], [redacted]",
		"mailbox \"ann@example.com\" full":          "mailbox \"[redacted]\" full",
		"@":                                         "[redacted]",
		"trailing space @x ":                        "trailing space [redacted] ",
	} {
		if got := redactAddresses(in); got != want {
			t.Errorf("redactAddresses(%q) = %q, want %q", in, got, want)
		}
	}
}
