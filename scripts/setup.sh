#!/usr/bin/env bash
# Installs everything a fresh machine lacks to build, run and test Loom.
# Idempotent: each step checks first and does nothing when already done.
#
# Usage: scripts/setup.sh build   toolchain, wasm target, Trunk, wasm-bindgen, wasm-opt
#        scripts/setup.sh bench   the build tools, plus nginx and perf
#        scripts/setup.sh test    the above, plus Chromium, chromedriver, and the
#                                 gRPC peers the tests use: grpc-go (Go and
#                                 Debian's grpc sources), grpc-js (npm),
#                                 connect-node, connect-web and buf (npm),
#                                 grpcio and grpcurl (a Python venv)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
what="${1:-build}"

say() { echo "setup: $*" >&2; }

# Pinned tool versions. wasm-bindgen-cli must equal the wasm-bindgen crate in
# Cargo.lock (web/Cargo.toml pins it with =), and Trunk.toml names both.
TRUNK_VERSION="0.21.14"
BINARYEN_VERSION="132"
WASM_BINDGEN_VERSION="$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/"/, "", $3); print $3; exit }' Cargo.lock)"
if [[ -z "${WASM_BINDGEN_VERSION}" ]]; then
    say "cannot find the wasm-bindgen version in Cargo.lock"
    exit 1
fi
if ! grep -q "wasm_bindgen = \"${WASM_BINDGEN_VERSION}\"" Trunk.toml; then
    say "Trunk.toml must pin wasm_bindgen = \"${WASM_BINDGEN_VERSION}\" (the version in Cargo.lock)"
    exit 1
fi

# The toolchain pinned in rust-toolchain.toml, with the wasm32 target.
if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
    say "adding the wasm32-unknown-unknown target"
    rustup target add wasm32-unknown-unknown
fi

has_version() { command -v "$1" >/dev/null 2>&1 && "$1" --version 2>/dev/null | grep -qF "$2"; }

if ! has_version trunk "${TRUNK_VERSION}"; then
    say "installing trunk ${TRUNK_VERSION} (about 12 minutes on 2 cores)"
    cargo install trunk --version "${TRUNK_VERSION}" --locked
fi
if ! has_version wasm-bindgen "${WASM_BINDGEN_VERSION}"; then
    say "installing wasm-bindgen-cli ${WASM_BINDGEN_VERSION}"
    # Not --locked: its lock file names a crate version the registry lacks.
    cargo install wasm-bindgen-cli --version "${WASM_BINDGEN_VERSION}"
fi
# wasm-opt from npm's binaryen: Debian's binaryen 108 builds a broken app.
if ! .tools/node_modules/.bin/wasm-opt --version 2>/dev/null | grep -q "version_${BINARYEN_VERSION}"; then
    say "installing binaryen ${BINARYEN_VERSION} (wasm-opt) into .tools/"
    mkdir -p .tools
    npm install --prefix .tools --no-audit --no-fund --silent "binaryen@${BINARYEN_VERSION}"
fi

if [[ "${what}" == "test" ]]; then
    # Chromium for the browser tests; Go and grpc-go's Debian sources for the
    # grpc-go peer (built offline, in GOPATH mode).
    packages=()
    command -v chromium >/dev/null 2>&1 || packages+=(chromium)
    command -v chromedriver >/dev/null 2>&1 || packages+=(chromium-driver)
    command -v go >/dev/null 2>&1 || packages+=(golang-go)
    [[ -d /usr/share/gocode/src/google.golang.org/grpc/reflection ]] || packages+=(golang-google-grpc-dev)
    # containerd and ctr: a real service on a Unix socket (tests/tests/it/unix.rs).
    command -v containerd >/dev/null 2>&1 && command -v ctr >/dev/null 2>&1 || packages+=(containerd)
    if ((${#packages[@]})); then
        say "installing ${packages[*]}"
        sudo=""
        if [[ "$(id -u)" != 0 ]]; then sudo="sudo"; fi
        ${sudo} apt-get update -qq
        DEBIAN_FRONTEND=noninteractive ${sudo} apt-get install -y -qq "${packages[@]}" >/dev/null
    fi
    # The independent gRPC implementations the tests run against:
    # grpc-go (tests/go), grpc-js (tests/node), grpcio and grpcurl (Python).
    tests/go/build.sh
    if ! (cd tests/node && node -e "require('@grpc/grpc-js'); require('@grpc/reflection'); require('@grpc/proto-loader')" 2>/dev/null); then
        say "installing the grpc-js test server's packages (tests/node)"
        (cd tests/node && npm ci --no-audit --no-fund --silent)
    fi
    # The Connect, gRPC and gRPC-Web peers (tests/connect): connect-node,
    # connect-web, buf and esbuild from npm, then what build.mjs generates
    # from them (gen/: the service's descriptor set and the browser page's
    # bundle; it does nothing when gen/ is up to date).
    if ! (cd tests/connect && npm ls --silent >/dev/null 2>&1); then
        say "installing the Connect test peers' packages (tests/connect)"
        (cd tests/connect && npm ci --no-audit --no-fund --silent)
    fi
    node tests/connect/build.mjs
    scripts/setup-python.sh >/dev/null
fi
if [[ "${what}" == "bench" ]]; then
    # nginx (the peer the benchmark compares with) and perf (profiles).
    packages=()
    command -v nginx >/dev/null 2>&1 || [[ -x /usr/sbin/nginx ]] || packages+=(nginx)
    command -v perf >/dev/null 2>&1 || packages+=(linux-perf)
    if ((${#packages[@]})); then
        say "installing ${packages[*]}"
        sudo=""
        if [[ "$(id -u)" != 0 ]]; then sudo="sudo"; fi
        ${sudo} apt-get update -qq
        DEBIAN_FRONTEND=noninteractive ${sudo} apt-get install -y -qq "${packages[@]}" >/dev/null
    fi
fi
say "ready (${what})"
