#!/usr/bin/env bash
# Runs recorded by earlier versions (the committed experiments and test data): `nemokd run` still accepts each kind
# of record (train and kd train; MLPs float and quantized, the FlexStudents of the KD grid and of the evolution, the
# joint search's quantized MLPs with per-layer bits) and
# rebuilds the same model. Only the data (generated IDX files), the epochs (1) and the teacher (a tiny one trained
# here) are replaced, so each re-run takes seconds; the model, quantizers and training setup are the recorded ones.
# Usage: test_recorded_runs.sh PATH/TO/nemokd
set -u
NEMOKD=${1:?usage: test_recorded_runs.sh PATH/TO/nemokd}
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
root=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

make_set "$work/good"
"$NEMOKD" train --from "$work/good" --val-size 20 --hidden 16 --epochs 1 --out "$work/teacher" --quiet --json \
  > /dev/null 2>"$work/teacher.err" || bad "teacher for the recorded kd runs" "$(cat "$work/teacher.err")"
recorded=0
for rec in "$root"/tests/data/qat-tfc-w1a1/run.json "$root"/experiments/q1/runs/w1a2/run.json \
           "$root"/experiments/q1/lfc-runs/w2a2/run.json "$root"/experiments/q1/lfc-float/w32a32/run.json \
           "$root"/experiments/q2/runs/w2a2/run.json "$root"/experiments/engine/runs/tfc-w1a1-in1/run.json \
           "$root"/experiments/k-fmnist/grid/a0.5-t4/run.json \
           "$(ls "$root"/experiments/nemokd-fmnist/run/candidates/*/run.json | head -1)" \
           "$root"/experiments/joint-fmnist/chosen/run.json \
           "$(ls "$root"/experiments/joint-fmnist/seed-0/front/*/run.json | head -1)"; do
  recorded=$((recorded+1))
  python3 - "$rec" "$work/good" "$work/teacher" "$work/old-$recorded.json" <<'PY'
import json, sys
rec, good, teacher, out = sys.argv[1:]
r = json.load(open(rec))
c = r["config"]
c["dataset"].update({"from": good, "val_size": 20, "fetch_missing": False})
c["train"].update({"epochs": 1, "test_eval_epochs": []})
if "kd" in c: c["kd"]["teacher"] = teacher
json.dump(r, open(out, "w"))
PY
  if "$NEMOKD" run "$work/old-$recorded.json" --out "$work/old-run-$recorded" --threads 1 --quiet --json \
       > "$work/old-$recorded.out" 2>"$work/old-$recorded.err" &&
     python3 - "$rec" "$work/old-run-$recorded/run.json" <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
assert b["status"] == "completed" and b["command"] == a["command"], (b["status"], b["command"])
assert b["config"]["model"] == a["config"]["model"], "model differs"
PY
  then ok "nemokd run of a recorded '$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["command"])' "$rec")' run (${rec#"$root"/})"
  else bad "nemokd run of the recorded ${rec#"$root"/}" "$(cat "$work/old-$recorded.err" "$work/old-$recorded.out")"; fi
done

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
