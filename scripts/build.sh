#!/usr/bin/env bash
# Configures and builds nemokd (Release, Ninja) into ${NEMOKD_BUILD_DIR:-build}.
# Usage: scripts/build.sh [ninja targets...]   e.g. scripts/build.sh nemokd
# Extra CMake options: NEMOKD_CMAKE_ARGS="-DCMAKE_PREFIX_PATH=/opt/libtorch" (a CUDA LibTorch, say).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${NEMOKD_BUILD_DIR:-build}
# shellcheck disable=SC2086
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release ${NEMOKD_CMAKE_ARGS:-} >/dev/null
# Each torch translation unit needs ~1 GiB of RAM to compile; one job per core is safe on small machines.
ninja -C "$build" -j "${NEMOKD_JOBS:-$(nproc)}" "$@"
