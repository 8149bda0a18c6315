#!/usr/bin/env bash
# Refreshes docs/screenshot.png, the README's picture of the inspector: builds
# the web bundle, runs the live browser test (demo traffic through the relay,
# a failed UpdateItem selected; it saves target/screenshot.png), and copies
# the result into docs/. Needs Chromium and chromedriver (scripts/setup.sh test).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/build-web.sh
# The same value scripts/test.sh uses, so the relay is built one way only.
export LOOM_WEB_DIST="${PWD}/dist"

target="${CARGO_TARGET_DIR:-target}"
shot="${target}/screenshot.png"
rm -f "${shot}"
cargo test -p loom-tests --test it --locked -- --exact browser::live
if [[ ! -s "${shot}" ]]; then
    echo "screenshot: the live test passed but wrote no ${shot}" >&2
    exit 1
fi
mkdir -p docs
cp "${shot}" docs/screenshot.png
echo "screenshot: docs/screenshot.png updated" >&2
