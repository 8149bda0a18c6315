#!/usr/bin/env bash
# Builds everything — the web inspector, then the relay (`target/release/loom`)
# with the inspector inside — installing what is missing first (idempotent).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup.sh build
scripts/build-web.sh
LOOM_WEB_DIST="${PWD}/dist" cargo build --release --locked -p loom-relay
echo "built: target/release/loom (try: target/release/loom demo)" >&2
