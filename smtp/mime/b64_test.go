package mime

import (
	"bytes"
	"encoding/base64"
	"math/rand/v2"
	"testing"
)

// wantBase64 is encoding/base64's encoding of src cut into lines of 76 characters joined
// by CRLF, with no CRLF after the last: what out.base64 must write for one part.
func wantBase64(src []byte) []byte {
	enc := base64.StdEncoding.EncodeToString(src)
	var b bytes.Buffer
	for i := 0; i < len(enc); i += b64Out {
		if i > 0 {
			b.WriteString("\r\n")
		}
		b.WriteString(enc[i:min(i+b64Out, len(enc))])
	}
	return b.Bytes()
}

// encodeWith runs out.base64 over src as stream does: in pieces of whole lines (piece
// lines at a time, 0 meaning all at once), into an output buffer of bufCap bytes.
func encodeWith(src []byte, piece, bufCap int) ([]byte, int64) {
	var w bytes.Buffer
	o := &out{w: &w, buf: make([]byte, 0, bufCap)}
	first := true
	if piece == 0 {
		first = o.base64(src, first)
	}
	for len(src) > 0 && piece > 0 {
		k := min(piece*b64In, len(src))
		first = o.base64(src[:k], first)
		src = src[k:]
	}
	o.flush()
	if o.err != nil {
		panic(o.err)
	}
	_ = first
	return w.Bytes(), o.n
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// TestBase64MatchesStdlib compares the line encoder with encoding/base64 byte for byte
// for every input length from 0 to 10000 on random data, whole and streamed in pieces,
// through output buffers small enough to flush between lines, and checks that b64Len
// (what Size counts) agrees.
func TestBase64MatchesStdlib(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	src := make([]byte, 10000)
	for i := range src {
		src[i] = byte(r.Uint32())
	}
	for n := 0; n <= len(src); n++ {
		data := src[:n]
		if n%7 == 0 { // fresh bytes now and then, so each length does not see only a prefix
			for i := range data {
				data[i] = byte(r.Uint32())
			}
		}
		want := wantBase64(data)
		for _, c := range []struct{ piece, bufCap int }{{0, bufSize}, {1, b64Line}, {3, 5*b64Line + 7}, {0, 2*b64Line + 1}} {
			got, written := encodeWith(data, c.piece, c.bufCap)
			if !bytes.Equal(got, want) {
				i := firstDiff(got, want)
				t.Fatalf("len %d, pieces of %d lines, buffer %d: output differs from encoding/base64 at byte %d of %d (got %q, want %q)",
					n, c.piece, c.bufCap, i, len(want), got[i:min(i+16, len(got))], want[i:min(i+16, len(want))])
			}
			if written != int64(len(want)) {
				t.Fatalf("len %d: wrote %d bytes, want %d", n, written, len(want))
			}
		}
		if l := b64Len(int64(n)); l != int64(len(want)) {
			t.Fatalf("b64Len(%d) = %d, want %d", n, l, len(want))
		}
	}
}

// TestEncodeLineEdges checks encodeLine on lines that hit every table entry at every
// position: each 12-bit value placed in each of the 38 half-groups of a line.
func TestEncodeLineEdges(t *testing.T) {
	var src [b64In]byte
	var dst [b64Out]byte
	for v := 0; v < 4096; v++ {
		for i := range src {
			// Half-group k holds bits 12k..12k+11 of the line; fill every one with v by
			// repeating the 3-byte pattern of two copies of v.
			p := [3]byte{byte(v >> 4), byte(v<<4) | byte(v>>8), byte(v)}
			src[i] = p[i%3]
		}
		encodeLine(&dst, &src)
		if want := base64.StdEncoding.EncodeToString(src[:]); string(dst[:]) != want {
			t.Fatalf("value %#03x: got %q, want %q", v, dst[:], want)
		}
		for i := range src {
			src[i] = byte(v*31 + i*i*7 + i>>2) // varied bytes around the repeated ones
		}
		encodeLine(&dst, &src)
		if want := base64.StdEncoding.EncodeToString(src[:]); string(dst[:]) != want {
			t.Fatalf("mixed line %d: got %q, want %q", v, dst[:], want)
		}
	}
}

// FuzzBase64 compares the part encoder with encoding/base64 on arbitrary data, piece
// sizes and output buffer sizes.
func FuzzBase64(f *testing.F) {
	f.Add([]byte(""), uint8(0), uint16(0))
	f.Add([]byte("hello, world"), uint8(1), uint16(0))
	f.Add(bytes.Repeat([]byte{0xff, 0, 0x80}, 200), uint8(2), uint16(100))
	f.Fuzz(func(t *testing.T, data []byte, piece uint8, extra uint16) {
		bufCap := b64Line + int(extra)
		want := wantBase64(data)
		got, _ := encodeWith(data, int(piece%8), bufCap)
		if !bytes.Equal(got, want) {
			i := firstDiff(got, want)
			t.Fatalf("len %d: differs from encoding/base64 at byte %d", len(data), i)
		}
	})
}

// BenchmarkEncodeLine compares the line encoder with encoding/base64 on the same 1 MiB
// cut into lines.
func BenchmarkEncodeLine(b *testing.B) {
	const n = (1 << 20) / b64In * b64In
	src := make([]byte, n)
	r := rand.New(rand.NewPCG(3, 4))
	for i := range src {
		src[i] = byte(r.Uint32())
	}
	dst := make([]byte, n/b64In*b64Out)
	b.Run("postie", func(b *testing.B) {
		b.SetBytes(n)
		for b.Loop() {
			for i, j := 0, 0; i < n; i, j = i+b64In, j+b64Out {
				encodeLine((*[b64Out]byte)(dst[j:j+b64Out]), (*[b64In]byte)(src[i:i+b64In]))
			}
		}
	})
	b.Run("stdlib", func(b *testing.B) {
		b.SetBytes(n)
		for b.Loop() {
			for i, j := 0, 0; i < n; i, j = i+b64In, j+b64Out {
				base64.StdEncoding.Encode(dst[j:j+b64Out], src[i:i+b64In])
			}
		}
	})
}
