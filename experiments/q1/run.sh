#!/usr/bin/env bash
# Experiment Q1 (paper's Table 2): TFC on MNIST, every W1..8 x A1..8 (64 models), 100 epochs, test accuracy
# at 10/20/30/50/100 epochs. Usage: experiments/q1/run.sh [extra `quant sweep` flags]
set -euo pipefail
cd "$(dirname "$0")/../.."
exec build/apps/nemokd/nemokd quant sweep --preset q1 --jobs 2 --out experiments/q1/runs --resume "$@"
