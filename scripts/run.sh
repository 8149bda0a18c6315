#!/usr/bin/env bash
# Builds Loom (installing what is missing, idempotently) and runs it.
# Arguments go to `loom`; with none, it starts the built-in demo.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup.sh build
cargo build --release --locked -p loom-relay
if [[ $# -eq 0 ]]; then
    set -- demo
fi
exec target/release/loom "$@"
