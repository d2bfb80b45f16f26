#!/usr/bin/env bash
# Q1 hardware half: FINN-style resource estimates of all 64 W x A models (W1..8 x A1..8) of TFC and LFC,
# at uniform PE = SIMD = 16 (the paper's Q2 folding; fc3's PE becomes 10, the largest divisor of 10 classes),
# 100 MHz, legacy formulas, decoupled weights, auto RAM, LUT multipliers, signed 8-bit input quantizer and tanh
# activations (as the Q1 sweep trains them), fit checked on an XC7Z020 with FINN's usable shares.
# One process for both topologies (startup of the binary, which links LibTorch, is most of the time).
# Writes grid.csv here and prints the wall time. Usage: run.sh [PATH/TO/nemokd]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
NEMOKD=${1:-$here/../../../build/apps/nemokd/nemokd}
start=$(date +%s.%N)
"$NEMOKD" fpga grid -t tfc -t lfc --wbits 1-8 --abits 1-8 --pe 16 --simd 16 --fclk-mhz 100 --device xc7z020 \
  --csv "$here/grid.csv"
end=$(date +%s.%N)
echo "wall time (128 estimates, one process): $(python3 -c "print(f'{$end - $start:.3f}')") s"
