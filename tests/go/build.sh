#!/usr/bin/env bash
# Builds the grpc-go test server (tests/go/main.go) for Loom's integration tests.
#
# Usage: tests/go/build.sh [OUTPUT]   (default: <repo>/target/loom-grpc-go)
#
# Offline, GOPATH mode, against the Debian packages golang-go and
# golang-google-grpc-dev (sources under /usr/share/gocode). The Go build cache
# lives in <repo>/target/gocache, so nothing outside the repo is written
# except OUTPUT. Skips the build when OUTPUT is newer than every tests/go/*.go.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "${here}/../.." && pwd)"
# --- The benchmark's grpc-go backend (tests/go/bench), only when asked ----
# tests/go/build.sh --bench [OUTPUT]   (default: <repo>/target/loom-bench-go)
# Same offline GOPATH build as below; scripts/bench.sh runs it. Skips the
# build when OUTPUT is newer than bench/main.go.
if [[ "${1:-}" == --bench ]]; then
    bench_out="${2:-${root}/target/loom-bench-go}"
    [[ "${bench_out}" == /* ]] || bench_out="${PWD}/${bench_out}"
    if [[ -x "${bench_out}" && "${bench_out}" -nt "${here}/bench/main.go" ]]; then
        exit 0
    fi
    if ! command -v go >/dev/null 2>&1 || [[ ! -d /usr/share/gocode/src/google.golang.org/grpc ]]; then
        echo "tests/go/build.sh: go or grpc-go sources missing; install golang-go golang-google-grpc-dev: scripts/setup.sh test" >&2
        exit 1
    fi
    mkdir -p "$(dirname "${bench_out}")" "${root}/target/gocache"
    bench_tmp="${bench_out}.tmp.$$"
    trap 'rm -f "${bench_tmp}"' EXIT
    (
        cd "${here}/bench"
        GO111MODULE=off GOFLAGS= GOPATH=/usr/share/gocode GOCACHE="${root}/target/gocache" \
            CGO_ENABLED=0 go build -o "${bench_tmp}" .
    )
    mv -f "${bench_tmp}" "${bench_out}"
    exit 0
fi
# --- end of the benchmark backend's step -----------------------------------

out="${1:-${root}/target/loom-grpc-go}"
[[ "${out}" == /* ]] || out="${PWD}/${out}"   # the build runs in tests/go
gopath=/usr/share/gocode

up_to_date() {
    [[ -x "${out}" ]] || return 1
    local src
    for src in "${here}"/*.go; do
        [[ "${out}" -nt "${src}" ]] || return 1
    done
}
if up_to_date; then
    exit 0
fi

missing() {
    echo "tests/go/build.sh: $1; install golang-go golang-google-grpc-dev: scripts/setup.sh test" >&2
    exit 1
}
command -v go >/dev/null 2>&1 || missing "go not found"
[[ -d "${gopath}/src/google.golang.org/grpc/test/grpc_testing" ]] \
    || missing "grpc-go sources not found under ${gopath}"

mkdir -p "$(dirname "${out}")" "${root}/target/gocache"
# Build beside the output and rename, so a concurrent caller never runs a
# half-written binary.
tmp="${out}.tmp.$$"
trap 'rm -f "${tmp}"' EXIT
(
    cd "${here}"
    GO111MODULE=off GOFLAGS= GOPATH="${gopath}" GOCACHE="${root}/target/gocache" \
        CGO_ENABLED=0 go build -o "${tmp}" .
)
mv -f "${tmp}" "${out}"
