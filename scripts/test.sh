#!/usr/bin/env bash
# Runs Loom's whole test suite: installs what is missing (idempotent), builds
# the web inspector, then runs every test in the workspace, browser tests
# included. Extra arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup.sh test
scripts/build-web.sh
# The relay embeds the inspector it serves from here (see relay/build.rs).
export LOOM_WEB_DIST="${PWD}/dist"
cargo test --workspace --locked "$@"
