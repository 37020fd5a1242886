#!/usr/bin/env bash
# Train on one CUDA GPU within a time budget (issue #14: training that keeps a GPU busy).
#
# Sharp photos are blurred on the GPU (synth_device "device"), the forward pass runs in
# bf16 with the channels-last layout (set through a --config file), and the run stops
# cleanly before the budget (--time-limit; `timeout` is only the backstop). Leaves in
# OUT_DIR: config.json, log.csv, last.ckpt, best.ckpt, model.safetensors + model.json
# (exported from last.ckpt) and train.log; the checkpoints are ~6 MiB (base) or ~13 MiB
# (large) each, so the folder is small enough to carry back.
#
# Data: benchmarks/splits/train_more.txt (training) and val.txt (validation), lists of
# photos relative to the data folder. Needs torch (CUDA), opencv, scikit-image, typer and
# safetensors; installs nothing (runs this checkout with PYTHONPATH).
#
#   bash benchmarks/train_gpu.sh [--data DIR] [--time SECONDS] [--out OUT_DIR]
#        [--variant base] [--batch 32] [--patch 128] [--steps 20000] [--workers N]
#        [--device cuda] [--resume] [-- EXTRA deblur train OPTIONS...]
#
#   --data DIR     photo folder the lists are relative to [$DEBLUR_DATA or ../shared/data,
#                  relative to the repository root]
#   --time S       wall-clock budget of the whole script, export included [600]
#   --out DIR      run folder [runs/gpu-<variant>]
#   --steps N      length of the learning-rate schedule (the budget may stop it earlier;
#                  --resume with the same options continues)
#   --reserve S    seconds of the budget kept for start-up slack and the export [45]
#   --device D     cuda; cpu only for a smoke test of this script
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
data=${DEBLUR_DATA:-}
budget=600
out=
variant=base
batch=32
patch=128
steps=20000
workers=$(( $(nproc) > 4 ? $(nproc) - 2 : 2 ))
workers=$(( workers > 12 ? 12 : workers ))
reserve=45
device=cuda
resume=()
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --data) data=$2; shift 2 ;;
    --time) budget=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --variant) variant=$2; shift 2 ;;
    --batch) batch=$2; shift 2 ;;
    --patch) patch=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --workers) workers=$2; shift 2 ;;
    --reserve) reserve=$2; shift 2 ;;
    --device) device=$2; shift 2 ;;
    --resume) resume=(--resume); shift ;;
    --) shift; extra=("$@"); break ;;
    -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
    *) echo "error: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
out=${out:-runs/gpu-$variant}
# paths given by the caller are relative to the caller's folder; the default data
# folder is relative to the repository root
if [ -n "$data" ]; then data=$(cd "$data" && pwd); else data=$(cd "$repo/../shared/data" && pwd); fi
mkdir -p "$(dirname "$out")"
out=$(cd "$(dirname "$out")" && pwd)/$(basename "$out")
cd "$repo"
export PYTHONPATH="$repo${PYTHONPATH:+:$PYTHONPATH}"
py=${PYTHON:-python}

limit=$(( budget - reserve ))
if [ "$limit" -lt 30 ]; then echo "error: --time $budget leaves under 30 s to train" >&2; exit 2; fi
if [ "$device" = cuda ]; then
  "$py" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'error: no CUDA device')"
fi
# the run folder must be empty for a new run: the log joins it at the end
tmp=$(mktemp -d "${TMPDIR:-/tmp}/train_gpu.XXXXXX")
log=$tmp/train.log
trap 'if [ -d "$out" ]; then cat "$log" >>"$out/train.log"; fi; rm -rf "$tmp"' EXIT
# the settings of issue #14 that have no command-line option (--config: options given
# on the command line override the file; the run's config.json records them all)
cat >"$tmp/gpu.json" <<'JSON'
{"synth_device": "device", "precision": "bf16", "channels_last": true}
JSON
echo "data $data, budget ${budget}s (training ${limit}s), run $out" | tee -a "$log"

status=0
timeout --foreground -k 20 $(( limit + reserve / 2 )) \
  "$py" -m deblur train \
    --sharp benchmarks/splits/train_more.txt --val-sharp benchmarks/splits/val.txt \
    --data-root "$data" -o "$out" ${resume[@]+"${resume[@]}"} \
    --device "$device" --config "$tmp/gpu.json" \
    --variant "$variant" --batch "$batch" --patch "$patch" --steps "$steps" \
    --workers "$workers" --ckpt-every 2000 --time-limit "$limit" ${extra[@]+"${extra[@]}"} \
    2>&1 | tee -a "$log" || status=$?
# 124/137: the backstop fired; 130: stopped by a signal (last.ckpt was written)
if [ ! -f "$out/last.ckpt" ]; then echo "error: no checkpoint (exit $status)" >&2; exit 1; fi
"$py" -m deblur export "$out/last.ckpt" "$out/model.safetensors" 2>&1 | tee -a "$log"
ls -l "$out" | tee -a "$log"
exit "$status"
