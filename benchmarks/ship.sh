#!/usr/bin/env bash
# Ship a training run's best checkpoint (or CKPT=last.ckpt) as the default weights: export weights + model card, regenerate the golden
# output from them, copy the run's log and config into results/training/<run folder name>/,
# and check the golden test.
# Then re-run the quality benchmark and figures:
#   python -m benchmarks.quality run && python -m benchmarks.quality table && python -m benchmarks.figures
#
#   [CKPT=last.ckpt] bash benchmarks/ship.sh RUN_DIR ["more description for the model card"]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
run=${1:?usage: ship.sh RUN_DIR [DESCRIPTION]}
more=${2:-}
cd "$here/.."
python -m deblur export "$run/${CKPT:-best.ckpt}" weights/base.safetensors --overwrite --description \
  "${DESCRIPTION:-Trained by benchmarks/train_base.sh (recipes in benchmarks/recipes): training photos = benchmarks/splits/train.txt (the 60 CBSD68 photos not in the validation list) plus scikit-image bundled photos (astronaut, chelsea, coffee, rocket, camera, brick, grass, gravel); validation = benchmarks/splits/val.txt (8 CBSD68 photos); the 18 McMaster test photos were never used. Blur synthesised on the fly (see docs/training.md).}${more:+ $more}"
python -m benchmarks.make_golden
logs=benchmarks/results/training/$(basename "$run")
mkdir -p "$logs" && cp "$run/log.csv" "$run/config.json" "$logs/"
python -m pytest -q -p no:cacheprovider tests/test_golden.py 2>&1 | tail -1
