#!/usr/bin/env python3
"""Writes the `nemokd choose` test fixtures (tests/test_choose.cpp, tests/cli/test_cli.sh) into this folder.

Small run folders in the formats nemokd writes (run.json of each model, the campaigns' results.json), with NO weights:
an fpga target prices a model from its config alone. The accuracies are INVENTED so that each constraint in the tests
has one known answer by validation accuracy and a different one by test accuracy (a test-based rank fails); they are
not results of any training. The FPS/LUT figures the tests rely on come from nemokd's FINN cost model (fastest folding
that fits the XC7Z020 at FINN's planning shares, 100 MHz), e.g. `nemokd fpga fold --topology sfc -w 2 -a 2
--fastest-fit`: TFC W2A2 ~687 k FPS expected on board, SFC W1A1 ~172 k, SFC W2A2 ~150 k, SFC W4A4 ~75 k,
SFC W6A2 ~66 k (LUT 33 708), LFC W1A1 ~33 k (LUT 32 726); LFC W2A2 fits at no folding.
Run: python3 tests/data/choose/make_fixtures.py (rewrites the folders below)."""
import json
import os
import shutil

HERE = os.path.dirname(os.path.abspath(__file__))


def mlp(hidden, w, a):
    return {"arch": "mlp", "mlp": {"activation": "tanh", "batchnorm": True, "dropout": 0.2, "hidden": hidden,
                                   "quant": {"act_bits": [a] * len(hidden), "granularity": "channel",
                                             "input": "signed", "input_bits": 8, "learned_range": False,
                                             "learned_scale": False, "relu_max": 1.0, "scheme": "finn",
                                             "weight_bits": [w] * (len(hidden) + 1)}}}


def flex(channels, fc):
    return {"arch": "flexstudent", "flexstudent": {"conv_channels": channels, "dropout": 0.0, "fc_widths": fc,
                                                   "pool": "auto"}}


def run_json(command, model, val, test, kd=None):
    config = {"dataset": {"name": "mnist"}, "model": model, "train": {"epochs": 10, "normalization": "signed"}}
    if kd is not None:
        config["kd"] = kd
    return {"nemokd_run": 1, "command": command, "config": config, "status": "completed", "message": "",
            "results": {"dataset": {"name": "mnist", "shape": [1, 28, 28], "classes": 10},
                        "final_val_accuracy": val, "final_test_accuracy": test},
            "note": "test fixture: invented accuracies, no weights (tests/data/choose/make_fixtures.py)"}


def write(path, obj):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(obj, f, indent=1, sort_keys=True)
        f.write("\n")


for sub in ["sweep-sfc", "runs", "kd-grid", "evolution"]:
    shutil.rmtree(os.path.join(HERE, sub), ignore_errors=True)

# A mini W x A sweep of SFC (256x3): (w, a, val, test). W4A4 has the best test accuracy of all, not the best val.
sweep = [(1, 1, 0.962, 0.980), (2, 2, 0.975, 0.972), (4, 4, 0.980, 0.990), (6, 2, 0.978, 0.970)]
rows = []
for w, a, val, test in sweep:
    name = f"w{w}a{a}"
    write(f"{HERE}/sweep-sfc/{name}/run.json", run_json("train", mlp([256] * 3, w, a), val, test))
    rows.append({"wbits": w, "abits": a, "status": "completed", "message": "", "final_val_accuracy": val,
                 "final_test_accuracy": test, "parameters": 0, "run_dir": f"runs/sweep-sfc/{name}",
                 "model": ""})
write(f"{HERE}/sweep-sfc/sweep.json", {"base": run_json("train", mlp([256] * 3, 1, 1), 0, 0)["config"],
                                       "cells": [{"wbits": w, "abits": a} for w, a, _, _ in sweep]})
write(f"{HERE}/sweep-sfc/results.json", {"dataset": "mnist", "epochs": 10, "hidden": [256] * 3, "preset": "",
                                         "rows": rows})

