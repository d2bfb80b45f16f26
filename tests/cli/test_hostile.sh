#!/usr/bin/env bash
# The command line against a careless or hostile user (issue 21): deep JSON, full disks, huge numbers, damaged
# files, shell syntax in paths, missing devices, wrong teachers. Each check is one of the issue's findings: it failed
# (crash, hang, runaway memory, silent wrong result, raw library error) before the fix. Every refusal must be one
# clear line on stderr, a non-zero exit and nothing on stdout; nothing already on disk may be lost.
# Usage: test_hostile.sh PATH/TO/nemokd
set -u
NEMOKD=${1:?usage: test_hostile.sh PATH/TO/nemokd}
NEMOKD="$(cd "$(dirname "$NEMOKD")" && pwd)/$(basename "$NEMOKD")"  # absolute: some checks run in another folder
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
data_dir="$(cd "$(dirname "$0")/../data" && pwd)"

# expect_error NAME PATTERN CMD...: exit != 0 (not a signal), stderr is exactly one line matching PATTERN, no stdout.
expect_error() {
  local name=$1 pattern=$2; shift 2
  local out err code
  out=$("$@" 2>"$work/stderr"); code=$?; err=$(cat "$work/stderr")
  if [ $code -ne 0 ] && [ $code -lt 128 ] && [ "$(grep -c . <<<"$err")" -eq 1 ] && grep -qE -- "$pattern" <<<"$err" &&
     [ -z "$out" ]; then
    ok "$name"
  else
    bad "$name (exit $code)" "$(head -c 1500 <<<"$err")"
  fi
}
no_cuda_then() {  # runs the command only on a machine without CUDA (else fails the check on purpose)
  "$NEMOKD" doctor --json | python3 -c 'import json,sys; sys.exit(0 if json.load(sys.stdin)["cuda_available"] else 1)' &&
    { echo cuda-present >&2; return 1; }
  "$@"
}

make_set "$work/good"
"$NEMOKD" train --from "$work/good" --val-size 20 --hidden 64 --epochs 1 --out "$work/run" --quiet --json > /dev/null 2>&1 ||
  bad "setup: a 1-epoch training run"

# 1. JSON nested 150 000 deep: SIGSEGV before (stack overflow copying it). Model configs, run.json, --space.
python3 -c 'import sys; n=150000; open(sys.argv[1],"w").write("{\"x\": " + "["*n + "]"*n + "}")' "$work/deep.json"
expect_error "1: a model config nested 150000 deep is one error naming the file" "deep.json: JSON nested deeper than 64" \
  "$NEMOKD" models info --model flexstudent --config "$work/deep.json"
python3 - "$work/run/run.json" "$work/deep-run.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); n = 150000
text = json.dumps(d)[:-1] + ', "deep": ' + "[" * n + "]" * n + "}"
open(sys.argv[2], "w").write(text)
PY
expect_error "1: nemokd run on a run.json nested 150000 deep" "deep-run.json: JSON nested deeper than 64" \
  "$NEMOKD" run "$work/deep-run.json" --out "$work/deep-out"
expect_error "1: evolve --space FILE nested 150000 deep" "deep.json: JSON nested deeper than 64" \
  "$NEMOKD" evolve --teacher "$work/run" --from "$work/good" --space "$work/deep.json" --out "$work/evo-deep"
python3 -c 'n=3000; print("{\"x\": " + "["*n + "]"*n + "}", end="")' > "$work/deep-inline.json"
expect_error "1: evolve --space inline, 3000 deep" "--space: JSON nested deeper than 64" \
  "$NEMOKD" evolve --teacher "$work/run" --from "$work/good" --space "$(cat "$work/deep-inline.json")" --out "$work/evo-deep2"

# 2. A full disk while writing the checkpoint: "terminate called ... c10::Error" (rc 134) and a left-over .tmp before.
# ulimit -f with SIGXFSZ ignored makes writes past 48 KiB fail with EFBIG, as ENOSPC would.
ckpt_before=$(sha1sum < "$work/run/checkpoint.pt")
expect_error "2: full disk while checkpointing: one error, the temp file removed" "checkpoint.pt.tmp: cannot write.*unchanged" \
  bash -c "trap '' XFSZ; ulimit -f 48; exec '$NEMOKD' train --from '$work/good' --val-size 20 --hidden 64 --epochs 2 --resume --out '$work/run' --quiet"
