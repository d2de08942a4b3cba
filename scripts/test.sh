#!/usr/bin/env bash
# Sets everything up, builds every product (plugins included: the host tests
# load the real .so files), and runs the whole test suite. Idempotent.
#   bash scripts/test.sh [extra `swift test` arguments, e.g. --filter MuseHostTests]
# Without extra arguments it then runs muse-serve's browser test (scripts/test-browser.sh)
# and the engine, core (safetensors, PNG),
# host (plugin loading, pipeline validation) and text encoder tests again
# against a release build, where checks must hold too (release builds use -O,
# which keeps preconditions). That adds a release build: about 10 minutes of
# CPU. A run with extra arguments (a quick filtered run) skips it.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/setup.sh
swift build --build-tests
# All tests are XCTest; skipping the Swift Testing runner keeps its "0 tests" line out of the summary.
swift test --skip-build --disable-swift-testing "$@"
if [ "$#" -eq 0 ]; then
    # muse-serve's page in headless Chromium (installs chromium and selenium when missing).
    bash scripts/test-browser.sh .build/debug
    # `swift test` builds with testable imports (`swift build -c release --build-tests` does not).
    swift test -c release --disable-swift-testing --filter 'MuseEngineTests|MuseCoreTests|MuseHostTests|TextEncoderTests'
fi
