#!/usr/bin/env bash
# Sets everything up, builds in release mode and runs the main job, writing a PNG.
#   bash scripts/run.sh [extra muse-run arguments]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/setup.sh
swift build -c release
# The main job: text to a 64x64 image with the shipped base transformer and tokenizer.
# Arguments replace the default prompt and output, e.g.
#   bash scripts/run.sh --prompt "grinning face" --seed 3 --out out/face.png
if [ "$#" -eq 0 ]; then
    set -- --prompt "a red circle above two blue stars" --out out/txt2img-64.png
fi
.build/release/muse-run Pipelines/txt2img-64.yaml "$@"