if [ ! -e "$work/run/checkpoint.pt.tmp" ] && [ "$ckpt_before" = "$(sha1sum < "$work/run/checkpoint.pt")" ] &&
   "$NEMOKD" train --from "$work/good" --val-size 20 --hidden 64 --epochs 2 --resume --out "$work/run" --quiet --json > "$work/resumed.json" 2>/dev/null &&
   python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"]; assert r["resumed_from_epoch"]==1 and r["epochs_completed"]==2, r' "$work/resumed.json"; then
  ok "2: after the full disk the previous checkpoint is intact and resumes"
else bad "2: checkpoint after a full disk"; fi

# 3/4. Numbers that size allocations or thread pools are checked before they are used.
"$NEMOKD" engine build --model "$data_dir/qat-tfc-w2a2" --out "$work/w2a2.nqe" --quiet > /dev/null 2>&1 || bad "setup: engine build"
expect_error "3: engine bench --threads 100000 is refused at once" "threads.*100000.*1024" \
  timeout 20 "$NEMOKD" engine bench --model "$work/w2a2.nqe" --from "$work/good" --val-size 0 --threads 100000
expect_error "3: latency --threads 100000 is refused at once" "threads must be in 0..1024" \
  timeout 20 "$NEMOKD" latency --model flexstudent --input 1x28x28 --classes 10 --probe torch:cpu --threads 100000
expect_error "4: fpga grid --wbits 1-2147483647 is checked before the range is expanded" "--wbits: 2147483647 is out of range \[1, 32\]" \
  timeout 20 "$NEMOKD" fpga grid -t tfc --wbits 1-2147483647 --abits 1-2
expect_error "4: quant sweep --abits 1-2147483647 too" "--abits: 2147483647 is out of range" \
  timeout 20 "$NEMOKD" quant sweep --from "$work/good" --topology 16 --wbits 1-2 --abits 1-2147483647 --out "$work/sw-big"
expect_error "4: evolve --population 100000000" "population: 100000000.*at most 10000" \
  "$NEMOKD" evolve --teacher "$work/run" --from "$work/good" --population 100000000 --out "$work/evo-pop"
make_set "$work/junk"
gzip -n -c "$work/good/train-images-idx3-ubyte" > "$work/junk/train-images-idx3-ubyte.gz" && rm "$work/junk/train-images-idx3-ubyte"
printf '\xff\xff\xff\x7f' >> "$work/junk/train-images-idx3-ubyte.gz"
expect_error "4: a gzip IDX with 4 junk bytes appended" "4 bytes of trailing junk after the gzip data" \
  "$NEMOKD" data info mnist --from "$work/junk"
# A 512 MiB gzip bomb behind a 200-image header: refused without inflating it (peak memory within 100 MiB of reading
# the honest files; before, the whole bomb was inflated before the size check).
make_set "$work/bomb"
rm "$work/bomb/train-images-idx3-ubyte"
{ be32 2051; be32 200; be32 28; be32 28; head -c $((200 * 784)) /dev/zero; head -c $((512 << 20)) /dev/zero; } | gzip -1 -n > "$work/bomb/train-images-idx3-ubyte.gz"
/usr/bin/time -o "$work/honest.kib" -f "%M" "$NEMOKD" data info mnist --from "$work/good" > /dev/null 2>&1
honest_kib=$(tail -n 1 "$work/honest.kib")
if out=$(/usr/bin/time -o "$work/bomb.kib" -f "%M" "$NEMOKD" data info mnist --from "$work/bomb" 2>&1 > /dev/null); then
  bad "4: gzip bomb accepted" "$out"
elif bomb_kib=$(tail -n 1 "$work/bomb.kib") && grep -q "decompresses to more than 156816 bytes" <<<"$out" &&
     [ "$bomb_kib" -lt $((honest_kib + 102400)) ]; then
  ok "4: a 512 MiB gzip bomb is refused without inflating it ($bomb_kib KiB peak, honest files $honest_kib KiB)"
else bad "4: gzip bomb" "$out (peak $(tail -n 1 "$work/bomb.kib") KiB, honest files $honest_kib KiB)"; fi

# 5. train --out DIR on a finished run without checkpoint.pt silently replaced its model.pt, run.json, metrics.json.
mkdir -p "$work/finished" && cp "$work/run/run.json" "$work/run/model.pt" "$work/run/metrics.json" "$work/finished/"
finished_before=$(cat "$work/finished/"* | sha1sum)
expect_error "5: a non-empty run folder is refused without --resume or --force" "finished: the folder is not empty.*--force" \
  "$NEMOKD" train --from "$work/good" --val-size 20 --hidden 16 --epochs 1 --out "$work/finished"
