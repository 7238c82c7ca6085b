package mime_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// TestGolden compares every structure with its golden file, byte for byte. Run
// `go test -run TestGolden -update` after an intended change and review the diff.
func TestGolden(t *testing.T) {
	for _, c := range structures() {
		t.Run(c.name, func(t *testing.T) {
			got := render(t, c.m, nil)
			path := filepath.Join("testdata", "golden", c.name+".eml")
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -run TestGolden -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("output differs from %s at byte %d:\n got %q\nwant %q", path, diffAt(got, want), around(got, diffAt(got, want)), around(want, diffAt(got, want)))
			}
		})
	}
}

func diffAt(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func around(b []byte, i int) []byte {
	return b[max(0, i-80):min(len(b), i+80)]
}
