#!/usr/bin/env bash
# Issue 18's pilot sweep at GPU scale: the 16-kernel arms of benchmarks/pilot.py (C-base,
# C-fourier, C-fourier-spec, C-fourier-aux), one after another on one CUDA device, each for
# the same number of minutes, batch 16. Each arm leaves OUT/<arm>/log.csv, summary.json and
# model.pt (1.5-1.8 MB) plus OUT/<arm>.log. What to look for (experiments.md section 10):
# the inversion index rising above ~0.1 and the validation gain leaving the linear floor of
# the bank (+0.42 dB) toward the true-PSF Wiener filter (+2.35 dB).
#
#   bash benchmarks/pilot_gpu.sh OUT [MINUTES_PER_ARM] [DEVICE]
#
# Tested on the CPU with: bash benchmarks/pilot_gpu.sh runs/pilot-smoke 0.02 cpu
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: pilot_gpu.sh OUT [MINUTES_PER_ARM] [DEVICE]}
minutes=${2:-2}
device=${3:-cuda}
mkdir -p "$out"
arm() {
  local name=$1
  shift
  echo "== $name" >&2
  PYTHONPATH="$here/.." python "$here/pilot.py" --kernels 16 --batch 16 --threads 8 \
    --minutes "$minutes" --device "$device" --eval-every 500 --out "$out/$name" "$@" \
    >"$out/$name.log" 2>&1 || echo "arm $name failed (see $out/$name.log)" >&2
  tail -n 1 "$out/$name.log" >&2
}
arm C-base --variant base
arm C-fourier --variant base-fourier
arm C-fourier-spec --variant base-fourier-spec
arm C-fourier-aux --variant base-fourier --aux 0.1
