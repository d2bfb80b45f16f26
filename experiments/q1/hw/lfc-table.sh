#!/usr/bin/env bash
# Issue 18 §1: the paper's hardware table (accuracy loss vs float, BRAM18, FF, LUT, designs that fit an XC7Z020 by
# BRAM, by FF, by all, under both fit verdicts) from the LFC W x A sweep in experiments/q1/lfc-runs.
# Folding: FINN's LFC folding (32,49),(64,32),(32,64),(10,8) — Xilinx/finn tests/end2end/test_end2end_bnn_pynq.py,
# fold_lfc: BNN-PYNQ's LFC folding (bnn/src/network/lfcW1A1/hw/config.h: (32,64),(64,32),(32,64),(16,8) on an input
# padded to 832 and 64 outputs) adapted to the unpadded 784-input, 10-class network; 512 cycles per frame either way.
# 100 MHz, legacy formulas, decoupled weights, signed 8-bit input quantizer and tanh activations as the sweep trains.
# Float reference: the same recipe with 32-bit weights and activations (experiments/q1/lfc-float, see README.md).
# Usage: lfc-table.sh [PATH/TO/nemokd] [SWEEP_DIR] [FLOAT_RUN_DIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
NEMOKD=$(realpath "${1:-$root/build/apps/nemokd/nemokd}")
cd "$root"  # paths in the table relative to the repository root
runs=${2:-experiments/q1/lfc-runs}
float=${3:-experiments/q1/lfc-float/w32a32}
"$NEMOKD" fpga table "$runs" --float-run "$float" --pe 32,64,32,10 --simd 49,32,64,8 --fclk-mhz 100 \
  --device xc7z020 --csv experiments/q1/hw/lfc-table.csv > experiments/q1/hw/lfc-table.md
cat experiments/q1/hw/lfc-table.md
