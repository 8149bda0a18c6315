#!/usr/bin/env bash
# Builds Loom — the web inspector, then the relay with the inspector inside —
# installing what is missing (idempotent), and runs it. Arguments go to
# `loom`; with none, it starts the built-in demo.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup.sh build
scripts/build-web.sh
LOOM_WEB_DIST="${PWD}/dist" cargo build --release --locked -p loom-relay
if [[ $# -eq 0 ]]; then
    set -- demo
fi
exec target/release/loom "$@"
