package mime_test

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net/mail"
	"strings"
	"testing"

	"github.com/postiemail/postie/smtp/mime"
	"github.com/postiemail/postie/transport"
)

func TestSizeStructures(t *testing.T) {
	for _, c := range structures() {
		for _, allow := range []bool{false, true} {
			opts := &mime.Options{Allow8Bit: allow}
			raw := render(t, c.m, opts)
			n, err := mime.Size(c.m, opts)
			if err != nil || n != int64(len(raw)) {
				t.Errorf("%s (8bit %v): Size = %d (%v), Write wrote %d", c.name, allow, n, err, len(raw))
			}
		}
	}
}

// TestRandomMessages renders many random messages: Size must match Write, and every
// message must parse back (strictly) to what went in.
func TestRandomMessages(t *testing.T) {
	n := 600
	if testing.Short() {
		n = 100
	}
	r := rand.New(rand.NewPCG(1, 2))
	for i := range n {
		m := randomMessage(r, i)
		opts := &mime.Options{Allow8Bit: r.IntN(2) == 0}
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			var b strings.Builder
			werr := mime.Write(&b, m, opts)
			size, serr := mime.Size(m, opts)
			if werr != nil {
				if serr == nil || b.Len() != 0 {
					t.Fatalf("Write failed (%v) but Size did not (%v) or bytes were written (%d)", werr, serr, b.Len())
				}
				return
			}
			raw := []byte(b.String())
			if serr != nil || size != int64(len(raw)) {
				t.Fatalf("Size = %d (%v), Write wrote %d", size, serr, len(raw))
			}
			checkLines(t, raw)
			checkDotStuff(t, m, opts, raw)
			msg, root := parseMessage(t, raw)
			checkHeaders(t, m, msg.Header, raw)
			checkContent(t, m, root)
			checkJordanWright(t, m, raw, root.parts == nil)
		})
	}
}

var pieces = []string{"a", "b", "Hello", " ", " ", " ", "  ", "\t", "\n", "\r", "\r\n", "\n\n", "ü", "ß", "日本", "🎉",
	"=", "?", "=?", "?=", "_", `"`, `\`, ",", ";", "<", ">", "@", ".", "-", "--=_", "\x00", "\x01", "\x7f", "\xff",
	"=?UTF-8?Q?x?=", "From ", "."}

func randomText(r *rand.Rand, max int, lineBreaks bool) string {
	var b strings.Builder
	for range r.IntN(max + 1) {
		p := pieces[r.IntN(len(pieces))]
		if r.IntN(40) == 0 {
			p = strings.Repeat("x", 50+r.IntN(1200))
		}
		if !lineBreaks {
			p = strings.NewReplacer("\r", "", "\n", "").Replace(p)
		}
		b.WriteString(p)
	}
	return b.String()
}

var randomAddrs = []string{"ann@example.org", "first.last+tag@example.com", "o'brien@example.ie", "x@[192.0.2.7]",
	"jürgen@bücher.example", "john doe@example.org", `q"uote@example.org`, "a..b@example.org", "z@sub.example.co.uk"}

func randomAddress(r *rand.Rand) mail.Address {
	a := mail.Address{Address: randomAddrs[r.IntN(len(randomAddrs))]}
	if r.IntN(3) > 0 {
		a.Name = randomText(r, 8, false)
	}
	return a
}

func randomMessage(r *rand.Rand, i int) *transport.Message {
	m := base()
	m.From = randomAddress(r)
	m.To, m.Cc = nil, nil
	for range r.IntN(4) {
		m.To = append(m.To, randomAddress(r))
	}
	for range r.IntN(3) {
		m.Cc = append(m.Cc, randomAddress(r))
	}
	if r.IntN(3) == 0 {
		m.ReplyTo = []mail.Address{randomAddress(r)}
	}
	m.Subject = randomText(r, 12, false)
	m.MessageID = fmt.Sprintf("%d.%x@random.example", i, r.Uint64())
	if r.IntN(3) > 0 {
		m.Text = randomText(r, 60, true)
	}
	if r.IntN(2) == 0 {
		m.HTML = randomText(r, 60, true)
	}
	for j := range r.IntN(3) {
		types := []string{"text/calendar; method=REQUEST", "application/json", "text/x-amp-html; charset=utf-8"}
		m.Alternatives = append(m.Alternatives, transport.Alternative{ContentType: types[j], Body: []byte(randomText(r, 30, true))})
	}
	for j := range r.IntN(4) {
		a := transport.Attachment{
			Filename:    fmt.Sprintf("%d-%s", j, randomText(r, 6, false)),
			ContentType: []string{"", "application/pdf", "image/png", "text/plain; charset=utf-8", "text/csv"}[r.IntN(5)],
		}
		data := []byte(randomText(r, 40, true))
		if r.IntN(2) == 0 {
			data = pseudo(r.IntN(5000), r.Uint32())
		}
		switch r.IntN(3) {
		case 0:
			a.Data = data
		case 1:
			a.Open, a.Size = opener(data, nil), int64(len(data))
		default:
			a.Open = func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(string(data))), nil }
		}
		if r.IntN(3) == 0 {
			a.Inline, a.ContentID = true, fmt.Sprintf("part%d@random", j)
		}
		m.Attachments = append(m.Attachments, a)
	}
	for j := range r.IntN(4) {
		m.Headers = append(m.Headers, transport.Field{Name: fmt.Sprintf("X-Random-%d", j), Value: randomText(r, 10, false)})
	}
	return m
}
