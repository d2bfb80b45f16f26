#!/usr/bin/env bash
# Experiment Q1, LFC part: LFC (784-1024x3-10) on MNIST for 10 epochs, on the W x A cells of the paper's three
# radar-chart slices — weight-oriented (W1,W3,W6,W8 at A4), activation-oriented (A1,A3,A6,A8 at W4) and
# diagonal (W1A1, W2A2, W4A4, W7A7) — 12 models (all 64 do not fit this session's 2-core budget).
set -euo pipefail
cd "$(dirname "$0")/../.."
exec build/apps/nemokd/nemokd quant sweep --dataset mnist --topology lfc \
  --pairs 1x4,3x4,6x4,8x4,4x1,4x3,4x6,4x8,1x1,2x2,4x4,7x7 --epochs 10 --eval-at 5,10 --jobs 2 \
  --out experiments/q1/lfc-runs --resume "$@"
