#!/usr/bin/env bash
# Stops a training run started by scripts/resume-training.sh and makes its state
# ready to commit:
#   bash scripts/stop-training.sh                  (the base transformer's run)
#   bash scripts/stop-training.sh training/tokenizer-64
# Sends SIGTERM (the run finishes its step and writes a checkpoint), waits for
# the process to exit, then rewrites RUN/state.safetensors with its optimizer
# state in BF16 (`muse-train compact-state`: weights, step, RNG and data
# position exact; about 2/3 of the size). Resume with scripts/resume-training.sh.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
RUN="${1:-training/base-64}"
TRAIN=.build-train/muse-train

if [ -f "$RUN/pid" ] && kill -0 "$(cat "$RUN/pid")" 2>/dev/null; then
    PID="$(cat "$RUN/pid")"
    echo "stop-training: stopping pid $PID (it finishes its step and checkpoints)"
    kill -TERM "$PID"
    while kill -0 "$PID" 2>/dev/null; do sleep 2; done
    tail -n 2 "$RUN.log" 2>/dev/null || true
else
    echo "stop-training: no run of $RUN is active"
fi
rm -f "$RUN/pid"
[ -x "$TRAIN" ] || { swift build -c release --product muse-train && TRAIN=.build/release/muse-train; }
"$TRAIN" compact-state "$RUN/state.safetensors"
