#!/usr/bin/env bash
# nemokd under MPI, on this one machine (3 ranks on 2 cores: rank 0 coordinates, ranks 1 and 2 train):
#  - a distributed search ends with exactly the single-process run's candidates, populations and fronts (same seed),
#    its trainings really ran on ranks 1 and 2, and a designated measurement rank measures every latency;
#  - a worker rank killed (SIGKILL) mid-generation stops the whole job; `--resume` then loses nothing finished (the
#    run folders trained before the kill are not trained again) and ends where the uninterrupted run ends;
#  - W x A sweeps and (alpha, T) grids spread over the ranks with the single-process results;
#  - a measurement rank that does not exist is a clear error.
# Usage: test_mpi.sh PATH/TO/nemokd [PATH/TO/mpirun]
set -u
NEMOKD=${1:?usage: test_mpi.sh PATH/TO/nemokd [PATH/TO/mpirun]}
MPIRUN=${2:-mpirun}
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
mpi3() { "$MPIRUN" --allow-run-as-root --oversubscribe -np 3 "$@"; }

# same_search A.json B.json: same candidates (architecture, role, status, error, latency, generation), same
# per-generation populations and fronts.
same_search() {
  python3 - "$1" "$2" <<'PY'
import json, sys
a, b = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
strip = lambda r: [(c["key"], c["role"], c["status"], c["test_error"], c["latency"], c["generation"]) for c in r["candidates"]]
assert strip(a) == strip(b), "candidates differ"
assert a["generations"] == b["generations"], "populations differ"
assert a["fronts"] == b["fronts"], "fronts differ"
assert all(c["status"] == "completed" for c in a["candidates"]), [c["message"] for c in a["candidates"]]
PY
}

make_set "$work/good"
"$NEMOKD" train --from "$work/good" --val-size 20 --hidden 16 --epochs 1 --out "$work/teacher" --quiet --json \
  > /dev/null 2>"$work/teacher.err" || { bad "teacher" "$(cat "$work/teacher.err")"; exit 1; }

# One thread per training everywhere (single process: 2 cores / --jobs 2; MPI: 2 cores / 2 training ranks), so
# the trainings are the same computations and the two searches must agree exactly.
evo_args=(--teacher "$work/teacher" --student flexstudent --student-config '{"conv_channels":[4,8],"fc_widths":[8]}'
          --from "$work/good" --val-size 20 --epochs 1 --population 8 --generations 3 --latency macs --search-seed 5 --space '{"max_conv":3,"channels":[2,4,8],"max_fc":2,"neurons":[4,8,16]}')
"$NEMOKD" evolve "${evo_args[@]}" --jobs 2 --out "$work/evo-local" --quiet --json > "$work/local.json" 2>"$work/local.err" ||
  { bad "single-process search" "$(tail -c 1500 "$work/local.err")"; exit 1; }

if mpi3 "$NEMOKD" -v evolve "${evo_args[@]}" --out "$work/evo-mpi" --json > "$work/mpi.json" 2>"$work/mpi.err" &&
   same_search "$work/local.json" "$work/mpi.json" 2>"$work/cmp.err" &&
   grep -q "MPI: 3 ranks on 1 machine(s); 2 train" "$work/mpi.err" &&
   grep -q "on rank 1 " "$work/mpi.err" && grep -q "on rank 2 " "$work/mpi.err" && ! grep -q "on rank 0 " "$work/mpi.err"; then
  ok "evolve under mpirun -np 3 = the single-process search (candidates, populations, fronts); trained on ranks 1 and 2"
else bad "evolve under MPI" "$(tail -c 1500 "$work/mpi.err" "$work/cmp.err")"; fi

if mpi3 "$NEMOKD" evolve "${evo_args[@]}" --mpi-latency 2 --out "$work/evo-r2" --quiet --json > "$work/r2.json" 2>"$work/r2.err" &&
   same_search "$work/local.json" "$work/r2.json" 2>"$work/cmp.err" &&
   python3 - "$work/r2.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
ranks = {c["latency_detail"].get("rank") for c in d["candidates"]}
assert ranks == {2}, ranks
PY
then
  ok "evolve --mpi-latency 2: every latency measured by rank 2, same search"
else bad "evolve --mpi-latency 2" "$(tail -c 1500 "$work/r2.err" "$work/cmp.err")"; fi

out=$(mpi3 "$NEMOKD" evolve "${evo_args[@]}" --mpi-latency 5 --out "$work/evo-r5" --quiet 2>&1); code=$?
if [ $code -ne 0 ] && grep -q "mpi-latency: rank 5, but this job has ranks 0..2" <<<"$out" && [ ! -e "$work/evo-r5/state.db" ]; then
  ok "evolve --mpi-latency 5 with 3 ranks: a clear error before anything trains"
else bad "evolve --mpi-latency 5 (exit $code)" "$(tail -c 800 <<<"$out")"; fi

