package mimebench

import (
	"io"
	"testing"
	"time"

	"github.com/postiemail/postie/bench/internal/fixture"
	"github.com/postiemail/postie/bench/internal/libs"
	"github.com/postiemail/postie/bench/internal/stdmime"
)

// counter counts what is written to it.
type counter struct{ n int64 }

func (c *counter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// renderers writes fixture f with each library, building its message from f first.
var renderers = []struct {
	name   string
	render func(w io.Writer, f *fixture.Fixture) error
}{
	{"postie", func(w io.Writer, f *fixture.Fixture) error { return libs.PostieWrite(w, f, nil, 0) }},
	{"stdlib", func(w io.Writer, f *fixture.Fixture) error {
		return stdmime.Write(w, f, time.Now(), "id@shop.example")
	}},
	{"jw", func(w io.Writer, f *fixture.Fixture) error {
		b, err := libs.JWEmail(f).Bytes()
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	}},
	{"gomail", func(w io.Writer, f *fixture.Fixture) error {
		m, err := libs.GoMailMsg(f, nil)
		if err != nil {
			return err
		}
		_, err = m.WriteTo(w)
		return err
	}},
	{"gomessage", func(w io.Writer, f *fixture.Fixture) error {
		return libs.GoMessageWrite(w, f, time.Now(), "id@shop.example", nil)
	}},
}

func BenchmarkMIME(b *testing.B) {
	for _, k := range fixture.Kinds {
		f := fixture.Get(k)
		for _, r := range renderers {
			b.Run("kind="+string(k)+"/lib="+r.name, func(b *testing.B) {
				var c counter
				if err := r.render(&c, f); err != nil {
					b.Skipf("%s cannot render: %v", r.name, err)
				}
				b.SetBytes(c.n)
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					if err := r.render(&c, f); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// TestRenderersProduceMail checks that every renderer writes a parseable message that
// carries the fixture's subject, so the benchmark compares real work.
func TestRenderersProduceMail(t *testing.T) {
	for _, k := range fixture.Kinds {
		f := fixture.Get(k)
		for _, r := range renderers {
			t.Run(string(k)+"/"+r.name, func(t *testing.T) {
				checkMessage(t, f, func(w io.Writer) error { return r.render(w, f) })
			})
		}
	}
}
