#!/usr/bin/env bash
# Route Q's Q2 models (TFC on Fashion-MNIST, W2A2/W3A3/W4A4, seed 0) on a CPU: each trained cell of runs/ built into
# an integer model, checked bit-exact against its QAT model on the whole test set, then measured with
# `nemokd engine bench` (batch 4096 on 2 threads, and one frame at a time on one thread) and saved as
# runs/wXaY/engine_bench.json, which `nemokd report` puts on the Q-vs-K chart beside route K's CPU latencies.
# Needs the cells' model.pt (weights are not committed: experiments/q2/run.sh retrains them; seed 0 reproduces the
# recorded accuracies exactly). Measure on a quiet machine: these are wall-clock figures.
#
#   experiments/q2/engine.sh [NEMOKD_BINARY]
set -euo pipefail
cd "$(dirname "$0")/../.."
nemokd=${1:-build/apps/nemokd/nemokd}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for cell in w2a2 w3a3 w4a4; do
  dir=experiments/q2/runs/$cell
  [ -f "$dir/model.pt" ] || { echo "$dir/model.pt missing: run experiments/q2/run.sh first" >&2; exit 1; }
  "$nemokd" engine build --model "$dir" --out "$work/$cell.nqe" --quiet
  "$nemokd" engine eval --model "$work/$cell.nqe" --compare "$dir" --threads 2 --json > "$work/$cell.eval.json"
  python3 - "$work/$cell.eval.json" "$dir/run.json" <<'PY'
import json, sys
e, r = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
c = e["compare"]
assert c["exact"] and c["prediction_mismatches"] == 0, c
assert abs(e["accuracy"] - r["results"]["final_test_accuracy"]) < 1e-9, (e["accuracy"], r["results"]["final_test_accuracy"])
print(f'{sys.argv[2].split("/")[-2]}: engine accuracy {e["accuracy"]:.4f} = recorded, bit-exact on {e["frames"]} test images')
PY
  "$nemokd" engine bench --model "$work/$cell.nqe" --batch 4096 --threads 2 --seconds 3 --save "$dir/engine_bench.json"
done
