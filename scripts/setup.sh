#!/usr/bin/env bash
# Installs everything a fresh machine lacks to build and test Loom.
# Idempotent: each step checks first and does nothing when already done.
#
# Usage: scripts/setup.sh build   toolchain and wasm target (to build and run)
#        scripts/setup.sh test    the above, plus the test-only tools
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
what="${1:-build}"

say() { echo "setup: $*" >&2; }

# The toolchain pinned in rust-toolchain.toml, with the wasm32 target.
if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
    say "adding the wasm32-unknown-unknown target"
    rustup target add wasm32-unknown-unknown
fi

if [[ "${what}" == "test" ]]; then
    # grpcio (an independent gRPC implementation) for the interop test.
    scripts/setup-python.sh >/dev/null
fi
say "ready (${what})"
