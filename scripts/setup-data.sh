#!/usr/bin/env bash
# Installs the Debian packages the emoji data set builder (`muse-data emoji`) reads:
#   fonts-noto-color-emoji  NotoColorEmoji.ttf (CBDT/CBLC colour bitmaps)
#   unicode-data            /usr/share/unicode/emoji/emoji-test.txt (names)
#   unicode-cldr-core       CLDR annotations/en.xml + annotationsDerived/en.xml (keywords)
# Idempotent: does nothing when all three are installed. Needs root (or sudo) to install.
set -euo pipefail

bash "$(dirname "${BASH_SOURCE[0]}")/apt-install.sh" setup-data fonts-noto-color-emoji unicode-data unicode-cldr-core
