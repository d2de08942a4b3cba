#!/usr/bin/env bash
# Sets everything up, builds every product (plugins included: the host tests
# load the real .so files), and runs the whole test suite. Idempotent.
#   bash scripts/test.sh [extra `swift test` arguments, e.g. --filter MuseHostTests]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/setup.sh
swift build --build-tests
# All tests are XCTest; skipping the Swift Testing runner keeps its "0 tests" line out of the summary.
swift test --skip-build --disable-swift-testing "$@"
