#!/usr/bin/env bash
# Fuzzes the .nqe model loader (engine/model_file.h) with libFuzzer + ASan + UBSan: configures fuzz/ with
# clang in ${NEMOKD_FUZZ_BUILD_DIR:-build-fuzz}, builds it, and runs it for SECONDS (default 60) starting
# from the seed corpus fuzz/corpus/. Exits non-zero on any crash, sanitizer report, leak, slow input or
# out-of-memory; the input that caused it is saved as build-fuzz/crash-* (or leak-*, timeout-*, oom-*), and
# `build-fuzz/fuzz_model_file FILE` replays it. Not part of the CTest suite: this is the command to run.
# Usage: scripts/fuzz.sh [SECONDS]          Needs clang and libclang-rt-14-dev (scripts/install-deps.sh).
# The seeds are regenerated (after a format change) by the unit test:
#   NEMOKD_WRITE_FUZZ_CORPUS=fuzz/corpus build/tests/test_engine_file --gtest_filter='*SeedCorpus*'
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
[[ "$seconds" =~ ^[0-9]+$ ]] || { echo "usage: scripts/fuzz.sh [SECONDS]" >&2; exit 2; }
build=${NEMOKD_FUZZ_BUILD_DIR:-build-fuzz}
cmake -S fuzz -B "$build" -G Ninja -DCMAKE_CXX_COMPILER="${NEMOKD_FUZZ_CXX:-clang++}" >/dev/null
ninja -C "$build" fuzz_model_file
# New inputs go to a scratch corpus in the build folder (kept between runs); the committed seeds stay as they are.
mkdir -p "$build/corpus"
# -max_len: seeds are < 512 bytes; 4 KiB leaves room for growth and keeps executions fast.
# -timeout / -rss_limit_mb: a slow input or a huge allocation from an untrusted count is a finding too.
"$build/fuzz_model_file" "$build/corpus" fuzz/corpus \
  -max_total_time="$seconds" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
  -artifact_prefix="$build/" -print_final_stats=1
