#!/usr/bin/env bash
# CTest `report.browser`: one report of the committed experiments that are present (Q1, Q2, K on Fashion-MNIST, the
# integer engine) plus the hand-written fixtures of tests/data/report (invented numbers: an evolution with a final
# stage, a joint search), opened in headless Chromium by scripts/report-check.sh
# (every chart rendered, no console error) with a screenshot. Exit 77 (CTest: skipped) when Chromium is absent.
#   tests/report_browser.sh NEMOKD_BINARY OUT_DIR
set -euo pipefail
nemokd="$1"
out="$2"
cd "$(dirname "$0")/.."
dirs=()
for d in experiments/q1 experiments/q2/runs experiments/k-fmnist experiments/engine tests/data/report/evolution tests/data/report/joint; do
  [[ -e "$d" ]] && dirs+=("$d")
done
mkdir -p "$out"
"$nemokd" report "${dirs[@]}" --out "$out/report.html" --quiet
exec bash scripts/report-check.sh "$out/report.html" "$out/report.png"
