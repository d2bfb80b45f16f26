#!/usr/bin/env bash
# Fuzzes nemokd's file readers with libFuzzer + ASan + UBSan: the .nqe model loader (engine/model_file.h, target
# model_file, seeds fuzz/corpus/) and the QONNX importer (interop/reader.h and the integer plan, target qonnx, seeds
# fuzz/corpus-qonnx/). Configures fuzz/ with clang in ${NEMOKD_FUZZ_BUILD_DIR:-build-fuzz}, builds, and runs each
# chosen target for SECONDS (default 60). Exits non-zero on any crash, sanitizer report, leak, slow input or
# out-of-memory; the input that caused it is saved as build-fuzz/crash-* (or leak-*, timeout-*, oom-*), and
# `build-fuzz/fuzz_model_file FILE` (or fuzz_qonnx FILE) replays it. Not part of the CTest suite: this is the command
# to run.
# Usage: scripts/fuzz.sh [SECONDS] [all|model_file|qonnx]     Needs clang and libclang-rt-14-dev (scripts/install-deps.sh).
# The seeds are regenerated (after a format change) by the unit tests:
#   NEMOKD_WRITE_FUZZ_CORPUS=fuzz/corpus build/tests/test_engine_file --gtest_filter='*SeedCorpus*'
#   NEMOKD_WRITE_FUZZ_CORPUS=fuzz/corpus-qonnx build/tests/test_interop --gtest_filter='*SeedCorpus*'
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
which=${2:-all}
[[ "$seconds" =~ ^[0-9]+$ ]] || { echo "usage: scripts/fuzz.sh [SECONDS] [all|model_file|qonnx]" >&2; exit 2; }
[[ "$which" =~ ^(all|model_file|qonnx)$ ]] || { echo "usage: scripts/fuzz.sh [SECONDS] [all|model_file|qonnx]" >&2; exit 2; }
build=${NEMOKD_FUZZ_BUILD_DIR:-build-fuzz}
cmake -S fuzz -B "$build" -G Ninja -DCMAKE_CXX_COMPILER="${NEMOKD_FUZZ_CXX:-clang++}" >/dev/null
# run TARGET SEEDS MAX_LEN: new inputs go to a scratch corpus in the build folder (kept between runs); the committed
# seeds stay as they are. -max_len keeps executions fast (seeds are well below it); -timeout / -rss_limit_mb: a slow
# input or a huge allocation from an untrusted count is a finding too.
run() {
  ninja -C "$build" "fuzz_$1"
  mkdir -p "$build/corpus-$1"
  "$build/fuzz_$1" "$build/corpus-$1" "$2" \
    -max_total_time="$seconds" -max_len="$3" -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$build/" -print_final_stats=1
}
if [[ "$which" == all || "$which" == model_file ]]; then run model_file fuzz/corpus 4096; fi
if [[ "$which" == all || "$which" == qonnx ]]; then run qonnx fuzz/corpus-qonnx 8192; fi
