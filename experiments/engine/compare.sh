#!/usr/bin/env bash
# Builds the integer model of every trained QAT cell of experiments/q1 (64 TFC cells, 12 LFC cells) and checks it
# against the QAT model on the whole MNIST test set: every output code, accumulator, logit and prediction.
# Output: compare.csv (one row per cell). Usage: experiments/engine/compare.sh [NEMOKD_BINARY]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# A private copy of the binary: a rebuild during the run cannot pull it from under us.
cp "${1:-$root/build/apps/nemokd/nemokd}" "$work/nemokd"
nemokd="$work/nemokd"
out="$here/compare.csv"
echo "set,cell,bytes,engine_accuracy,model_accuracy,recorded_accuracy,code_mismatches,accumulator_mismatches,logit_mismatches,prediction_mismatches,exact,kernels" > "$out.tmp"
for set in runs lfc-runs; do
  for dir in "$root"/experiments/q1/$set/w*; do
    cell="$(basename "$dir")"
    [ -f "$dir/model.pt" ] || { echo "skip $set/$cell (no model.pt: train it with experiments/q1/run.sh)"; continue; }
    "$nemokd" engine build --model "$dir" --out "$work/$cell.nqe" --json > "$work/build.json"
    "$nemokd" engine eval --model "$work/$cell.nqe" --compare "$dir" --threads 2 --json > "$work/eval.json" || true
    python3 - "$set" "$cell" "$work/build.json" "$work/eval.json" "$dir/run.json" >> "$out.tmp" <<'PY'
import json, sys
s, cell, b, e, r = sys.argv[1:]
b, e, r = json.load(open(b)), json.load(open(e)), json.load(open(r))
c = e["compare"]
kernels = " ".join(l["kernel"] for l in e["layers"])
print(",".join(str(v) for v in [s, cell, b["bytes"], e["accuracy"], c["model_accuracy"], r["results"]["final_test_accuracy"],
      c["code_mismatches"], c["accumulator_mismatches"], c["logit_mismatches"], c["prediction_mismatches"],
      c["exact"], kernels]))
PY
    tail -1 "$out.tmp"
  done
done
mv "$out.tmp" "$out"
