#!/usr/bin/env bash
# Resumes (or starts) a training run in the background on a fresh machine, in
# one command: set-up (scripts/setup.sh), a release build of muse-train, the
# emoji data set when missing, then `muse-train <command> --config CONFIG --run RUN`
# under nohup, logging to RUN.log. The binary and its libraries are copied to
# .build-train/ first, so later builds in the work tree do not replace them
# under the running job.
#   bash scripts/resume-training.sh                      (the base transformer's run)
#   bash scripts/resume-training.sh tokenizer Pipelines/train/tokenizer-64.yaml training/tokenizer-64
# Refuses to start a second run of the same folder. Stop it with
# `kill -TERM $(cat RUN/pid)`: it finishes its step and writes a checkpoint.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
COMMAND="${1:-base}"
CONFIG="${2:-Pipelines/train/base-64.yaml}"
RUN="${3:-training/base-64}"

if [ -f "$RUN/pid" ] && kill -0 "$(cat "$RUN/pid")" 2>/dev/null; then
    echo "resume-training: $RUN is already being trained (pid $(cat "$RUN/pid"))" >&2
    exit 1
fi
bash scripts/setup.sh
swift build -c release --product muse-train
mkdir -p .build-train
cp .build/release/muse-train .build/release/*.so .build-train/
[ -f .cache/data/emoji/manifest.jsonl ] || .build/release/muse-data emoji --out .cache/data/emoji \
    || { swift build -c release --product muse-data && .build/release/muse-data emoji --out .cache/data/emoji; }
mkdir -p "$RUN"
# Some machines set OPENBLAS_CORETYPE=Haswell for every process, AVX-512 CPUs too: the
# run lets OpenBLAS and the engine pick the kernels instead (on an AMD Zen 5, SkylakeX
# doubled the sgemm peak and made the training step 1.6x faster than Haswell).
# MUSE_KEEP_OPENBLAS_CORETYPE=1 keeps the variable.
[ -n "${MUSE_KEEP_OPENBLAS_CORETYPE:-}" ] || unset OPENBLAS_CORETYPE
nohup .build-train/muse-train "$COMMAND" --config "$CONFIG" --run "$RUN" >> "$RUN.log" 2>&1 &
echo $! > "$RUN/pid"
echo "resume-training: muse-train $COMMAND running as pid $! (log: $RUN.log; a new machine first builds the data pool, 15-25 minutes)"
