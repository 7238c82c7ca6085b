package mailertest

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"

	"github.com/postiemail/postie/smtp/mime"
)

// UpdateEnv is the environment variable that makes AssertGolden rewrite golden files:
// POSTIE_UPDATE_GOLDEN=1 go test ./... . An environment variable rather than a flag, so
// importing mailertest registers nothing and clashes with no test package's own -update.
const UpdateEnv = "POSTIE_UPDATE_GOLDEN"

// Updating reports whether golden files are being rewritten.
func Updating() bool {
	v := os.Getenv(UpdateEnv)
	return v != "" && v != "0" && v != "false"
}

// Raw renders s as the RFC 5322 bytes an SMTP server would receive, with smtp/mime.
func (s *Sent) Raw() ([]byte, error) {
	var b bytes.Buffer
	if err := mime.Write(&b, s.Message, nil); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

var (
	boundaryParam = regexp.MustCompile(`(?i)boundary="?([^";\r\n]+)"?`)
	volatileField = regexp.MustCompile(`(?im)^(Date|Message-Id|Resent-Date|Resent-Message-Id):[^\r\n]*(\r?\n[ \t][^\r\n]*)*`)
)

// Mask replaces what changes from run to run in a rendered message: each MIME boundary
// becomes BOUNDARY-1, BOUNDARY-2, ... in order of appearance, and the values of Date and
// Message-ID (and their Resent- forms) become MASKED.
func Mask(raw []byte) []byte {
	var bounds []string
	seen := map[string]bool{}
	for _, m := range boundaryParam.FindAllSubmatch(raw, -1) {
		if b := string(m[1]); !seen[b] {
			seen[b] = true
			bounds = append(bounds, b)
		}
	}
	// Longest first, so a boundary that is a prefix of another does not cut it up.
	order := make([]int, len(bounds))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return len(bounds[b]) - len(bounds[a]) })
	out := raw
	for _, i := range order {
		out = bytes.ReplaceAll(out, []byte(bounds[i]), fmt.Appendf(nil, "BOUNDARY-%d", i+1))
	}
	return volatileField.ReplaceAllFunc(out, func(field []byte) []byte {
		name := field[:bytes.IndexByte(field, ':')]
		return append(append([]byte(nil), name...), ": MASKED"...)
	})
}

// AssertGolden compares raw, masked with Mask, with testdata/<name>.golden and fails t
// with the first difference. Run the tests with
// POSTIE_UPDATE_GOLDEN=1 to write the file instead.
func AssertGolden(t testing.TB, name string, raw []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	got := Mask(raw)
	if Updating() {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatalf("mailertest: %v", err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatalf("mailertest: %v", err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("mailertest: golden file %s: %v (run the tests with "+UpdateEnv+"=1 to create it)", path, err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("mailertest: output differs from %s (run the tests with "+UpdateEnv+"=1 to accept it)\n%s", path, lineDiff(got, want))
	}
}

// lineDiff shows the first differing line of two texts.
func lineDiff(got, want []byte) string {
	g, w := bytes.SplitAfter(got, []byte("\n")), bytes.SplitAfter(want, []byte("\n"))
	for i := 0; i < max(len(g), len(w)); i++ {
		var gl, wl []byte
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if !bytes.Equal(gl, wl) {
			return fmt.Sprintf("\tline %d:\n\tgot:  %q\n\twant: %q", i+1, gl, wl)
		}
	}
	return "\t(no line differs)"
}
