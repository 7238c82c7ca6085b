package smtp

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/postiemail/postie/transport"
)

func readOne(s string) (*transport.Reply, error) {
	rr := replyReader{r: bufio.NewReaderSize(strings.NewReader(s), MaxReplyLineLen)}
	if err := rr.read(nil); err != nil {
		return nil, err
	}
	return rr.reply(), nil
}

func TestReadReply(t *testing.T) {
	cases := []struct {
		in   string
		want transport.Reply
	}{
		{"250 ok\r\n", transport.Reply{Code: 250, Lines: []string{"ok"}}},
		{"250\r\n", transport.Reply{Code: 250, Lines: []string{""}}},
		{"250 ok\n", transport.Reply{Code: 250, Lines: []string{"ok"}}}, // bare LF tolerated
		{"550 5.1.1 <x@y>: no such user\r\n", transport.Reply{Code: 550, Enhanced: transport.Enhanced{5, 1, 1}, Lines: []string{"<x@y>: no such user"}}},
		{"250-mail.test\r\n250-PIPELINING\r\n250 SIZE 100\r\n", transport.Reply{Code: 250, Lines: []string{"mail.test", "PIPELINING", "SIZE 100"}}},
		{"452-4.5.3 Too many\r\n452 4.5.3 recipients\r\n", transport.Reply{Code: 452, Enhanced: transport.Enhanced{4, 5, 3}, Lines: []string{"Too many", "recipients"}}},
		{"250 2.0.0\r\n", transport.Reply{Code: 250, Enhanced: transport.Enhanced{2, 0, 0}, Lines: []string{""}}},
		// The enhanced class must agree with the code; otherwise it is text.
		{"550 4.1.1 odd\r\n", transport.Reply{Code: 550, Lines: []string{"4.1.1 odd"}}},
		{"250 2.0 not enhanced\r\n", transport.Reply{Code: 250, Lines: []string{"2.0 not enhanced"}}},
		{"250 2.0.0000 too long\r\n", transport.Reply{Code: 250, Lines: []string{"2.0.0000 too long"}}},
		{"250 2.123.456 max\r\n", transport.Reply{Code: 250, Enhanced: transport.Enhanced{2, 123, 456}, Lines: []string{"max"}}},
	}
	for _, tc := range cases {
		got, err := readOne(tc.in)
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if !reflect.DeepEqual(*got, tc.want) {
			t.Errorf("%q:\n got %+v\nwant %+v", tc.in, *got, tc.want)
		}
	}
	for _, bad := range []string{"", "25", "abc ok\r\n", "650 x\r\n", "250x\r\n", "250-a\r\n251 b\r\n", "250-a\r\n", "\r\n",
		strings.Repeat("250-x\r\n", MaxReplyLines) + "250 x\r\n", "250 " + strings.Repeat("a", MaxReplyLineLen) + "\r\n"} {
		if r, err := readOne(bad); err == nil {
			t.Errorf("%.40q parsed as %+v", bad, r)
		}
	}
	// Exactly at the bounds is fine.
	if _, err := readOne(strings.Repeat("250-x\r\n", MaxReplyLines-1) + "250 x\r\n"); err != nil {
		t.Errorf("%d lines: %v", MaxReplyLines, err)
	}
	if _, err := readOne("250 " + strings.Repeat("a", MaxReplyLineLen-6) + "\r\n"); err != nil {
		t.Errorf("a %d byte line: %v", MaxReplyLineLen, err)
	}
}

func FuzzReadReply(f *testing.F) {
	for _, s := range []string{"250 ok\r\n", "250-a\r\n250 b\r\n", "550 5.1.1 no\r\n", "421-4.7.0 x\r\n421 4.7.0 y\r\n",
		"334 VXNlcm5hbWU6\r\n", "250 2.0.0\r\n", "2", "250-\r\n250\r\n", "599 9.9.9 x\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		rr := replyReader{r: bufio.NewReaderSize(bytes.NewReader(data), MaxReplyLineLen)}
		for range 10 {
			err := rr.read(nil)
			if err != nil {
				if !errors.Is(err, ErrProtocol) && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Fatalf("error %v is neither a protocol error nor EOF", err)
				}
				if errors.Is(err, ErrProtocol) && transport.CodeOf(err) != transport.Internal {
					t.Fatalf("protocol error %v classified %v", err, transport.CodeOf(err))
				}
				return
			}
			r := rr.reply()
			if r.Code < 200 || r.Code > 599 || len(r.Lines) == 0 || len(r.Lines) > MaxReplyLines {
				t.Fatalf("reply %+v out of bounds", r)
			}
			if e := r.Enhanced; !e.IsZero() && (e[0] != r.Code/100 || e[1] > 999 || e[2] > 999) {
				t.Fatalf("enhanced code %v for %d", e, r.Code)
			}
			for _, l := range r.Lines {
				if len(l) > MaxReplyLineLen || strings.ContainsAny(l, "\n") {
					t.Fatalf("line %q", l)
				}
			}
			_ = transport.ClassifyReply(r)
			_ = r.String()
		}
	})
}

func TestParseExtensions(t *testing.T) {
	x := parseExtensions([]string{"SIZE", "size 99999999999999999999", "AUTH=LOGIN", "auth plain Login", "-BAD", "", "  PIPELINING  "})
	if x.size != 0 || !equal(x.auth, "LOGIN", "PLAIN") || !x.pipelining || x.params["AUTH"] != "LOGIN PLAIN" {
		t.Errorf("%+v", x)
	}
	if _, ok := x.params["-BAD"]; ok {
		t.Error("an invalid keyword was kept")
	}
	if x := parseExtensions([]string{"SIZE 0"}); x.size != 0 {
		t.Errorf("SIZE 0 = %d", x.size)
	}
	if x := parseExtensions([]string{"SIZE -5"}); x.size != 0 {
		t.Errorf("SIZE -5 = %d", x.size)
	}
}

func equal(got []string, want ...string) bool { return reflect.DeepEqual(got, want) }

func FuzzParseExtensions(f *testing.F) {
	for _, s := range []string{"SIZE 1000\nPIPELINING\nAUTH PLAIN LOGIN", "AUTH=LOGIN\nauth cram-md5", "8BITMIME\nX-EXT a b c",
		"SIZE\nSIZE 9223372036854775808", "\x00\xff\n-", "STARTTLS\nREQUIRETLS\nDSN\nCHUNKING"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		x := parseExtensions(strings.Split(s, "\n"))
		if x.size < 0 {
			t.Fatalf("negative size %d", x.size)
		}
		for k := range x.params {
			if k == "" || k != strings.ToUpper(k) || !validKeyword(k) {
				t.Fatalf("keyword %q", k)
			}
		}
		for _, m := range x.auth {
			if m == "" || m != strings.ToUpper(m) || strings.ContainsAny(m, " \t") {
				t.Fatalf("mechanism %q", m)
			}
		}
		if _, ok := x.params["SIZE"]; !ok && x.size != 0 {
			t.Fatal("a size without SIZE")
		}
	})
}
