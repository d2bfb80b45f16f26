#!/usr/bin/env bash
# NEMOKD phase 2 on Fashion-MNIST (real data, CPU): NSGA-II over FlexStudent architectures, each candidate
# distilled from the k-fmnist teacher for 1 epoch with phase 1's best (alpha, T) (read from
# experiments/k-fmnist/grid/results.json), latency measured with LibTorch on this CPU (1 thread, batch 1), the
# un-evolved baseline with and without KD alongside. Resumable: rerun the same command after an interruption.
#   experiments/nemokd-fmnist/run.sh [POPULATION=16] [GENERATIONS=6]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
nemokd="${NEMOKD:-$root/build/apps/nemokd/nemokd}"
population="${1:-16}"
generations="${2:-6}"
bin="$(mktemp -d)"; trap 'rm -rf "$bin"' EXIT; cp "$nemokd" "$bin/nemokd"; nemokd="$bin/nemokd"
teacher="$root/experiments/k-fmnist/teacher"
read -r alpha temperature < <(python3 -c 'import json,sys; b=json.load(open(sys.argv[1]))["best"]; print(b["alpha"], b["temperature"])' \
  "$root/experiments/k-fmnist/grid/results.json")
echo "phase 1's best: alpha $alpha, T $temperature"
start=$(date +%s)
"$nemokd" evolve --preset k-fmnist --teacher "$teacher" --epochs 1 --alpha "$alpha" --temperature "$temperature" \
  --population "$population" --generations "$generations" --latency 'torch:cpu:threads=1' --jobs 2 --threads 2 \
  --out "$here/run" --resume --quiet
echo "wall time: $(( $(date +%s) - start )) s"