# Single runs, one level down in runs/: TFC W2A2 (fast, lower val, high test), LFC W1A1 (slow, best val of what fits)
# and LFC W2A2 (better still, but it fits the XC7Z020 at no folding: BRAM18).
write(f"{HERE}/runs/tfc-w2a2/run.json", run_json("train", mlp([64] * 3, 2, 2), 0.950, 0.985))
write(f"{HERE}/runs/lfc-w1a1/run.json", run_json("train", mlp([1024] * 3, 1, 1), 0.985, 0.975))
write(f"{HERE}/runs/lfc-w2a2/run.json", run_json("train", mlp([1024] * 3, 2, 2), 0.989, 0.991))

# A KD grid of float students (not priceable on an FPGA): the best val of all.
kd_rows = []
for name, alpha, t, val, test in [("no-kd", 0.0, 1.0, 0.990, 0.989), ("a0.5-t4", 0.5, 4.0, 0.992, 0.990)]:
    kd = {"alpha": alpha, "temperature": t, "teacher": "teacher"}
    write(f"{HERE}/kd-grid/{name}/run.json",
          run_json("kd train" if name != "no-kd" else "train", flex([16, 32], [64]), val, test,
                   kd if name != "no-kd" else None))
    kd_rows.append({"name": name, "status": "completed", "kd": name != "no-kd", "alpha": alpha, "temperature": t,
                    "val_accuracy": val, "test_accuracy": test, "test_error": 1 - test,
                    "run_dir": f"runs/kd-grid/{name}"})
write(f"{HERE}/kd-grid/grid.json", {"base": {"dataset": {"name": "mnist"}, "model": flex([16, 32], [64]),
                                             "kd": {"teacher": "teacher"}}})
write(f"{HERE}/kd-grid/results.json", {"rows": kd_rows})

# A mini evolution of float students, latency recorded by the search with torch:cpu:threads=1 (ms per image).
cands = []
cjson = []
for i, (channels, fc, role, val, test, ms) in enumerate([
        ([16, 32], [64], "search", 0.981, 0.984, 0.20),
        ([32, 64], [128], "search", 0.988, 0.983, 0.45),
        ([8, 16], [32], "search", 0.970, 0.990, 0.12),
        ([32, 64, 128], [256], "baseline-kd", 0.991, 0.992, 0.90)]):
    key = json.dumps(flex(channels, fc), separators=(",", ":"), sort_keys=True)
    h = f"{i:016x}"
    write(f"{HERE}/evolution/candidates/{h}/run.json", run_json("kd train", flex(channels, fc), val, test,
                                                                 {"alpha": 0.5, "temperature": 4.0, "teacher": "teacher"}))
    detail = {"probe": "torch:cpu:threads=1", "proxy": False, "unit": "ms", "value": ms, "median_ms": ms,
              "per_image_ms": ms, "batch": 1, "runs": 100}
    summary = f"conv {'-'.join(map(str, channels))} | fc {'-'.join(map(str, fc))}-classifier"
    cands.append({"key": key, "generation": 0 if role == "search" else -1, "role": role, "genome": [],
                  "config": flex(channels, fc), "summary": summary, "status": "completed", "message": "",
                  "test_error": 1 - test, "latency": ms, "latency_detail": detail, "params": 0, "macs": 0,
                  "train_seconds": 1.0, "run_dir": f"/elsewhere/evolution/candidates/{h}", "final_front": True})
    if role == "search":
        cjson.append({"generation": 0, "id": f"g0-{i}", "architecture": summary, "error": 1 - test,
                      "latency_ms": ms, "status": "completed", "pareto": True})
write(f"{HERE}/evolution/results.json", {"candidates": cands, "generations": [], "fronts": []})
write(f"{HERE}/evolution/candidates.json", {"device": "torch:cpu:threads=1", "host": "fixture CPU (invented)",
                                            "dataset": "mnist", "candidates": cjson, "baseline": []})
