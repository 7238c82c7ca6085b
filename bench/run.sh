#!/usr/bin/env bash
# Runs every benchmark of bench/ and writes RESULTS.md (and the raw data in results/).
# Takes about 8 minutes on 2 cores. Options are passed to cmd/load, e.g.
#   ./run.sh -reps 3 -kinds small        (a quicker, partial run)
set -euo pipefail
# The bench module follows the root module through its replace directive; let the go
# command refresh go.mod/go.sum when the root gains a dependency.
export GOFLAGS=-mod=mod
cd "$(dirname "$0")"
start=$(date +%s)

# The Postie revision the binaries are built from.
rev=$(git -C .. rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ -n "$(git -C .. status --porcelain -- 'smtp/*.go' 'mailer/*.go' 'transport/*.go' ':!*_test.go' 2>/dev/null)" ]; then
	rev="$rev, with uncommitted changes in smtp/, mailer/ or transport/"
fi

mkdir -p bin results
go build -o bin/sink ./cmd/sink
go build -o bin/load ./cmd/load
go build -o bin/heap ./cmd/heap
go build -o bin/report ./cmd/report

echo "== MIME-only benchmarks"
go test -run '^$' -bench BenchmarkMIME -benchmem -count 5 -benchtime 200ms ./mimebench | tee results/mime.txt

echo "== peak heap, 100 MiB attachment"
bin/heap -sink bin/sink -out results/heap.json

echo "== throughput through the sink"
bin/load -sink bin/sink -out results/load.json "$@"

elapsed=$(( $(date +%s) - start ))
bin/report -load results/load.json -heap results/heap.json -mime results/mime.txt \
	-total "$((elapsed / 60)) min $((elapsed % 60)) s" -rev "$rev" -out RESULTS.md
echo "== wrote RESULTS.md in ${elapsed}s"
