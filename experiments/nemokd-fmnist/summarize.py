#!/usr/bin/env python3
"""README tables of the nemokd-fmnist redo (issue 17), read from the runs' outputs (python3 stdlib only).

    summarize.py OUT        (OUT holds old/, search-*/ and final/, as experiments/nemokd-fmnist/run.sh writes them)

Per run: the final stage's points (test error mean +- sd over the seeds, latency median +- sd over three rounds),
both baselines the same way, the verdicts exactly as `nemokd evolve` computed them (final.json "verdicts"), and the
hypervolume of the final-stage fronts, computed here on (test error mean, latency ms) with ONE fixed reference point
(results.json holds no hypervolume), printed with the numbers.
"""
import glob
import json
import os
import sys

REF = (0.20, 0.60)          # (test error, latency ms): the hypervolume's reference point, fixed before the runs
REF_SENSITIVITY = (0.15, 0.40)
# Latency drifts between sessions on a shared machine (the KD baseline: 0.39-0.48 ms on different days), so the
# hypervolume is also given on latency relative to the KD baseline measured in the same final stage (a ratio against
# a baseline of the same run), with the reference point 1.5x the baseline's latency (about 0.60 ms / 0.40 ms).
REF_RELATIVE = (0.20, 1.5)


def hypervolume_2d(points, ref):
    """Area dominated by points (both minimised) inside the box below ref; points outside it add nothing."""
    pts = sorted((e, l) for e, l in points if e < ref[0] and l < ref[1])
    area, best_l = 0.0, ref[1]
    for i, (e, l) in enumerate(pts):
        if l >= best_l:
            continue
        # this point dominates the strip [e, next distinct error or ref) x [l, best_l) not yet counted
        area += (ref[0] - e) * (best_l - l)
        best_l = l
    return area


def pct(m, sd):
    if m is None:
        return "n/a"
    return f"{100 * m:.2f} ± {100 * sd:.2f}" if sd is not None else f"{100 * m:.2f}"


def load(d):
    f = os.path.join(d, "final.json")
    if not os.path.exists(f):
        r = os.path.join(d, "results.json")
        if os.path.exists(r) and (json.load(open(r)).get("final") or None):
            return json.load(open(r))["final"]
        return None
    return json.load(open(f))


def budget(d):
    r = os.path.join(d, "results.json")
    if not os.path.exists(r):
        return "no results.json"
    R = json.load(open(r))
    b = R.get("budget") or []
    proto = R.get("protocol", {})
    if not b:
        return f"legacy run (no budget recorded), selected on {proto.get('select_on', 'test')}"
    last = b[-1]
    gens = sum(1 for g in b if g.get("generation", 0) >= 0)
    w = last.get("cum_wall_seconds")
    wall = f"{w:.0f} s" if isinstance(w, (int, float)) else "(not recorded: a legacy run; ~1362 s per its README)"
    return (f"{gens} generations (generation 0 included), {last.get('cum_epochs', '?')} epochs, {wall} wall"
            f" (search), selected on {proto.get('select_on', '?')}, rungs {proto.get('rungs', '?')},"
            f" stopped by max-wall: {proto.get('stopped_by_max_wall', '?')}")


def num(d, k):
    v = d.get(k)
    return v if isinstance(v, (int, float)) else None


def cell(text):
    return str(text).replace("|", "\\|")


def table(name, d, F):
    print(f"### {name} (`{os.path.basename(d)}/`)\n")
    print(f"Budget: {budget(d)}. Final stage: {F.get('epochs')} epochs x {F.get('seeds')} seeds, "
          f"selected on {F.get('selected_on', '?')}, latency {F.get('latency', '?')}.\n")
    print("| point | role | on re-drawn front | architecture | test error % (mean ± sd) | n | latency ms (median ± sd) |")
    print("|---|---|---|---|---:|---:|---:|")
    for p in F.get("points", []):
        t = p.get("test_error") or {}
        print(f"| {cell(p.get('name', ''))} | {p.get('role', '')} | {'yes' if p.get('front') else ''} | "
              f"{cell(p.get('architecture', ''))} | {pct(num(t, 'mean'), num(t, 'sd'))} | {t.get('n', '')} | "
              f"{p.get('latency', float('nan')):.3f} ± {p.get('latency_sd') or 0:.3f} |")
    v = F.get("verdicts", {})
    print()
    print(f"Beats the distilled baseline: {'yes' if v.get('beats_baseline_kd') else 'no'}")
    print(f"  point: {v.get('beats_baseline_kd_point') or '-'}; rule: {v.get('beats_baseline_kd_rule', '?')}")
    print(f"A >= 3x faster student within 1 point: {'yes' if v.get('fast_within_1pt') else 'no'}")
    print(f"  point: {v.get('fast_within_1pt_point') or '-'}; rule: {v.get('fast_within_1pt_rule', '?')}\n")


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    runs = []
    if os.path.isdir(os.path.join(out, "old")):
        runs.append(("legacy run, test-selected (copy of run/)", os.path.join(out, "old")))
    for d in sorted(glob.glob(os.path.join(out, "search-*")), key=lambda p: float(p.rsplit("-", 1)[1])):
        runs.append((f"new search, --max-wall {d.rsplit('-', 1)[1]}", d))
    hv = []
    for name, d in runs:
        F = load(d)
        if F is None:
            print(f"### {name}: no final stage yet in {d}\n")
            continue
        table(name, d, F)
        pts = [(p["test_error"]["mean"], p["latency"]) for p in F.get("points", [])
               if p.get("role") == "final" and num(p.get("test_error") or {}, "mean") is not None]
        base = [p["latency"] for p in F.get("points", []) if p.get("role") == "final-baseline-kd"]
        rel = hypervolume_2d([(e, l / base[0]) for e, l in pts], REF_RELATIVE) if base and base[0] else None
        hv.append((name, len(pts), hypervolume_2d(pts, REF), hypervolume_2d(pts, REF_SENSITIVITY),
                   base[0] if base else None, rel))
    if hv:
        print("### Hypervolume of the final-stage fronts (computed by summarize.py)\n")
        print("Objectives: final test error mean (fraction) and latency median (ms), both minimised; the area"
              f" dominated inside the box below the reference point {REF} (sensitivity: {REF_SENSITIVITY});"
              " points outside the box add nothing. Points: the retrained front points (role final), baselines"
              " excluded. Equal wall time: the legacy run (~1362 s of search) vs search-1362. Last column: latency"
              " divided by the KD baseline's latency measured in the same final stage, reference point"
              f" {REF_RELATIVE}.\n")
        print(f"| run | points | HV ref {REF} | HV ref {REF_SENSITIVITY} | KD baseline ms |"
              f" HV, latency / baseline's, ref {REF_RELATIVE} |")
        print("|---|---:|---:|---:|---:|---:|")
        for name, n, a, b, base, rel in hv:
            print(f"| {name} | {n} | {a:.5f} | {b:.5f} | {'-' if base is None else f'{base:.3f}'} |"
                  f" {'-' if rel is None else f'{rel:.4f}'} |")


if __name__ == "__main__":
    main()
