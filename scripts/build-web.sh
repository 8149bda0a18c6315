#!/usr/bin/env bash
# Builds the web inspector into dist/ with Trunk (tools from scripts/setup.sh).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PATH="${PWD}/.tools/node_modules/.bin:${PATH}"
trunk build --release
