#!/usr/bin/env bash
# The GPU check of issue 30: one command, at most 8 minutes on one H100/H200, figures under OUTDIR.
#
#   bash benchmarks/gpu_check.sh [--device cuda|cpu] OUTDIR
#
#   (a) a 12-trial search on a CIFAR-10 subset on the device, end to end (teacher trained on first
#       use, its outputs cached, 12 students, `kdnas report`);
#   (b) trials per hour and GPU utilisation (nvidia-smi sampled) with 1, 2 and 4 students per GPU
#       (`executor.workers_per_device`; benchmarks/gpu_students.py);
#   (c) a real CUDA out-of-memory error (an absurd student in a worker capped at 5% of the GPU)
#       fails that trial, and the next student trains in the same worker;
#   (d) the best student retrained 2 epochs (bf16 autocast: `retrain.amp`) and exported, ONNX
#       parity checked (`kdnas retrain --top 1 --epochs 2 --export`).
# OUTDIR receives gpu-check.md (the summary), gpu-check.json, students.json, logs.txt and the
# report's table (at most 8 files: what the device tool brings back). Exit status 0 when every part
# is as expected. LIMIT_S (default 450) bounds the parts together: each is stopped (exit 124) past it.
#
# The GPU machine (docs/gpu.md) has Python 3.12 and torch with CUDA but no optuna, pydantic or thop:
# `bash benchmarks/gpu_prepare.sh`, run beforehand where a registry is reachable, puts their wheels
# in .whl/ and a CIFAR-10 subset in .gpu-data/ (both git-ignored, carried by the tool); this script
# installs the wheels into a temporary folder when kdnas's needs do not import. Without .gpu-data it
# reads ../shared/datasets/cifar10-jpeg. `--device cpu` is the dry run with small numbers (the
# rehearsal: reports/benchmarks/gpu-check-rehearsal-cpu.md).
set -uo pipefail

DEVICE=cuda
while [ $# -gt 1 ]; do
    case $1 in
        --device) DEVICE=$2; shift 2 ;;
        *) echo "usage: bash benchmarks/gpu_check.sh [--device cuda|cpu] OUTDIR" >&2; exit 2 ;;
    esac
done
[ $# = 1 ] || { echo "usage: bash benchmarks/gpu_check.sh [--device cuda|cpu] OUTDIR" >&2; exit 2; }
ROOT=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$1" && OUTDIR=$(cd "$1" && pwd)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
PY=${PYTHON:-python3}
LOG="$OUTDIR/logs.txt"
: >"$LOG"
T_START=$(date +%s)

if ! "$PY" -c "import optuna, pydantic, thop, plotly" 2>/dev/null; then
    [ -d "$ROOT/.whl" ] || { echo "kdnas's needs do not import and there is no .whl/ (run benchmarks/gpu_prepare.sh)" >&2; exit 1; }
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$WORK/site" \
        "$ROOT"/.whl/*.whl >>"$LOG" 2>&1 || { echo "the wheels in .whl/ do not install (see $LOG)" >&2; exit 1; }
    export PYTHONPATH="$WORK/site"
fi
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" KDNAS_RUNS="$WORK/runs" KDNAS_REPORTS="$WORK/reports"
export PYTHONUNBUFFERED=1
DATA="$ROOT/.gpu-data/cifar10"
[ -d "$DATA" ] || DATA=$(cd "$ROOT/../shared/datasets/cifar10-jpeg" 2>/dev/null && pwd) \
    || { echo "no CIFAR-10: run benchmarks/gpu_prepare.sh" >&2; exit 1; }

if [ "$DEVICE" = cpu ]; then  # the rehearsal: the same parts, sized for a small CPU
    STEPS=5 TEACHER_EPOCHS=1 MAX_TRAIN=400 MAX_VAL=100 N_STUDENTS=2 WORKERS=1,2,4
else
    STEPS=100 TEACHER_EPOCHS=10 MAX_TRAIN=4500 MAX_VAL=500 N_STUDENTS=16 WORKERS=1,2,4
fi
STUDY="$WORK/gpu-check.yaml"
cat >"$STUDY" <<YAML
name: gpu-check
seed: 0
device: $DEVICE
data: {name: image_folder, root: $DATA, val_fraction: 0.1, max_train: $MAX_TRAIN, max_val: $MAX_VAL, download: false}
teacher: {name: resnet20}
teacher_training: {auto: true, epochs: $TEACHER_EPOCHS, batch_size: 128, lr: 0.1}
space: mbv2
proxy: {method: kd, steps: $STEPS, batch_size: 64}
objectives: [score, macs]
budget: {trials: 12}
retrain: {epochs: 2, amp: true}
YAML

ROWS=()
FAILED=0
DEADLINE=$(( T_START + ${LIMIT_S:-450} ))  # 7.5 minutes for the parts, the rest for the summary
# step NAME COMMAND...: run it (stopped at the deadline: exit 124), append its output to the log,
# record wall seconds and exit status.
step() {
    local name=$1; shift
    local t0 rc left
    t0=$(date +%s.%N)
    left=$(( DEADLINE - $(date +%s) ))
    [ "$left" -gt 0 ] || left=1
    echo "=== $name: $* (at most ${left} s)" >>"$LOG"
    timeout "$left" "$@" >>"$LOG" 2>&1
    rc=$?
    ROWS+=("$name $rc $(awk "BEGIN { printf \"%.1f\", $(date +%s.%N) - $t0 }")")
    [ "$rc" = 0 ] || FAILED=1
}
KDNAS=("$PY" -m kdnas.cli)

step a-search "${KDNAS[@]}" search "$STUDY" --no-progress
step a-report "${KDNAS[@]}" report "$STUDY"
step b-c-students "$PY" -m benchmarks.gpu_students "$STUDY" --workers "$WORKERS" --trials "$N_STUDENTS" \
    --json "$OUTDIR/students.json"
step d-retrain "${KDNAS[@]}" retrain "$STUDY" --top 1 --epochs 2 --export
cp "$WORK"/reports/gpu-check/pareto.csv "$OUTDIR/report-pareto.csv" 2>/dev/null || echo "no report table" >>"$LOG"

ARGS=()
for row in "${ROWS[@]}"; do ARGS+=(--step "$row"); done
"$PY" -m benchmarks.gpu_summary --out "$OUTDIR" --work "$WORK" --device "$DEVICE" "${ARGS[@]}" \
    --wall "$(( $(date +%s) - T_START ))" --command "bash benchmarks/gpu_check.sh --device $DEVICE OUTDIR" \
    || FAILED=1
cat "$OUTDIR/gpu-check.md"
exit $FAILED