[ "$finished_before" = "$(cat "$work/finished/"* | sha1sum)" ] || bad "5: the refused run changed the folder"
if "$NEMOKD" train --from "$work/good" --val-size 20 --hidden 16 --epochs 1 --out "$work/finished" --force --quiet --json > "$work/forced.json" 2>/dev/null &&
   python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["status"]=="completed" and d["config"]["model"]["mlp"]["hidden"]==[16], d["config"]' "$work/forced.json"; then
  ok "5: --force replaces the run"
else bad "5: --force" "$(head -c 600 "$work/forced.json")"; fi

# 6. engine build --out RUN/model.pt replaced the trained weights.
cp -r "$data_dir/qat-tfc-w2a2" "$work/qat"
weights_before=$(sha1sum < "$work/qat/model.pt")
expect_error "6: engine build refuses to write over the run's own model.pt" "model.pt is the run's own model.pt" \
  "$NEMOKD" engine build --model "$work/qat" --out "$work/qat/model.pt"
expect_error "6: ... or its run.json, by another spelling" "is the run's own run.json" \
  "$NEMOKD" engine build --model "$work/qat" --out "$work/qat/../qat/./run.json"
expect_error "6: export onnx too" "is the run's own model.pt" \
  "$NEMOKD" export onnx --model "$work/qat" --out "$work/qat/model.pt"
[ "$weights_before" = "$(sha1sum < "$work/qat/model.pt")" ] && ok "6: the trained weights are untouched" || bad "6: model.pt changed"

# 7. Two processes on one --out mixed one run's model.pt with the other's run.json. One holds the folder; the other
# is refused, naming the holder's PID.
wait_for_lock() { for _ in $(seq 1 300); do [ -s "$1/.nemokd.lock" ] && return 0; sleep 0.1; done; return 1; }
"$NEMOKD" train --from "$work/good" --val-size 20 --hidden 16 --epochs 100000 --batch-size 4 --out "$work/busy" --quiet > /dev/null 2>&1 &
holder=$!
if wait_for_lock "$work/busy"; then
  expect_error "7: a second train on a running run's --out names the holder's PID" "busy: in use by another nemokd process \(pid $holder\)" \
    "$NEMOKD" train --from "$work/good" --val-size 20 --hidden 16 --epochs 100000 --batch-size 4 --out "$work/busy" --resume
else bad "7: the first training never locked its folder"; fi
kill "$holder" 2>/dev/null; wait "$holder" 2>/dev/null
setsid "$NEMOKD" evolve --teacher "$work/run" --student flexstudent --from "$work/good" --val-size 20 --epochs 1 --population 8 \
  --generations 1000 --latency macs --jobs 1 --out "$work/evo-busy" --quiet > /dev/null 2>&1 &
holder=$!
if wait_for_lock "$work/evo-busy" && for _ in $(seq 1 300); do [ -s "$work/evo-busy/evolve.json" ] && break; sleep 0.1; done &&
   [ -s "$work/evo-busy/evolve.json" ]; then
  expect_error "7: evolve --resume on a running search names the holder's PID" "evo-busy: in use by another nemokd process \(pid $holder\)" \
    "$NEMOKD" evolve --resume --out "$work/evo-busy"
else bad "7: the first search never locked its folder"; fi
kill -9 -- -"$holder" 2>/dev/null; wait "$holder" 2>/dev/null
if "$NEMOKD" train --from "$work/good" --val-size 20 --hidden 16 --epochs 1 --out "$work/busy" --force --quiet > /dev/null 2>&1; then
  ok "7: a killed holder leaves no stale lock"
else bad "7: stale lock after a kill"; fi
# A sweep, a KD grid and a new search take the same lock: held here by another process (flock on the lock file, a
# PID written in it), each is refused at once naming that PID, and nothing is written into the folder.
mkdir -p "$work/held" && echo 4242 > "$work/held/.nemokd.lock"
bash -c 'exec 9<>"$1"; flock 9; exec sleep 300' _ "$work/held/.nemokd.lock" &
flocker=$!
for _ in $(seq 1 100); do flock -n "$work/held/.nemokd.lock" true || break; sleep 0.1; done
expect_error "7: quant sweep on a held folder names the holder's PID" "held: in use by another nemokd process \(pid 4242\)" \
  "$NEMOKD" quant sweep --from "$work/good" --val-size 20 --topology 16 --pairs 2x2 --epochs 1 --out "$work/held"
