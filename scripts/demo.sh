#!/usr/bin/env bash
# The README's demo command: installs the dependencies, builds the nemokd CLI and runs `nemokd demo` on
# real MNIST and Fashion-MNIST (a few minutes on 2 cores). Extra arguments go to `nemokd demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh nemokd
out=runs/demo-$(date -u +%Y%m%d-%H%M%S)
exec "${NEMOKD_BUILD_DIR:-build}/apps/nemokd/nemokd" demo --out "$out" "$@"
