#!/usr/bin/env bash
# Run HERE (a machine with a package registry and ../shared), before a session with a GPU calls
# `bash benchmarks/gpu_check.sh`: fills two git-ignored folders of the checkout that the device
# tool's `carry` takes along (docs/gpu.md):
#   .whl/        the wheels the GPU machine lacks (its image has Python 3.12 and torch with CUDA, but
#                no optuna, pydantic or thop): cp312 manylinux x86-64 builds, each pinned to the
#                version this checkout's venv runs, their missing dependencies named one by one;
#   .gpu-data/   a CIFAR-10 subset copied from ../shared/datasets/cifar10-jpeg (an image-folder tree:
#                N_TRAIN training and N_TEST test JPEGs per class).
# Prints what was fetched and the total size, which must stay under the tool's 64 MiB.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=${PYTHON:-$ROOT/.venv/bin/python}
[ -x "$PY" ] || PY=python3
SHARED=${SHARED:-$ROOT/../shared/datasets/cifar10-jpeg}
N_TRAIN=${N_TRAIN:-500}
N_TEST=${N_TEST:-100}

# name==version: the GPU image lacks these (KINDS.md's package list); the rest of kdnas's needs are there
WHEELS=(
    "optuna==5.1.0" "alembic==1.20.1" "colorlog==6.12.0" "mako==1.4.3" "sqlalchemy==2.1.9"
    "pydantic==2.14.4" "pydantic-core==2.50.5" "annotated-types==0.8.0" "typing-inspection==0.4.5" "typing-extensions==4.16.0"
    "ultralytics-thop==2.2.3" "plotly==7.1.0"
)
rm -rf "$ROOT/.whl" && mkdir -p "$ROOT/.whl"
for w in "${WHEELS[@]}"; do
    "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_24_x86_64 \
        --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux1_x86_64 \
        -d "$ROOT/.whl" "$w"
done

rm -rf "$ROOT/.gpu-data" && mkdir -p "$ROOT/.gpu-data/cifar10"
for split in train test; do
    n=$([ $split = train ] && echo "$N_TRAIN" || echo "$N_TEST")
    for cls in "$SHARED/$split"/*/; do
        name=$(basename "$cls")
        mkdir -p "$ROOT/.gpu-data/cifar10/$split/$name"
        mapfile -t files < <(find "$cls" -maxdepth 1 -type f -name '*.jpg' | sort)  # no `head`: pipefail
        cp -t "$ROOT/.gpu-data/cifar10/$split/$name" "${files[@]:0:$n}"
    done
done

ls -1 "$ROOT/.whl"
echo "wheels: $(du -sb "$ROOT/.whl" | cut -f1) bytes; data: $(find "$ROOT/.gpu-data" -type f | wc -l) images," \
     "$(du -sb "$ROOT/.gpu-data" | cut -f1) bytes; both: $(du -scb "$ROOT/.whl" "$ROOT/.gpu-data" | tail -1 | cut -f1) bytes"
