#!/usr/bin/env python3
"""README tables of the joint-fmnist experiment (issue 19), read from the runs' results.json (python3 stdlib only).

    summarize.py SEED_RUN...      (the seed-S/ folders experiments/joint-fmnist/run.sh writes)

Sets compared, per seed run: "joint" = the search's candidates (role search), "uniform KD" / "uniform no-KD" =
route Q's uniform-precision TFC/SFC/LFC points trained in the same run with the same recipe and epochs. Only
completed, feasible designs that fit the XC7Z020 within FINN's planning shares, and (joint) only results at the
search's top rung (--epochs: the uniform points' training length; lower-rung errors are not comparable).

1. At each FPS level L (expected on board, the basis `nemokd choose --min-fps` reads by default): the design with
   the lowest VALIDATION error among those with fps_expected >= L (the one `choose` would deploy), its TEST error;
   mean +- sample sd over the seeds, and the paired difference uniform - joint (positive: joint more accurate).
2. Hypervolume of each set on (test error, log10 ms/frame expected) with one reference point REF, per seed, then
   mean +- sd.
"""
import json
import math
import os
import statistics
import sys

LEVELS = [10_000, 30_000, 100_000, 300_000, 1_000_000, 3_000_000]   # FPS, expected on board
REF = (0.30, 0.0)      # test error 0.30, log10(1 ms/frame) = 0
SETS = [("joint", "search"), ("uniform KD", "uniform-kd"), ("uniform no-KD", "uniform-no-kd")]


def designs(run):
    R = json.load(open(os.path.join(run, "results.json")))
    top = max((c.get("epochs") or 0 for c in R["candidates"] if c.get("role") in ("uniform-kd", "search")), default=0)
    out = {k: [] for _, k in SETS}
    for c in R["candidates"]:
        role = c.get("role")
        if role not in out or c.get("status") != "completed" or not c.get("feasible", True):
            continue
        d = c.get("latency_detail") or {}
        if not d.get("fits_planning") or not d.get("fps_expected"):
            continue
        if role == "search" and (c.get("epochs") or 0) != top:
            continue
        if c.get("val_error") is None or c.get("test_error") is None:
            continue
        out[role].append({"val": c["val_error"], "test": c["test_error"], "fps": d["fps_expected"],
                          "name": c.get("summary", "")})
    return out, top


def best_at(ds, level):
    fit = [d for d in ds if d["fps"] >= level]
    return min(fit, key=lambda d: (d["val"], d["name"])) if fit else None


def hypervolume_2d(points, ref):
    pts = sorted(p for p in points if p[0] < ref[0] and p[1] < ref[1])
    area, best = 0.0, ref[1]
    for e, l in pts:
        if l < best:
            area += (ref[0] - e) * (best - l)
            best = l
    return area


def ms(s):
    return f"{100 * statistics.mean(s):.2f} ± {100 * statistics.stdev(s):.2f}" if len(s) > 1 else \
        (f"{100 * s[0]:.2f}" if s else "—")


def main():
    runs = sys.argv[1:]
    if not runs:
        sys.exit("summarize.py: give the seed run folders")
    per = [designs(r) for r in runs]
    print(f"Runs: {', '.join(os.path.basename(r.rstrip('/')) for r in runs)}; top rung {[t for _, t in per]} epochs.")
    print("Designs counted: completed, feasible, fitting the XC7Z020 within FINN's planning shares; joint at the top"
          " rung only. FPS: *expected on board* (calibrated cost model; estimated x board efficiency).\n")
    print("### Most accurate fitting design at each FPS level (chosen on validation, test error reported)\n")
    print("FPS levels (expected on board, at least): " + ", ".join(f"{l:,}" for l in LEVELS) + "\n")
    print("| FPS >= | joint test err % | uniform KD test err % | uniform no-KD test err % |"
          " uniform KD - joint (pt) | seeds with both |")
    print("|---:|---:|---:|---:|---:|---:|")
    for level in LEVELS:
        cols, diffs = {}, []
        for name, role in SETS:
            cols[role] = [b["test"] for ds, _ in per if (b := best_at(ds[role], level))]
        for ds, _ in per:
            j, u = best_at(ds["search"], level), best_at(ds["uniform-kd"], level)
            if j and u:
                diffs.append(u["test"] - j["test"])
        d = (f"{100 * statistics.mean(diffs):+.2f} ± {100 * statistics.stdev(diffs):.2f}" if len(diffs) > 1 else
             (f"{100 * diffs[0]:+.2f}" if diffs else "—"))
        print(f"| {level:,} | {ms(cols['search'])} | {ms(cols['uniform-kd'])} | {ms(cols['uniform-no-kd'])} | {d} |"
              f" {len(diffs)} |")
    print("\nGoal (issue 19): joint more accurate than the best uniform design by >= 0.5 pt at every level where both"
          " exist (the difference column, mean over seeds).\n")
    print("### Hypervolume per set (computed by summarize.py)\n")
    print(f"Objectives: test error (fraction) and log10(ms per frame, expected on board = 1000 / fps_expected), both"
          f" minimised; reference point (error {REF[0]}, log10 ms {REF[1]} = 1 ms/frame); points outside the box"
          " add nothing. Mean ± sd over the seeds.\n")
    print("| set | " + " | ".join(os.path.basename(r.rstrip('/')) for r in runs) + " | mean ± sd |")
    print("|---|" + "---:|" * (len(runs) + 1))
    for name, role in SETS:
        hv = [hypervolume_2d([(d["test"], math.log10(1000.0 / d["fps"])) for d in ds[role]], REF) for ds, _ in per]
        sd = f" ± {statistics.stdev(hv):.4f}" if len(hv) > 1 else ""
        print(f"| {name} | " + " | ".join(f"{h:.4f}" for h in hv) + f" | {statistics.mean(hv):.4f}{sd} |")


if __name__ == "__main__":
    main()
