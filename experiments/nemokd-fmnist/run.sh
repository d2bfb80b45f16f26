#!/usr/bin/env bash
# Issue 17's redo of the NEMOKD experiment on Fashion-MNIST (docs/SEARCH.md). One command, every step resumable
# and skipped once done (a `.done` file in its folder records wall time and epochs):
#   old    a COPY of the legacy run (run/, committed, never touched) -> old/, resumed with the final stage:
#          its test-selected archive front + both baselines retrained --final-epochs 10 x --final-seeds 3
#   a      a new search at the legacy run's wall budget (--max-wall 1362 s): --preset k-fmnist, --epochs 3
#          --rungs 1,3 --promote 0.34, selection on validation, baseline seeded (the defaults) -> search-1362/
#   b      the same search with --max-wall 5400 -> search-5400/
#   then   summarize.py over the three (README tables).
# All final-stage trainings go to one --final-dir (final/), so identical trainings (the baselines) run once.
# Teacher: the k-fmnist ResNet-20 (TEACHER=run folder holding model.pt; weights are not committed).
#   TEACHER=/path/to/teacher experiments/nemokd-fmnist/run.sh          # the real run (hours; nice 19)
#   REHEARSAL=1 TEACHER=... experiments/nemokd-fmnist/run.sh           # every step on slices, a few minutes,
#                                                                      # into rehearsal/ (git-ignored)
# Also: NEMOKD=binary (default build/apps/nemokd/nemokd), STEPS="old a b" (the steps to run, in this order).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
steps="${STEPS:-old a b}"
source "$root/experiments/teacher-and-binary.sh"   # $nemokd (a private copy), $teacher (checked)

# Settings of the real run and of the rehearsal (slices, a tiny population, 1 generation, short final stage).
if [ "${REHEARSAL:-0}" = 1 ]; then
  out="${OUT:-$here/rehearsal}"
  data=(--train-limit 2000 --val-limit 500 --test-limit 1000)
  search=(--epochs 2 --rungs 1,2 --promote 0.34 --population 8 --generations 1)
  wall_a=20; wall_b=40
  final=(--final-epochs 1 --final-seeds 2 --final-max 3)
  final_old=(--final-epochs 1 --final-seeds 2 --final-max 1)
else
  out="${OUT:-$here}"
  data=()
  search=(--epochs 3 --rungs 1,3 --promote 0.34 --population 16 --generations 1000)
  wall_a=1362; wall_b=5400
  final=(--final-epochs 10 --final-seeds 3)
  final_old=("${final[@]}")
fi
speed=(--jobs 2 --threads 1)
mkdir -p "$out"
echo "nemokd-fmnist: outputs in $out, teacher $teacher$([ "${REHEARSAL:-0}" = 1 ] && echo ' (REHEARSAL)')"

# Epochs a search folder spent: the search's budget (results.json) and the final stage's trainings (final.json).
epochs_of() {
  python3 - "$1" <<'PY'
import json, sys, os
d = sys.argv[1]
r = json.load(open(os.path.join(d, "results.json")))
b = r.get("budget") or []
search = b[-1].get("cum_epochs", sum(g.get("epochs", 0) for g in b)) if b else "n/a (no budget: legacy run)"
f = os.path.join(d, "final.json")
fin = "none"
if os.path.exists(f):
    F = json.load(open(f))
    pts = F.get("points", [])
    n = sum(len(p.get("runs") or []) for p in pts)
    fin = (f"{len(pts)} points, {n} trainings x {F.get('epochs', '?')} ep = {n * F.get('epochs', 0)} ep"
           f" ({F.get('trained_now', '?')} trained by this invocation)")
print(f"search {search} ep, final stage {fin}")
PY
}

# run_step NAME DIR ARGS...: `nemokd evolve` into DIR (resumed when DIR holds a search), wall and epochs printed.
run_step() {
  local name="$1" dir="$2"; shift 2
  if [ -f "$dir/.done" ]; then echo "step $name: done already ($(cat "$dir/.done")), skipped"; return; fi
  local resume=()
  [ -f "$dir/state.db" ] && resume=(--resume)
  echo "step $name: nemokd evolve ${resume[*]} --out $dir $*"
  local start; start=$(date +%s)
  nice -n 19 "$nemokd" evolve "${resume[@]}" --out "$dir" "$@" --quiet
  local wall=$(( $(date +%s) - start ))
  local line; line="wall $wall s (this invocation), $(epochs_of "$dir")"
  echo "step $name: $line"
  echo "$line" > "$dir/.done"
}

for step in $steps; do
  case "$step" in
    old)
      # The legacy run is copied (run/ stays as committed). Its stored settings name the teacher by the path it had
      # then and its candidates by absolute folders; a resume refuses any changed setting, so the copy is relocated
      # (teacher path -> $teacher, run folders -> the copy) by relocate.py, which says what it changed.
      if [ ! -f "$out/old/state.db" ]; then
        rm -rf "$out/old.tmp"; cp -a "$here/run" "$out/old.tmp"
        python3 "$here/relocate.py" "$out/old.tmp" "$here/run" "$teacher" "$out/old"
        mv "$out/old.tmp" "$out/old"
      fi
      # A resume takes the stored config: only the final-stage and speed settings are given.
      run_step old "$out/old" "${final_old[@]}" --final-dir "$out/final" "${speed[@]}"
      ;;
    a|b)
      wall=$wall_a; [ "$step" = b ] && wall=$wall_b
      cfg=()
      [ -f "$out/search-$wall/state.db" ] ||
        cfg=(--preset k-fmnist --teacher "$teacher" --alpha 0.5 --temperature 4 --cost 'torch:cpu:threads=1'
             "${data[@]}" "${search[@]}")
      run_step "$step" "$out/search-$wall" "${cfg[@]}" --max-wall "$wall" "${final[@]}" --final-dir "$out/final" \
        "${speed[@]}"
      ;;
    *) echo "run.sh: unknown step '$step' (old, a, b)" >&2; exit 2 ;;
  esac
done
python3 "$here/summarize.py" "$out" | tee "$out/summary.md"
