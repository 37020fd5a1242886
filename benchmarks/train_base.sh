#!/usr/bin/env bash
# Train the shipped `base` model (issue: train and ship the default model).
#
# Data split, fixed by name:
#   test        the 18 mcmaster_* photos (never used here)
#   validation  the 8 cbsd68 photos listed in benchmarks/quality.py (VALIDATION)
#   training    the other 60 cbsd68 photos + scikit-image's bundled photos (--skimage-data)
# The photos stay in ../shared/data/photos: the split is a folder of links in /tmp.
# Resumable: run it again with --resume (and optionally a larger STEPS) to continue.
#
#   bash benchmarks/train_base.sh [RUN_DIR] [STEPS] [--resume]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
photos=$(cd "$here/../../shared/data/photos" && pwd)
run=${1:-/work/runs/base-v1}
steps=${2:-26000}
shift $(( $# < 2 ? $# : 2 ))

mkdir -p /tmp/split/train /tmp/split/val
val=$(python -c "import sys; sys.path.insert(0, '$here'); import quality; print(' '.join(quality.VALIDATION))")
for f in "$photos"/cbsd68_*.png; do
  name=$(basename "$f")
  if [[ " $val " == *" $name "* ]]; then ln -sf "$f" "/tmp/split/val/$name"; else ln -sf "$f" "/tmp/split/train/$name"; fi
done
[ "$(ls /tmp/split/train | wc -l)" -eq 60 ] && [ "$(ls /tmp/split/val | wc -l)" -eq 8 ]

exec python -m deblur train --sharp /tmp/split/train --skimage-data --val-sharp /tmp/split/val \
  -o "$run" --variant base --steps "$steps" --batch 8 --patch 128 --lr 1e-3 \
  --workers 1 --threads "${THREADS:-2}" --device cpu "$@"
