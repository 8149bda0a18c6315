#!/usr/bin/env bash
# The inspector's big-capture benchmark: builds the web bundle and
# loom-search-bench, then opens synthetic captures of 100,000 and 1,000,000
# calls in headless Chromium, searches them, and prints a table of times and
# the tab's memory. docs/performance-inspector.md says how to read it.
#
# Usage: scripts/bench-search.sh [CALLS...]   (default: 100000 1000000)
# Needs the test tools (scripts/setup.sh test): Trunk, Chromium, chromedriver.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/build-web.sh
export LOOM_WEB_DIST="${PWD}/dist"
cargo build --release --locked -p loom-tests --bin loom-search-bench
exec target/release/loom-search-bench "$@"
