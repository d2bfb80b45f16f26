#!/usr/bin/env bash
# Route K, phase 1 on Fashion-MNIST (real data, CPU): a ResNet-20 teacher trained with the reference recipe,
# then the (alpha, T) grid for the FlexStudent baseline (3 x 3 cells by default, the paper's 5 x 5 with
# arguments 3 and 4 = 0.1,0.3,0.5,0.7,0.9 and 1,2,4,8,16; + the no-KD baseline) at reduced epochs, with
# the teacher-output cache (1 thread per training: robust when other work shares the cores). Resumable: rerun the same command after an interruption.
#   experiments/k-fmnist/run.sh [TEACHER_EPOCHS=10] [GRID_SCALE=0.3 (x 10 epochs)] [ALPHAS=0.1,0.5,0.9] [TEMPERATURES=1,4,16]
#   SEED=1 experiments/k-fmnist/run.sh   # the grid with another seed, into grid-seed1/ (seed 0: grid/)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
nemokd="${NEMOKD:-$root/build/apps/nemokd/nemokd}"
teacher_epochs="${1:-10}"
scale="${2:-0.3}"
alphas="${3:-0.1,0.5,0.9}"
temperatures="${4:-1,4,16}"
# A private copy of the binary: rebuilding nemokd while this runs changes nothing here.
bin="$(mktemp -d)"; trap 'rm -rf "$bin"' EXIT; cp "$nemokd" "$bin/nemokd"; nemokd="$bin/nemokd"

grid=grid; [ "${SEED:-0}" = 0 ] || grid="grid-seed$SEED"
start=$(date +%s)
if [ ! -f "$here/teacher/model.pt" ]; then
  "$nemokd" kd teacher --model resnet20 --dataset fashion-mnist --epochs "$teacher_epochs" --threads 1 \
    --out "$here/teacher" --resume --quiet
fi
teacher_done=$(date +%s)
"$nemokd" kd grid --preset k-fmnist --scale "$scale" --teacher "$here/teacher" --jobs 2 --threads 2 \
  --alphas "$alphas" --temperatures "$temperatures" \
  --seed "${SEED:-0}" --out "$here/$grid" --resume --quiet
end=$(date +%s)
echo "wall time: teacher $((teacher_done - start)) s, grid $((end - teacher_done)) s"
