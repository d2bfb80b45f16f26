#!/usr/bin/env python3
"""Prints the Q1 accuracy grids (W rows x A columns) from a sweep's results.csv as Markdown tables.
Usage: experiments/q1/grid.py experiments/q1/runs/results.csv"""
import csv
import sys

rows = list(csv.DictReader(open(sys.argv[1])))
cols = [c for c in rows[0] if c.startswith("test_acc_epoch")]
cell = {(int(r["wbits"]), int(r["abits"])): r for r in rows}
ws = sorted({w for w, _ in cell})
as_ = sorted({a for _, a in cell})
for col in cols:
    print(f"\n**Test accuracy (%) after {col.replace('test_acc_epoch', '')} epochs** (rows: weight bits, columns: activation bits)\n")
    print("| W \\ A | " + " | ".join(f"A{a}" for a in as_) + " |")
    print("|---" * (len(as_) + 1) + "|")
    for w in ws:
        vals = []
        for a in as_:
            r = cell.get((w, a))
            v = r[col] if r and r["status"] == "completed" else ""
            vals.append(f"{100 * float(v):.2f}" if v else ("–" if not r else r["status"]))
        print(f"| W{w} | " + " | ".join(vals) + " |")
