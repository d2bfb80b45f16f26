#!/usr/bin/env bash
# Float references for Q1, trained exactly like the quantized cells (same sweep, same recipe, the sweep's signed
# 8-bit input quantizer kept; only W and A at 32 bits = float):
#   TFC, 100 epochs, seeds 0, 1, 2 -> tfc-float/, tfc-float-seed1/, tfc-float-seed2/
#   LFC, 10 epochs, seed 0         -> lfc-float/
# Usage: experiments/q1/run-float.sh [extra `quant sweep` flags]   Resumable.
set -euo pipefail
cd "$(dirname "$0")/../.."
nemokd=build/apps/nemokd/nemokd
for seed in 0 1 2; do
  out=experiments/q1/tfc-float; [ "$seed" = 0 ] || out=experiments/q1/tfc-float-seed$seed
  nice -n 19 "$nemokd" quant sweep --preset q1 --pairs 32x32 --seed "$seed" --jobs 1 --threads 1 --out "$out" --resume "$@"
done
nice -n 19 "$nemokd" quant sweep --dataset mnist --topology lfc --pairs 32x32 --epochs 10 --eval-at 5,10 --jobs 1 \
  --threads 1 --out experiments/q1/lfc-float --resume "$@"
