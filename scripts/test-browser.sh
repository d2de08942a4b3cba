#!/usr/bin/env bash
# The browser end-to-end test of muse-serve (Tests/e2e/serve_e2e.py): installs
# Debian's chromium and chromium-driver and selenium from PyPI when missing, then
# drives the page in headless Chromium against the built muse-serve and muse-run.
#   bash scripts/test-browser.sh [build folder, default .build/debug]
# Idempotent. scripts/test.sh runs it after the Swift tests (so .ci/run does).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
BUILD="${1:-.build/debug}"

bash scripts/apt-install.sh test-browser chromium chromium-driver
if ! python3 -c "import selenium" 2>/dev/null; then
    echo "test-browser: installing selenium from PyPI" >&2
    python3 -m pip install --quiet --disable-pip-version-check "selenium>=4.20,<5"
fi
for exe in muse-serve muse-run; do
    [ -x "$BUILD/$exe" ] || { echo "test-browser: $BUILD/$exe is missing: build first (swift build --build-tests)" >&2; exit 1; }
done
python3 Tests/e2e/serve_e2e.py --build "$BUILD"
