#!/usr/bin/env bash
# Installs the Debian packages the emoji data set builder (`muse-data emoji`) reads:
#   fonts-noto-color-emoji  NotoColorEmoji.ttf (CBDT/CBLC colour bitmaps)
#   unicode-data            /usr/share/unicode/emoji/emoji-test.txt (names)
#   unicode-cldr-core       CLDR annotations/en.xml + annotationsDerived/en.xml (keywords)
# Idempotent: does nothing when all three are installed. Needs root (or sudo) to install.
set -euo pipefail

packages=(fonts-noto-color-emoji unicode-data unicode-cldr-core)
missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    echo "setup-data: ${packages[*]} already installed"
    exit 0
fi

echo "setup-data: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
        echo "setup-data: need root to install ${missing[*]} (run: apt-get install ${missing[*]})" >&2
        exit 1
    fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "setup-data: done"
