#!/usr/bin/env bash
# Experiment Q2 (paper's Table 2): TFC on Fashion-MNIST, W2A2 / W3A3 / W4A4, 40 epochs, test accuracy at
# 10/20/30/40 epochs, seeds 0, 1 and 2 (runs/, runs-seed1/, runs-seed2/). Resumable: finished cells are kept.
# Usage: experiments/q2/run.sh [extra `quant sweep` flags, e.g. --scale 0.25]   (SEEDS="0" for one seed)
set -euo pipefail
cd "$(dirname "$0")/../.."
for seed in ${SEEDS:-0 1 2}; do
  out=experiments/q2/runs; [ "$seed" = 0 ] || out=experiments/q2/runs-seed$seed
  build/apps/nemokd/nemokd quant sweep --preset q2 --seed "$seed" --jobs 2 --out "$out" --resume "$@"
done
