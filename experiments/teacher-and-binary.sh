# Sourced by the experiments' run.sh (bash): sets $nemokd (a private copy of the binary: rebuilding nemokd while a
# run goes on changes nothing in it) and $teacher (the k-fmnist teacher's run folder, absolute), or stops with one
# line naming the variable to set. Expects $root (the repository root).
nemokd="${NEMOKD:-$root/build/apps/nemokd/nemokd}"
teacher="${TEACHER:-$root/experiments/k-fmnist/teacher}"
[ -x "$nemokd" ] || { echo "run.sh: no nemokd binary at $nemokd (build it, or set NEMOKD=...)" >&2; exit 2; }
if [ ! -f "$teacher/model.pt" ]; then
  echo "run.sh: the teacher's weights are missing: $teacher/model.pt (set TEACHER=<run folder with model.pt>, or train" \
       "one with experiments/k-fmnist/run.sh)" >&2
  exit 2
fi
teacher="$(cd "$teacher" && pwd)"
bin="$(mktemp -d)"; trap 'rm -rf "$bin"' EXIT; cp "$nemokd" "$bin/nemokd"; nemokd="$bin/nemokd"
