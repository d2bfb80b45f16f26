#!/usr/bin/env bash
# Experiment Q2 (paper's Table 2): TFC on Fashion-MNIST, W2A2 / W3A3 / W4A4, 40 epochs, test accuracy at
# 10/20/30/40 epochs. Usage: experiments/q2/run.sh [extra `quant sweep` flags, e.g. --scale 0.25]
set -euo pipefail
cd "$(dirname "$0")/../.."
exec build/apps/nemokd/nemokd quant sweep --preset q2 --jobs 2 --out experiments/q2/runs --resume "$@"
