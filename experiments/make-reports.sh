#!/usr/bin/env bash
# Regenerates the HTML reports of the committed experiments, one `nemokd report` command each, into build/reports/
# (not committed: every page inlines ~0.85 MB of Vega). With --screenshots it also checks each page in headless
# Chromium (scripts/report-check.sh) and refreshes the PNGs under docs/img/ that the README shows.
#   experiments/make-reports.sh [--screenshots] [PATH/TO/nemokd]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
shots=0
if [[ "${1:-}" == "--screenshots" ]]; then shots=1; shift; fi
nemokd="${1:-$root/build/apps/nemokd/nemokd}"
out=build/reports
mkdir -p "$out"

# Q2's hardware half: the paper's foldings PE = SIMD in {2, 8, 16} for W2..4 x A2..4 (estimates, ~1 s).
mkdir -p "$out/q2-foldings"
for p in 2 8 16; do
  "$nemokd" fpga grid -t tfc --wbits 2-4 --abits 2-4 --pe "$p" --simd "$p" --fclk-mhz 100 --device xc7z020 \
    --csv "$out/q2-foldings/grid-pe$p.csv" >/dev/null
done

k_runs=()
[[ -d experiments/k-fmnist ]] && k_runs+=(experiments/k-fmnist)
[[ -d experiments/nemokd-fmnist ]] && k_runs+=(experiments/nemokd-fmnist)

"$nemokd" report experiments/q1 --out "$out/q1.html" --title "Q1: TFC and LFC on MNIST, W1..8 x A1..8"
"$nemokd" report experiments/q2/runs "$out/q2-foldings" --out "$out/q2.html" --title "Q2: TFC on Fashion-MNIST, foldings"
"$nemokd" report experiments/engine --out "$out/engine.html" --title "Integer engine against the QAT models"
for k in "${k_runs[@]}"; do
  "$nemokd" report "$k" --out "$out/$(basename "$k").html" --title "$(basename "$k")"
done
q_cnn=()  # quantized CNNs (experiments/qcnn-fmnist), once that experiment has run
for d in experiments/qcnn-fmnist/runs/cnv experiments/qcnn-fmnist/runs/qflexstudent; do
  [[ -f "$d/results.json" ]] && q_cnn+=("$d")
done
if ((${#q_cnn[@]})); then
  "$nemokd" report "${q_cnn[@]}" experiments/q2/runs --out "$out/qcnn-fmnist.html" \
    --title "Quantized CNNs and the Q2 MLPs on Fashion-MNIST"
fi
"$nemokd" report experiments/q1/runs experiments/q2/runs "${q_cnn[@]}" "$out/q2-foldings" "${k_runs[@]}" \
  --out "$out/all.html" --title "Route Q and route K" --no-epoch-curves

if ((shots)); then
  check=scripts/report-check.sh
  for page in "$out"/*.html; do bash "$check" "$page"; done
  mkdir -p docs/img
  bash "$check" "$out/q1.html" docs/img/report-q1-sweep.png 1400x2000 sweep1-curves,sweep1-acc,sweep1-hw-res,sweep1-hw-fit
  bash "$check" "$out/q1.html" docs/img/report-q1-radar.png 1200x1500 sweep0-radar-weights,sweep0-radar-activations,sweep0-radar-diagonal
  bash "$check" "$out/q2.html" docs/img/report-q2-foldings.png 1200x1150 fpga0-3-fps,fpga0-3-acc
  if [[ -f experiments/k-fmnist/grid/results.json ]]; then
    bash "$check" "$out/k-fmnist.html" docs/img/report-k-fmnist.png 1200x1100 kd0-surface,kd0-lines
  fi
  if [[ -f experiments/nemokd-fmnist/run/candidates.json ]]; then
    bash "$check" "$out/nemokd-fmnist.html" docs/img/report-nemokd-fmnist.png 1200x1000 evo0-pareto
  fi
  bash "$check" "$out/all.html" docs/img/report-q-vs-k.png 1200x1100 q-vs-k-chart
  bash "$check" "$out/all.html" docs/img/report-q-vs-k-cpu.png 1200x900 q-vs-k-cpu-chart
  if ((${#q_cnn[@]})); then
    bash "$check" "$out/qcnn-fmnist.html" docs/img/report-q-cost.png 1200x1000 q-cost-lut,q-cost-fps
  fi
fi
ls -l "$out"/*.html