expect_error "7: kd grid on a held folder names the holder's PID" "held: in use by another nemokd process \(pid 4242\)" \
  "$NEMOKD" kd grid --teacher "$work/run" --student flexstudent --from "$work/good" --val-size 20 --epochs 1 \
  --alphas 0.5 --temperatures 2 --out "$work/held"
expect_error "7: a new evolve on a held folder names the holder's PID" "held: in use by another nemokd process \(pid 4242\)" \
  "$NEMOKD" evolve --teacher "$work/run" --student flexstudent --from "$work/good" --val-size 20 --epochs 1 \
  --population 8 --generations 1 --latency macs --out "$work/held"
[ "$(ls -A "$work/held")" = ".nemokd.lock" ] || bad "7: a refused command wrote into the held folder" "$(ls -A "$work/held")"
kill "$flocker" 2>/dev/null; wait "$flocker" 2>/dev/null

# 8. CSV writers ignored write errors: fpga grid --csv on a full disk printed success and left 0 bytes.
expect_error "8: fpga grid --csv on a full disk is one error" "grid.csv.tmp: cannot write .*write failed.*unchanged" \
  bash -c "trap '' XFSZ; ulimit -f 2; exec '$NEMOKD' fpga grid -t tfc --wbits 1-8 --abits 1-8 --csv '$work/grid.csv'"
if [ ! -e "$work/grid.csv" ] && [ ! -e "$work/grid.csv.tmp" ]; then ok "8: no partial table and no temp file left"
else bad "8: the failed CSV left files behind" "$(ls -la "$work"/grid.csv* 2>&1)"; fi

