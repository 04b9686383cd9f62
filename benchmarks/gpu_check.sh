#!/usr/bin/env bash
# The device setting on a real GPU (not run by CI; about 2-4 minutes on one H100):
#   1. refusals: `--device cuda:99` (past the visible GPUs), CUDA hidden (CUDA_VISIBLE_DEVICES=""),
#      `--device cpu --gpus-per-trial 1`: each exit 2 with one line, and no storage file written;
#   2. `kdnas search studies/demo-digits.yaml --device cuda --trials 4` (teacher trained on the GPU
#      on first use, its outputs, the 4 trials), and the device each trial recorded;
#   3. `kdnas retrain studies/demo-digits.yaml --top 1 --device cuda --epochs 1`;
#   4. `kdnas profile resnet20 --device cuda`, and `--device cpu` beside it.
# Figures (wall times, exit statuses, device name, torch version) go to $OUT/gpu-check.md, logs to
# $OUT/logs/. Run from the repository root: `bash benchmarks/gpu_check.sh`.
#
# Assumption: a Python whose torch has CUDA is already installed on the machine ($PYTHON, else
# python3): the project pins the CPU wheel (torch==2.13.0+cpu), which cannot test a GPU. Where that
# torch lacks CUDA the script tries `pip install torch` from the registry (the default Linux wheel
# is a CUDA build); on a machine without network that fails and the script says so and stops.
# kdnas runs from this checkout (PYTHONPATH); its other dependencies are installed with pip only
# when they do not import. Everything the runs write goes to a temporary folder.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-$ROOT/runs/gpu-check}  # runs/ is git-ignored
mkdir -p "$OUT/logs"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
PY=${PYTHON:-python3}
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" KDNAS_RUNS="$WORK/runs"
REPORT="$OUT/gpu-check.md"
STUDY="$ROOT/studies/demo-digits.yaml"
DB="$WORK/runs/kdnas.db"  # the study's default storage under KDNAS_RUNS

has_cuda() { "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; }
if ! has_cuda; then
    echo "torch with CUDA not found for $PY; trying: $PY -m pip install torch" >&2
    "$PY" -m pip install -q torch >"$OUT/logs/pip-torch.log" 2>&1
    has_cuda || { echo "no torch with CUDA for $PY (see $OUT/logs/pip-torch.log); set PYTHON" | tee "$REPORT" >&2; exit 1; }
fi
if ! "$PY" -c "import optuna, sqlalchemy, thop, pandas, sklearn, yaml, pydantic, tqdm, plotly, matplotlib, onnx, onnxruntime" 2>/dev/null; then
    "$PY" -m pip install -q -e "$ROOT" >"$OUT/logs/pip-kdnas.log" 2>&1 \
        || { echo "kdnas's dependencies do not install (see $OUT/logs/pip-kdnas.log)" | tee "$REPORT" >&2; exit 1; }
fi

ROWS=()
FAILED=0
# step NAME WANT_STATUS COMMAND...: run it, log it, time it, and check its exit status.
step() {
    local name=$1 want=$2; shift 2
    local t0 t1 rc
    t0=$(date +%s.%N)
    "$@" >"$OUT/logs/$name.out" 2>"$OUT/logs/$name.err"
    rc=$?
    t1=$(date +%s.%N)
    local ok=yes
    [ "$rc" = "$want" ] || { ok="NO (wanted $want)"; FAILED=1; }
    ROWS+=("| $name | $(awk "BEGIN { printf \"%.1f\", $t1 - $t0 }") | $rc | $ok | \`$(tail -n 1 "$OUT/logs/$name.err" | cut -c1-140)\` |")
}
kdnas() { "$PY" -m kdnas.cli "$@"; }
no_db() { [ ! -e "$DB" ] || { echo "refusal wrote $DB" >>"$OUT/logs/refusals.err"; FAILED=1; }; }

step refuse-cuda-99 2 kdnas search "$STUDY" --device cuda:99 --no-progress --reports "$WORK/reports"; no_db
step refuse-hidden-gpu 2 env CUDA_VISIBLE_DEVICES= "$PY" -m kdnas.cli search "$STUDY" --device cuda --no-progress; no_db
step refuse-cpu-with-gpus 2 kdnas search "$STUDY" --device cpu --gpus-per-trial 1 --no-progress; no_db
step search-cuda 0 kdnas search "$STUDY" --device cuda --trials 4 --no-progress --reports "$WORK/reports"
step retrain-cuda 0 kdnas retrain "$STUDY" --top 1 --device cuda --epochs 1
step profile-cuda 0 kdnas profile resnet20 --device cuda --repeats 50
step profile-cpu 0 kdnas profile resnet20 --device cpu --repeats 50

TRIALS=$("$PY" - "$DB" <<'EOF' 2>&1
import json, sys, collections
import optuna
optuna.logging.set_verbosity(optuna.logging.WARNING)
study = optuna.load_study(study_name="demo-digits", storage=f"sqlite:///{sys.argv[1]}")
seen = collections.Counter((t.user_attrs.get("status"), (t.user_attrs.get("where") or {}).get("device")) for t in study.trials)
teacher = json.loads(study.user_attrs.get("teacher", "{}"))
print(f"teacher on {teacher.get('device')}, val_acc {teacher.get('val_acc')}; trials by (status, device): {dict(seen)}")
EOF
)
RECIPE=$(cat "$WORK"/runs/retrain/demo-digits/*/recipe.json 2>/dev/null | "$PY" -c "import json,sys; print(json.load(sys.stdin).get('device'))" 2>&1)
GPU=$("$PY" -c "import torch; print(torch.cuda.get_device_name(0), '| torch', torch.__version__, '| CUDA', torch.version.cuda)")

{
    echo "# GPU check of the device setting"
    echo
    echo "- machine: $(hostname), $GPU, $(nproc) CPUs; $(date -u '+%Y-%m-%d %H:%M UTC'); commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
    echo "- command: \`bash benchmarks/gpu_check.sh\` (logs in logs/); result: $([ $FAILED = 0 ] && echo 'every step as expected' || echo 'SOME STEP NOT AS EXPECTED')"
    echo "- search: $TRIALS"
    echo "- retrain run recorded device: $RECIPE"
    echo
    echo "| step | wall s | exit | as expected | last stderr line |"
    echo "|---|---:|---:|---|---|"
    printf '%s\n' "${ROWS[@]}"
    echo
    echo "## profile"
    echo
    echo '```'
    cat "$OUT/logs/profile-cuda.out" "$OUT/logs/profile-cpu.out"
    echo '```'
    echo
    echo "## search front"
    echo
    echo '```'
    cat "$OUT/logs/search-cuda.out"
    echo '```'
} >"$REPORT"
cat "$REPORT"
exit $FAILED
