#!/usr/bin/env bash
# Runs Loom's whole test suite: installs what is missing (idempotent), then
# runs every test in the workspace. Extra arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup.sh test
cargo test --workspace --locked "$@"
