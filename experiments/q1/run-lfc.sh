#!/usr/bin/env bash
# Experiment Q1, LFC part: LFC (784-1024x3-10) on MNIST, all 64 W x A cells (W, A in 1..8), 10 epochs each, test
# accuracy after 5 and 10 epochs. 10 epochs, not the TFC cells' 100: 64 LFC trainings at 10 epochs already take about
# 3 hours on 2 cores (two at a time, one thread each) — the budget issue 18 gives this sweep. Resumable (--resume).
set -euo pipefail
cd "$(dirname "$0")/../.."
exec build/apps/nemokd/nemokd quant sweep --dataset mnist --topology lfc --wbits 1-8 --abits 1-8 --epochs 10 \
  --eval-at 5,10 --jobs 2 --threads 1 --out experiments/q1/lfc-runs --resume "$@"
