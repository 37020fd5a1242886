#!/usr/bin/env bash
# Train a stage of the shipped model's recipe, described by one config file each:
#
#   benchmarks/recipes/base-stage1.json   from scratch (the run of results/training/base)
#   benchmarks/recipes/base-stage2.json   fine-tune for robustness (results/training/ft-robust)
#
# The split is the committed lists benchmarks/splits/{train,val}.txt (names relative to the
# data folder; test photos are never listed), made by benchmarks/make_split.py. The data
# folder is DEBLUR_DATA, default ../shared/data beside the repository. The resumable
# checkpoint is RUN_DIR/last.ckpt (not tracked); run the same command with --resume (and
# optionally a larger --steps) to continue. Extra options override the config file.
#
#   bash benchmarks/train_base.sh STAGE RUN_DIR [deblur train options...]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
stage=${1:?usage: train_base.sh STAGE RUN_DIR [options]}
run=${2:?usage: train_base.sh STAGE RUN_DIR [options]}
shift 2
data=${DEBLUR_DATA:-$here/../../shared/data}
exec python -m deblur train --config "$here/recipes/base-$stage.json" --data-root "$data" \
  -o "$run" --threads "${THREADS:-2}" "$@"
