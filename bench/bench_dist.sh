#!/usr/bin/env bash
# Speed-up of a small NEMOKD search over MPI ranks vs one process, measured in one invocation (same machine, same
# minutes). The unit of work is a whole `nemokd evolve` job, so this is a script, not a Google Benchmark program.
#
#   bench/bench_dist.sh [PATH/TO/nemokd] [WORK_DIR]        (TRAIN_LIMIT=N: training images, default 10000)
#
# The search: FlexStudent distilled from a small MLP teacher on the first 10 000 real Fashion-MNIST training images
# (test on 2 000), population 8, 2 generations, 1 epoch per candidate, latency = the MACs proxy (deterministic, so
# every configuration below evaluates exactly the same candidates when its trainings use the same thread count).
# Configurations:
#   1 rank, 2 threads   a single process training one candidate at a time on both cores (--jobs 1 --threads 2)
#   1 rank, 1 thread    the same with 1 thread (the per-training setting of the MPI runs)
#   2 ranks             mpirun -np 2 --mpi-root-works: rank 0 trains too; 1 thread each
#   3 ranks             mpirun -np 3: rank 0 coordinates, ranks 1-2 train; 1 thread each
# Reported: wall seconds, trainings, evaluations per hour, speed-up vs each 1-rank baseline, and whether the MPI runs
# ended with the 1-thread single-process run's candidates (they must).
set -euo pipefail
NEMOKD=${1:-build/apps/nemokd/nemokd}
work=${2:-$(mktemp -d)}
mkdir -p "$work"
MPIRUN=${MPIRUN:-mpirun}

data=(--dataset fashion-mnist --train-limit "${TRAIN_LIMIT:-10000}" --test-limit 2000 --val-size 200)
echo "bench_dist: work folder $work" >&2
echo "bench_dist: $("$NEMOKD" --version), ${TRAIN_LIMIT:-10000} training images, $(nproc) cores" >&2
[ -f "$work/teacher/run.json" ] ||
  "$NEMOKD" train "${data[@]}" --hidden 64 --epochs 1 --threads 2 --out "$work/teacher" --quiet --json > /dev/null
# Fill the teacher-output cache before timing anything (every configuration would otherwise pay it once).
[ -f "$work/warm/run.json" ] ||
  "$NEMOKD" kd train --teacher "$work/teacher" --student flexstudent --student-config '{"conv_channels":[4],"fc_widths":[8]}' \
    "${data[@]}" --epochs 1 --threads 2 --out "$work/warm" --quiet --json > /dev/null

search=(evolve --teacher "$work/teacher" --student flexstudent "${data[@]}" --epochs 1 --alpha 0.5 -T 4
        --population 8 --generations 2 --latency macs --search-seed 1
        --space '{"max_conv":3,"channels":[8,16,32],"max_fc":2,"neurons":[32,64,128]}' --no-seed-baseline --quiet --json)

run() {  # NAME COMMAND...: wall seconds of the command, its JSON in $work/NAME.json
  local name=$1; shift
  rm -rf "$work/$name"
  local t0 t1
  t0=$(date +%s.%N)
  "$@" --out "$work/$name" > "$work/$name.json" 2> "$work/$name.err"
  t1=$(date +%s.%N)
  python3 -c "print(f'{$t1 - $t0:.1f}')" > "$work/$name.seconds"
}
run one-rank-2t "$NEMOKD" "${search[@]}" --jobs 1 --threads 2
run one-rank-1t "$NEMOKD" "${search[@]}" --jobs 1 --threads 1
run two-ranks "$MPIRUN" --allow-run-as-root --oversubscribe -np 2 "$NEMOKD" "${search[@]}" --mpi-root-works --mpi-threads 1
run three-ranks "$MPIRUN" --allow-run-as-root --oversubscribe -np 3 "$NEMOKD" "${search[@]}" --mpi-threads 1

python3 - "$work" <<'PY'
import json, sys, os
w = sys.argv[1]
rows = []
for name, label in [("one-rank-2t", "1 rank, 2 threads"), ("one-rank-1t", "1 rank, 1 thread"),
                    ("two-ranks", "2 ranks (rank 0 trains too), 1 thread each"),
                    ("three-ranks", "3 ranks (rank 0 coordinates), 1 thread each")]:
    d = json.load(open(os.path.join(w, name + ".json")))
    s = float(open(os.path.join(w, name + ".seconds")).read())
    rows.append((name, label, s, d["evaluated_now"], d))
key = lambda d: [(c["key"], c["test_error"], c["generation"]) for c in d["candidates"]]
base2, base1 = rows[0], rows[1]
print(f"{'configuration':<46} {'wall s':>7} {'trainings':>9} {'eval/h':>7} {'vs 1r2t':>8} {'vs 1r1t':>8}  same search as 1 rank, 1 thread")
for name, label, s, n, d in rows:
    per_h = n / s * 3600
    same = "-" if name.startswith("one-rank") else ("yes" if key(d) == key(base1[4]) else "NO")
    print(f"{label:<46} {s:7.1f} {n:9d} {per_h:7.0f} {per_h / (base2[3] / base2[2] * 3600):7.2f}x "
          f"{per_h / (base1[3] / base1[2] * 3600):7.2f}x  {same}")
PY
