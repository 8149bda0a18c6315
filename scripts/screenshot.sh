#!/usr/bin/env bash
# Refreshes docs/screenshot.png, the README's picture of the inspector: builds
# the web bundle, runs the layout browser test (it screenshots every page at
# every size into target/screenshots/) and copies the live list at 1400×900
# in the light scheme (demo traffic, a failed UpdateItem selected with its
# error details decoded) into docs/. Needs Chromium and chromedriver
# (scripts/setup.sh test).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/build-web.sh
# The same value scripts/test.sh uses, so the relay is built one way only.
export LOOM_WEB_DIST="${PWD}/dist"

target="${CARGO_TARGET_DIR:-target}"
shot="${target}/screenshots/live-1400x900-light.png"
rm -f "${shot}"
cargo test -p loom-tests --test it --locked -- --exact layout::holds_at_common_sizes_in_both_schemes
if [[ ! -s "${shot}" ]]; then
    echo "screenshot: the layout test passed but wrote no ${shot}" >&2
    exit 1
fi
mkdir -p docs
cp "${shot}" docs/screenshot.png
echo "screenshot: docs/screenshot.png updated from ${shot}" >&2
