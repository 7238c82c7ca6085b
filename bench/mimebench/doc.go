// Package mimebench holds the MIME-only benchmarks: each library builds the fixture
// message and renders it to a byte-counting writer, with no network. Run with
//
//	go test -run '^$' -bench . -benchmem -count 5 ./mimebench
package mimebench
