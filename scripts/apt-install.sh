#!/usr/bin/env bash
# Installs the Debian packages named that are not installed yet (apt-get, with
# sudo when not root); does nothing when all are. Every set-up script uses it.
#   bash scripts/apt-install.sh WHO PACKAGE...      (WHO prefixes the messages)
set -euo pipefail
who="$1"; shift
missing=()
for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "$who: $* already installed" >&2
    exit 0
fi
echo "$who: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "$who: need root to run: apt-get install ${missing[*]}" >&2; exit 1; }
    SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
