#!/usr/bin/env bash
# Fuzzes what nemokd reads from users, each target for SECONDS (default 60):
#   fuzz_model_file  the .nqe model loader (engine/model_file.h)                       seeds fuzz/corpus/
#   fuzz_json        user JSON: the depth-bounded parser, strict conversions, --devices  seeds fuzz/corpus-json/
#   fuzz_idx         data files: IDX images/labels, gzip (bombs, junk), CIFAR bytes      seeds fuzz/corpus-idx/
#   fuzz_qonnx       the QONNX importer (interop/reader.h and the integer plan)           seeds fuzz/corpus-qonnx/
# with libFuzzer + ASan + UBSan (configures fuzz/ with clang in ${NEMOKD_FUZZ_BUILD_DIR:-build-fuzz}); then the
# torch-side config readers (model configs, --space, evolve.json, KD/training run configs, run.json), which need
# LibTorch and so are not in the clang targets, get random stacked mutations for SECONDS through the unit test
# ConfigReaders.* of the main build (${NEMOKD_BUILD_DIR:-build}; skipped with a note when it is not built).
# Exits non-zero on any crash, sanitizer report, leak, slow input, out-of-memory or escaped exception; libFuzzer saves
# the input as build-fuzz/<target>-crash-* (or leak-*, timeout-*, oom-*), and `build-fuzz/<target> FILE` replays it.
# Not part of the CTest suite: this is the command to run.
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]   Needs clang and libclang-rt-14-dev (scripts/install-deps.sh).
# The .nqe and QONNX seeds are regenerated (after a format change) by the unit tests:
#   NEMOKD_WRITE_FUZZ_CORPUS=fuzz/corpus build/tests/test_engine_file --gtest_filter='*SeedCorpus*'
#   NEMOKD_WRITE_FUZZ_CORPUS=fuzz/corpus-qonnx build/tests/test_interop --gtest_filter='*SeedCorpus*'
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
[[ "$seconds" =~ ^[0-9]+$ ]] || { echo "usage: scripts/fuzz.sh [SECONDS] [fuzz_model_file|fuzz_json|fuzz_idx|fuzz_qonnx|configs...]" >&2; exit 2; }
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(fuzz_model_file fuzz_json fuzz_idx fuzz_qonnx configs)
build=${NEMOKD_FUZZ_BUILD_DIR:-build-fuzz}
cmake -S fuzz -B "$build" -G Ninja -DCMAKE_CXX_COMPILER="${NEMOKD_FUZZ_CXX:-clang++}" >/dev/null
declare -A seeds=([fuzz_model_file]=fuzz/corpus [fuzz_json]=fuzz/corpus-json [fuzz_idx]=fuzz/corpus-idx
               [fuzz_qonnx]=fuzz/corpus-qonnx)
for target in "${targets[@]}"; do
  if [ "$target" = configs ]; then
    tests=${NEMOKD_BUILD_DIR:-build}/tests/test_search
    if [ -x "$tests" ]; then
      echo "== config readers (random mutations, $seconds s): $tests"
      NEMOKD_FUZZ_SECONDS=$seconds "$tests" --gtest_filter='ConfigReaders.*'
    else
      echo "== config readers: skipped ($tests is not built; scripts/build.sh test_search)"
    fi
    continue
  fi
  [ -n "${seeds[$target]:-}" ] || { echo "scripts/fuzz.sh: unknown target '$target'" >&2; exit 2; }
  ninja -C "$build" "$target"
  echo "== $target ($seconds s, seeds ${seeds[$target]})"
  # New inputs go to a scratch corpus in the build folder (kept between runs); the committed seeds stay as they are.
  mkdir -p "$build/corpus-$target"
  # -max_len: seeds are < 4 KiB (QONNX graphs < 8 KiB); that leaves room for growth and keeps executions fast (a gzip
  # input of that size may still claim megabytes: the readers must bound it). -timeout / -rss_limit_mb: a slow input
  # or a huge allocation from an untrusted count is a finding too.
  max_len=4096
  [ "$target" = fuzz_qonnx ] && max_len=8192
  "$build/$target" "$build/corpus-$target" "${seeds[$target]}" \
    -max_total_time="$seconds" -max_len="$max_len" -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$build/$target-" -print_final_stats=1
done
