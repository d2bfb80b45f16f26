#!/usr/bin/env bash
# The README's demo command: installs the dependencies, builds the nemokd CLI and runs `nemokd demo` on
# real MNIST and Fashion-MNIST (a few minutes on 2 cores). Extra arguments go to `nemokd demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh nemokd
out=runs/demo-$(date -u +%Y%m%d-%H%M%S)
nemokd=${NEMOKD_BUILD_DIR:-build}/apps/nemokd/nemokd
# Started as MPI ranks (NEMOKD_DEMO_RANKS, default 3; 1 = a plain process): rank 0 runs the demo, the other ranks
# train the KD grid's cells and the evolution's candidates (docs/DISTRIBUTED.md). --oversubscribe: rank 0 mostly
# waits, so three ranks share two cores; --allow-run-as-root: CI machines run as root.
ranks=${NEMOKD_DEMO_RANKS:-3}
if [[ "$ranks" -gt 1 ]]; then
  echo "demo: $ranks MPI ranks (mpirun -np $ranks): rank 0 runs the demo, ranks 1..$((ranks - 1)) train its grid and search" >&2
  exec mpirun --allow-run-as-root --oversubscribe -np "$ranks" "$nemokd" demo --out "$out" "$@"
fi
exec "$nemokd" demo --out "$out" "$@"
