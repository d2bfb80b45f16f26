# Shared by the command-line tests (sourced): pass/fail counters and tiny IDX data sets written byte by byte
# (independent of nemokd's own writer).
pass=0; fail=0
ok()   { pass=$((pass+1)); echo "ok   - $1"; }
bad()  { fail=$((fail+1)); echo "FAIL - $1"; [ -n "${2:-}" ] && sed 's/^/       /' <<<"$2"; }

be32() { printf "\\x$(printf %02x $(( ($1>>24)&255 )))\\x$(printf %02x $(( ($1>>16)&255 )))\\x$(printf %02x $(( ($1>>8)&255 )))\\x$(printf %02x $(( $1&255 )))"; }
idx_images() { { be32 2051; be32 "$2"; be32 28; be32 28; head -c $(( $2 * 784 )) /dev/urandom; } > "$1"; }
idx_labels() { { be32 2049; be32 "$2"; for ((i=0;i<$2;i++)); do printf "\\x$(printf %02x $((i % 10)))"; done; } > "$1"; }
make_set() {
  mkdir -p "$1"
  idx_images "$1/train-images-idx3-ubyte" 200; idx_labels "$1/train-labels-idx1-ubyte" 200
  idx_images "$1/t10k-images-idx3-ubyte" 50;   idx_labels "$1/t10k-labels-idx1-ubyte" 50
}