# 9. A model.pt with 20 flipped bytes was loaded by engine build / export onnx as a different model.
cp -r "$data_dir/qat-tfc-w2a2" "$work/flipped"
python3 - "$work/flipped/model.pt" <<'PY'
import sys
p = sys.argv[1]; b = bytearray(open(p, "rb").read())
for i in range(20): b[len(b) // 2 + 7 * i] ^= 0x5A
open(p, "wb").write(b)
PY
expect_error "9: engine build refuses a model.pt with flipped bytes" "flipped/model.pt: damaged torch file.*CRC" \
  "$NEMOKD" engine build --model "$work/flipped" --out "$work/flipped.nqe"
expect_error "9: export onnx refuses it too" "damaged torch file" \
  "$NEMOKD" export onnx --model "$work/flipped" --out "$work/flipped.onnx"

# 10. evolve --latency torch:cuda without CUDA: 124 s of training, then every candidate failed and was the front.
expect_error "10: an unavailable probe device is refused before any work" "probe 'torch:cuda' cannot measure here" \
  no_cuda_then "$NEMOKD" evolve --teacher "$work/run" --from "$work/good" --latency torch:cuda --out "$work/evo-cuda"
[ -e "$work/evo-cuda/state.db" ] && bad "10: the refused search wrote state.db"

# 11. Numbers reported or used wrongly.
for t in inf 1e10 1e300; do
  expect_error "11: --timeout $t is refused (it overflowed the deadline)" "timeout must be in \(0, " \
    "$NEMOKD" latency --model flexstudent --input 1x28x28 --classes 10 --probe 'command:echo Latency: 1 ms {model}' --timeout "$t"
done
python3 - "$work/run/run.json" "$work" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
for name, value in [("float", 1.5), ("bool", True), ("huge", 2 ** 40)]:
    d["config"]["train"]["epochs"] = value
    json.dump(d, open(f"{sys.argv[2]}/epochs-{name}.json", "w"))
PY
expect_error "11: \"epochs\": 1.5 in run.json is an error naming the key" "train.epochs: wrong type: expected an integer, got 1.5" \
  "$NEMOKD" run "$work/epochs-float.json" --out "$work/e1"
expect_error "11: \"epochs\": true in run.json" "train.epochs: wrong type: expected an integer, got true" \
  "$NEMOKD" run "$work/epochs-bool.json" --out "$work/e2"
expect_error "11: \"epochs\": 2^40 is reported as 2^40" "train.epochs: 1099511627776 is out of range" \
  "$NEMOKD" run "$work/epochs-huge.json" --out "$work/e3"
expect_error "11: --seed -1 is refused (it became 2^64-1)" "--seed" \
  "$NEMOKD" train --from "$work/good" --seed -1 --out "$work/seed"
expect_error "11: quant levels --values nan" "--values: 'nan' is not a finite number" \
  "$NEMOKD" quant levels --bits 2 --values nan,inf
expect_error "11: quant levels --values inf" "--values: 'inf' is not a finite number" \
  "$NEMOKD" quant levels --bits 2 --values 0.5,inf
record_before=$(sha1sum < "$work/run/run.json"); model_before=$(sha1sum < "$work/run/model.pt")
expect_error "11: --resume --epochs 1 on a 2-epoch run is refused" "after epoch 2; --epochs 1 would not train it" \
  "$NEMOKD" train --from "$work/good" --val-size 20 --hidden 64 --epochs 1 --resume --out "$work/run" --quiet
if [ "$record_before" = "$(sha1sum < "$work/run/run.json")" ] && [ "$model_before" = "$(sha1sum < "$work/run/model.pt")" ]; then
  ok "11: ... and run.json and model.pt are unchanged"
else bad "11: the refused resume rewrote the run"; fi
mkdir -p "$work/cifar"
for f in data_batch_1 data_batch_2 data_batch_3 data_batch_4 data_batch_5 test_batch; do
  python3 -c 'import sys; sys.stdout.buffer.write((bytes([3]) + bytes(3072)) * 40)' > "$work/cifar/$f.bin"
done
if "$NEMOKD" data info cifar10 --from "$work/cifar" > "$work/cifar.txt" 2>/dev/null && ! grep -q -- "-4800" "$work/cifar.txt" &&
   grep -q "default split: none" "$work/cifar.txt"; then
  ok "11: a small CIFAR folder has no negative training count"
else bad "11: small CIFAR folder" "$(cat "$work/cifar.txt")"; fi

# 12. Every run nemokd writes is reportable: `report` refused an evolution made with --latency macs ("needs
# 'latency_ms'"; evolve wrote latency_proxy) and any evolution with a failed candidate (error null).
evo=(--teacher "$work/run" --student flexstudent --student-config '{"conv_channels":[2,4],"fc_widths":[4]}'
     --from "$work/good" --val-size 20 --epochs 1 --population 8 --generations 0
     --jobs 2 --search-seed 3 --space '{"max_conv":2,"channels":[2,4],"max_fc":2,"neurons":[4,8]}' --quiet --json)
kinds=("$work/run")
for probe in macs params torch:cpu:runs=3,blocks=2,max_seconds=0.2; do
  name="evo-$(tr -c 'a-z0-9\n' - <<<"${probe%%:runs*}")"
  "$NEMOKD" evolve "${evo[@]}" --latency "$probe" --out "$work/$name" > /dev/null 2>"$work/$name.err" || bad "12: evolve --latency $probe" "$(tail -c 600 "$work/$name.err")"
  kinds+=("$work/$name")
done
"$NEMOKD" quant sweep --from "$work/good" --val-size 20 --topology 16 --pairs 2x2 --epochs 1 --out "$work/sweep" --quiet --json > /dev/null 2>&1 || bad "12: quant sweep"
"$NEMOKD" kd grid --teacher "$work/run" --student flexstudent --student-config '{"conv_channels":[4],"fc_widths":[8]}' \
  --from "$work/good" --val-size 20 --epochs 1 --alphas 0.5 --temperatures 2 --out "$work/grid" --quiet --json > /dev/null 2>&1 || bad "12: kd grid"
mkdir -p "$work/fpga" && "$NEMOKD" fpga grid -t tfc --wbits 1-2 --abits 1-2 --csv "$work/fpga/grid.csv" > /dev/null 2>&1 || bad "12: fpga grid"
kinds+=("$work/sweep" "$work/grid" "$work/fpga")
all_ok=1
for dir in "${kinds[@]}"; do
  if ! "$NEMOKD" report "$dir" --out "$work/report-$(basename "$dir").html" > /dev/null 2>"$work/report.err"; then
    all_ok=0; bad "12: report $(basename "$dir")" "$(cat "$work/report.err")"
  fi
done
if [ $all_ok -eq 1 ] && "$NEMOKD" report "${kinds[@]}" --out "$work/report-all.html" > /dev/null 2>"$work/report.err" &&
   grep -q "MACs (proxy, not a measurement)" "$work/report-all.html" && grep -q "parameters (proxy, not a measurement)" "$work/report-all.html"; then
  ok "12: every run kind (train, sweep, KD grid, FPGA grid, evolution with macs / params / torch probes) is reportable"
else bad "12: report over every run kind" "$(cat "$work/report.err")"; fi

# 13. Shell syntax in the model's path (TMPDIR) ran under the command probe: quoted, unquoted, inside sh -c.
evil="$work/a b;touch PWNED;'q'\$(touch PWNED)\`touch PWNED\`"
mkdir -p "$evil"
(
  cd "$work" || exit 1
  for probe in 'command:sh -c "test -s {model} && echo Latency: 1 ms"' "command:sh -c \"test -s '{model}' && echo Latency: 1 ms\"" \
               "command:sh -c 'test -s \"{model}\" && echo Latency: 1 ms'" 'command:echo Latency: 1 ms {model}' \
               "command:echo Latency: 1 ms '{model}'"; do
    if ! TMPDIR="$evil" "$NEMOKD" latency --model flexstudent --input 1x28x28 --classes 10 --probe "$probe" --json > "$work/lat.json" 2>"$work/lat.err" ||
       ! python3 -c 'import json,sys; assert json.load(open(sys.argv[1]))["results"][0]["value"]==1.0' "$work/lat.json"; then
      bad "13: probe $probe" "$(cat "$work/lat.err")"
    fi
  done
)
if [ ! -e "$work/PWNED" ]; then ok "13: a model path with ; \$() and backticks never runs, quoted or not, inside sh -c too"
else bad "13: the command probe ran shell syntax from the model's path"; fi
expect_error "13: unquoted shell syntax in the probe command is refused, naming the way to ask for a shell" "without a shell.*sh -c" \
  "$NEMOKD" latency --model flexstudent --input 1x28x28 --classes 10 --probe 'command:echo Latency: 1 ms {model}; rm -rf x'

# 14. Idle OpenMP threads wait with a bounded spin unless the user says otherwise.
if "$NEMOKD" doctor --json > "$work/doctor.json" 2>/dev/null &&
   python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["openmp_waiting"]=="GOMP_SPINCOUNT=10000", d["openmp_waiting"]' "$work/doctor.json" &&
   OMP_WAIT_POLICY=active "$NEMOKD" doctor --json | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["openmp_waiting"]=="OMP_WAIT_POLICY=active", d["openmp_waiting"]'; then
  ok "14: GOMP_SPINCOUNT=10000 by default (reported by doctor); a user's OMP_WAIT_POLICY is kept"
else bad "14: OpenMP waiting" "$(cat "$work/doctor.json" | head -c 600)"; fi

# 15. engine bench's LibTorch baseline ran one BLAS thread against the engine's N.
if "$NEMOKD" engine bench --model "$work/w2a2.nqe" --from "$work/good" --val-size 0 --threads 2 --batch 256 --seconds 0.05 --json > "$work/bench.json" 2>/dev/null &&
   python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["threads"]==2 and d["libtorch_threads"]=={"torch":2,"blas":2}, d["libtorch_threads"]' "$work/bench.json" &&
   "$NEMOKD" engine bench --model "$work/w2a2.nqe" --from "$work/good" --val-size 0 --threads 2 --batch 256 --seconds 0.05 | grep -q "2 torch / 2 BLAS thread"; then
  ok "15: engine bench gives the LibTorch baseline the engine's threads and prints them"
else bad "15: engine bench threads" "$(head -c 600 "$work/bench.json")"; fi

# 16. Messages that name the problem.
expect_error "16: kd train --teacher RUN/model.pt names the run folder to pass instead" "a nemokd model file, not a TorchScript module; pass its run folder" \
  "$NEMOKD" kd train --teacher "$work/run/model.pt" --from "$work/good" --val-size 20 --epochs 1 --out "$work/kd-pt"
expect_error "16: nemokd run DIR says it wants a run.json" "is a folder; .nemokd run. takes a run.json file" \
  "$NEMOKD" run "$work/run"
expect_error "16: --epochs -1 names the option and the value" "epochs.*-1" \
  "$NEMOKD" train --from "$work/good" --epochs -1 --out "$work/neg"
printf '{"depth": 1e309}' > "$work/big.json"
expect_error "16: 1e309 in a JSON file names the file" "big.json: invalid JSON.*1e309" \
  "$NEMOKD" models info --model resnet8 --config "$work/big.json"

[ $fail -eq 0 ] && echo "all $pass hostile-input checks passed" || echo "$fail of $((pass + fail)) hostile-input checks FAILED"
[ $fail -eq 0 ]