# A worker rank dies mid-generation: the job stops; --resume finishes it without retraining anything finished.
count_stored() { python3 -c 'import sqlite3,sys
try: print(sqlite3.connect(sys.argv[1]).execute("select count(*) from candidates").fetchone()[0])
except Exception: print(0)' "$work/evo-k/state.db"; }
finished_runs() {  # run folders whose training has finished, with a checksum of their record
  for f in "$work"/evo-k/candidates/*/run.json; do
    [ -f "$f" ] && grep -q '"status": "completed"' "$f" && md5sum "$f"
  done 2>/dev/null | sort
}
rank_pid() {  # the rank process itself (its trainings carry NEMOKD_MPI_CHILD)
  for p in $(pgrep -f "evo-k"); do
    env=$(tr '\0' '\n' < "/proc/$p/environ" 2>/dev/null) || continue
    grep -qx "OMPI_COMM_WORLD_RANK=$1" <<<"$env" && ! grep -q "^NEMOKD_MPI_CHILD=" <<<"$env" && { echo "$p"; return; }
  done
}
mpi3 "$NEMOKD" evolve "${evo_args[@]}" --out "$work/evo-k" --quiet --json > /dev/null 2>"$work/k.err" &
job=$!
for _ in $(seq 1 600); do [ "$(count_stored)" -ge 10 ] && break; sleep 0.1; done  # baselines + generation 0
trainings=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["candidates"]))' "$work/local.json")
kill_after=$(( trainings > 14 ? 12 : trainings - 2 ))  # well into generation 1, before the end
for _ in $(seq 1 600); do [ "$(finished_runs | wc -l)" -ge $kill_after ] && break; sleep 0.05; done
victim=$(rank_pid 1)
[ -n "$victim" ] && kill -9 "$victim"
stop_start=$(date +%s)
wait "$job"; job_code=$?
stop_seconds=$(( $(date +%s) - stop_start ))
stored_at_kill=$(count_stored)
finished_runs > "$work/finished-at-kill"
if [ -n "$victim" ] && [ $job_code -ne 0 ] && [ $stop_seconds -lt 60 ] &&
   mpi3 "$NEMOKD" evolve --resume --out "$work/evo-k" --quiet --json > "$work/k.json" 2>"$work/k2.err" &&
   same_search "$work/local.json" "$work/k.json" 2>"$work/cmp.err" &&
   [ "$(join -j 2 <(sort -k2 "$work/finished-at-kill") <(finished_runs | sort -k2) | awk '$2 != $3' | wc -l)" -eq 0 ] &&
   [ "$(wc -l < "$work/finished-at-kill")" -ge $kill_after ]; then
  ok "a worker killed mid-generation stops the job (exit $job_code in ${stop_seconds}s, $stored_at_kill candidates stored, $(wc -l < "$work/finished-at-kill") trainings finished); --resume: same search, none retrained"
else bad "worker killed (victim '${victim}', job exit $job_code after ${stop_seconds}s)" \
  "$(tail -c 1200 "$work/k.err" "$work/k2.err" "$work/cmp.err" 2>/dev/null)"; fi

# Sweeps and grids are batches of independent trainings too.
sweep_args=(quant sweep --from "$work/good" --val-size 20 --topology 16 --pairs 1x1,2x2,3x3 --epochs 1 --quiet --json)
if "$NEMOKD" "${sweep_args[@]}" --jobs 2 --out "$work/sweep-local" > "$work/sweep-local.json" 2>"$work/sweep.err" &&
   mpi3 "$NEMOKD" "${sweep_args[@]}" --out "$work/sweep-mpi" > "$work/sweep-mpi.json" 2>>"$work/sweep.err" &&
   python3 - "$work/sweep-local.json" "$work/sweep-mpi.json" <<'PY'
import json, sys
rows = lambda p: sorted((r["wbits"], r["abits"], r["status"], r["final_test_accuracy"]) for r in json.load(open(p))["rows"])
a, b = rows(sys.argv[1]), rows(sys.argv[2])
assert len(a) == 3 and a == b, (a, b)
PY
then ok "quant sweep under mpirun -np 3: the single-process table"
else bad "quant sweep under MPI" "$(tail -c 1500 "$work/sweep.err" "$work/sweep-mpi.json")"; fi

grid_args=(kd grid --teacher "$work/teacher" --student flexstudent --student-config '{"conv_channels":[4],"fc_widths":[8]}'
           --from "$work/good" --val-size 20 --epochs 1 --alphas 0.5,0.9 --temperatures 2 --quiet --json)
if "$NEMOKD" "${grid_args[@]}" --jobs 2 --out "$work/grid-local" > "$work/grid-local.json" 2>"$work/grid.err" &&
   mpi3 "$NEMOKD" "${grid_args[@]}" --out "$work/grid-mpi" > "$work/grid-mpi.json" 2>>"$work/grid.err" &&
   python3 - "$work/grid-local.json" "$work/grid-mpi.json" <<'PY'
import json, sys
rows = lambda p: sorted((r["name"], r["status"], r["test_accuracy"]) for r in json.load(open(p))["rows"])
a, b = rows(sys.argv[1]), rows(sys.argv[2])
assert len(a) == 3 and a == b, (a, b)
PY
then ok "kd grid under mpirun -np 3: the single-process cells"
else bad "kd grid under MPI" "$(tail -c 1500 "$work/grid.err" "$work/grid-mpi.json")"; fi

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
