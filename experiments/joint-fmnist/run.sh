#!/usr/bin/env bash
# Issue 19: "quantized, distilled or both?" on Fashion-MNIST for the XC7Z020 at 100 MHz (docs/SEARCH.md).
# One command, every step resumable and skipped once done (a `.done` file records wall time and epochs):
#   seed-S   for S in 0 1 2: `nemokd evolve --preset joint-fmnist` (qmlp with per-layer bit genes, the QAT recipe,
#            KD from the k-fmnist teacher with alpha 0.5, T 4, cost fpga:xc7z020,fclk=100, selection on validation,
#            route Q's uniform TFC/SFC/LFC x W1A1..W4A4 points with and without KD trained beside it)
#            --search-seed S --seed S -> seed-S/
#   report   `nemokd report` over the three runs -> report.html
#   choose   `nemokd choose` over them for the XC7Z020 at >= 100 000 FPS (expected on board), bundle -> chosen/
#   then     summarize.py (README tables).
# Teacher: the k-fmnist ResNet-20 (TEACHER=run folder holding model.pt; weights are not committed).
#   TEACHER=/path/to/teacher experiments/joint-fmnist/run.sh        # the real run (~2 h on 2 cores; nice 19)
#   REHEARSAL=1 TEACHER=... experiments/joint-fmnist/run.sh         # on slices, a few minutes, into rehearsal/
# Also: MAX_WALL=seconds per seed's search (default 2400; 0 = none), NEMOKD=binary, SEEDS="0 1 2", EPOCHS / POPULATION / GENERATIONS to override the search's size, UNIFORM=list
# (--uniform-baselines; the rehearsal's default is tfc:1x1:both,tfc:2x2:both,sfc:2x2,lfc:1x1).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
seeds="${SEEDS:-0 1 2}"
source "$root/experiments/teacher-and-binary.sh"   # $nemokd (a private copy), $teacher (checked)

if [ "${REHEARSAL:-0}" = 1 ]; then
  out="${OUT:-$here/rehearsal}"
  data=(--train-limit 5000 --val-limit 1000 --test-limit 1000)
  epochs="${EPOCHS:-2}"; rungs=(--rungs 1,2); population="${POPULATION:-8}"; generations="${GENERATIONS:-1}"
  max_wall="${MAX_WALL:-0}"
  # A shorter uniform list (the preset's 24 points take most of a rehearsal's time): every kind, once.
  uniform=(--uniform-baselines "${UNIFORM:-tfc:1x1:both,tfc:2x2:both,sfc:2x2,lfc:1x1}")
  export_dir="$out/chosen"
else
  out="${OUT:-$here}"
  data=()
  # Sized to about 2 h of 2-core wall time for the three seeds: see README ("How the size was chosen").
  epochs="${EPOCHS:-3}"; rungs=(--rungs 1,3 --promote 0.34); population="${POPULATION:-32}"
  generations="${GENERATIONS:-14}"
  # A cap per seed (s; not part of a search's identity, may be changed on a resume): if the machine is slower than
  # estimated, a search stops between generations (results.json protocol.stopped_by_max_wall says so).
  max_wall="${MAX_WALL:-2400}"
  export_dir="$here/chosen"
  uniform=()   # the preset's: TFC/SFC/LFC x W1A1..W4A4, with and without KD
  [ -n "${UNIFORM:-}" ] && uniform=(--uniform-baselines "$UNIFORM")
fi
speed=(--jobs 2 --threads 1)
mkdir -p "$out"
echo "joint-fmnist: outputs in $out, teacher $teacher$([ "${REHEARSAL:-0}" = 1 ] && echo ' (REHEARSAL)')"

epochs_of() {
  python3 - "$1" <<'PY'
import json, sys, os
r = json.load(open(os.path.join(sys.argv[1], "results.json")))
b = r.get("budget") or []
print(f"search {b[-1].get('cum_epochs', sum(g.get('epochs', 0) for g in b)) if b else 'n/a'} ep"
      f" (baselines and generations, every training counted)")
PY
}

runs=()
for s in $seeds; do
  dir="$out/seed-$s"; runs+=("$dir")
  if [ -f "$dir/.done" ]; then echo "step seed-$s: done already ($(cat "$dir/.done")), skipped"; continue; fi
  if [ -f "$dir/state.db" ]; then
    args=(--resume)   # a resume takes the stored config
  else
    args=(--preset joint-fmnist --teacher "$teacher" "${data[@]}" --epochs "$epochs" "${rungs[@]}"
          --population "$population" --generations "$generations" --search-seed "$s" --seed "$s"
          ${uniform[@]+"${uniform[@]}"})
  fi
  echo "step seed-$s: nemokd evolve ${args[*]} ${speed[*]} --out $dir"
  start=$(date +%s)
  nice -n 19 "$nemokd" evolve "${args[@]}" --max-wall "$max_wall" "${speed[@]}" --out "$dir" --quiet
  line="wall $(( $(date +%s) - start )) s (this invocation), $(epochs_of "$dir")"
  echo "step seed-$s: $line"; echo "$line" > "$dir/.done"
done

echo "step report: nemokd report -> $out/report.html"
nice -n 19 "$nemokd" report "${runs[@]}" --out "$out/report.html" --title "Joint search vs route Q, Fashion-MNIST, XC7Z020 @ 100 MHz" --quiet
echo "step choose: nemokd choose --target fpga:xc7z020,fclk=100 --min-fps 100000 --export $export_dir"
rm -rf "$export_dir"
# Nothing meeting the constraint is an answer too (exit 1, one line naming the closest model): recorded, not fatal.
if ! nice -n 19 "$nemokd" choose "${runs[@]}" --target fpga:xc7z020,fclk=100 --min-fps 100000 \
       --export "$export_dir" > "$out/choose.txt" 2>&1; then
  echo "step choose: no model met the constraint (see below)"
fi
cat "$out/choose.txt"
python3 "$here/summarize.py" "${runs[@]}" | tee "$out/summary.md"
