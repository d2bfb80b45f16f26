#!/usr/bin/env bash
# QAT training beside a busy process vs on quiet cores, measured in one invocation (same machine, same minutes):
# what a shared machine does to nemokd's default thread settings. The unit of work is a whole `nemokd quant train`
# process (OpenMP reads its wait policy at process start), so this is a script, not a Google Benchmark program.
#
#   bench/bench_contention.sh [PATH/TO/nemokd] [WORK_DIR]     (TRAIN_LIMIT=N training images, default 30000;
#                                                              BUSY=N busy processes, default 1; REPS=N, default 3)
#
# Training: TFC W2A2 (784-64-64-64-10, 2-bit weights and activations) on the first TRAIN_LIMIT real MNIST training
# images, 1 epoch. The busy process is a shell loop spinning on one core (`while :`), started before the training and
# killed after it. Configurations, each quiet and busy:
#   default             nothing set: nemokd picks the threads (the cores no other process is using, core/runtime.h)
#                       and bounds OpenMP's spinning (GOMP_SPINCOUNT=10000, then sleep)
#   all cores           --threads <all cores>, nemokd's bounded spin: the default before the thread count looked at
#                       the machine's load
#   all, libgomp 300000 --threads <all cores>, GOMP_SPINCOUNT=300000: libgomp's own default (nemokd's before the
#                       bounded spin)
#   all, passive        --threads <all cores>, OMP_WAIT_POLICY=passive: sleep at once
#   --threads 1         one training thread, the reference a busy machine is often told to use
# Reported per configuration: the median training throughput (img/s, from run.json) of REPS runs, quiet and busy,
# and the slowdown busy/quiet. Goal for the default: <= 2x. Short runs are noisy: TRAIN_LIMIT=30000 or more.
set -euo pipefail
NEMOKD=${1:-build/apps/nemokd/nemokd}
work=${2:-$(mktemp -d)}
mkdir -p "$work"
reps=${REPS:-3}
busy_count=${BUSY:-1}
train=(quant train --dataset mnist --train-limit "${TRAIN_LIMIT:-30000}" --test-limit 1000 --val-size 1000
       --topology tfc --wbits 2 --abits 2 --epochs 1 --quiet --json)
echo "bench_contention: $("$NEMOKD" --version), $(nproc) cores, ${TRAIN_LIMIT:-30000} training images, $busy_count busy" \
     "process(es), median of $reps runs; load average before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

busy_pids=()
start_busy() { for ((i = 0; i < busy_count; i++)); do sh -c 'while :; do :; done' & busy_pids+=($!); done; }
stop_busy() { for p in "${busy_pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; busy_pids=(); }
trap stop_busy EXIT

# measure NAME ENV... -- ARGS...: the median img/s of REPS trainings
measure() {
  local name=$1; shift
  local envs=()
  while [ "$1" != "--" ]; do envs+=("$1"); shift; done
  shift
  local values=()
  for ((r = 0; r < reps; r++)); do
    rm -rf "$work/$name"
    env "${envs[@]}" "$NEMOKD" "${train[@]}" "$@" --out "$work/$name" > "$work/$name.json"
    values+=("$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["results"]["train_images_per_second"])' "$work/$name.json")")
  done
  printf '%s\n' "${values[@]}" | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'
}

all=$(nproc)
printf '%-20s %12s %12s %10s\n' "configuration" "quiet img/s" "busy img/s" "slowdown"
for config in default all libgomp passive threads1; do
  case $config in
    default)  label="default";             envs=(-u OMP_WAIT_POLICY -u GOMP_SPINCOUNT); args=() ;;
    all)      label="all cores";           envs=(-u OMP_WAIT_POLICY -u GOMP_SPINCOUNT); args=(--threads "$all") ;;
    libgomp)  label="all, libgomp 300000"; envs=(-u OMP_WAIT_POLICY GOMP_SPINCOUNT=300000); args=(--threads "$all") ;;
    passive)  label="all, passive";        envs=(-u GOMP_SPINCOUNT OMP_WAIT_POLICY=passive); args=(--threads "$all") ;;
    threads1) label="--threads 1";         envs=(-u OMP_WAIT_POLICY -u GOMP_SPINCOUNT); args=(--threads 1) ;;
  esac
  quiet=$(measure "$config-quiet" "${envs[@]}" -- "${args[@]}")
  start_busy
  busy=$(measure "$config-busy" "${envs[@]}" -- "${args[@]}")
  stop_busy
  printf '%-20s %12.0f %12.0f %9.2fx\n' "$label" "$quiet" "$busy" "$(python3 -c "print($quiet / $busy)")"
done
echo "reproduce: bench/bench_contention.sh $NEMOKD (TRAIN_LIMIT=${TRAIN_LIMIT:-30000} BUSY=$busy_count REPS=$reps)"
