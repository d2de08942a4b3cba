#!/usr/bin/env bash
# Sets everything up, builds in release mode and runs the main job, writing a PNG.
#   bash scripts/run.sh [extra muse-run arguments]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/setup.sh
swift build -c release
.build/release/muse-run Pipelines/upscale-ab.yaml --out out/upscale-ab.png "$@"
