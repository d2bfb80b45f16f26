#!/usr/bin/env python3
"""Relocate a COPY of a recorded `nemokd evolve` folder so that it can be resumed where it now lives.

    relocate.py COPY ORIGINAL TEACHER [FINAL]

A search stores its settings (with the teacher's path) in state.db (meta 'config') and evolve.json, and each
candidate's run folder as an absolute path; a resume refuses any changed setting. This rewrites, in COPY only:
the teacher path -> TEACHER, and run folders under the original's recorded location -> under FINAL (the folder
COPY will be moved to; COPY by default). It prints every
kind of change it made. The teacher's *weights* are whatever TEACHER holds (the KD cache is keyed by their hash).
"""
import json
import os
import sqlite3
import sys


def main():
    copy, original, teacher = (os.path.abspath(a) for a in sys.argv[1:4])
    final = os.path.abspath(sys.argv[4]) if len(sys.argv) > 4 else copy
    db = sqlite3.connect(os.path.join(copy, "state.db"))
    (cfg_text,) = db.execute("select value from meta where key = 'config'").fetchone()
    cfg = json.loads(cfg_text)
    old_teacher = cfg["base"]["kd"]["teacher"]
    cfg["base"]["kd"]["teacher"] = teacher
    db.execute("update meta set value = ? where key = 'config'", (json.dumps(cfg, separators=(",", ":")),))
    # The folder the run was recorded in: the common parent of its candidates' run folders.
    dirs = [r[0] for r in db.execute("select run_dir from candidates where run_dir is not null and run_dir != ''")]
    recorded = os.path.dirname(os.path.dirname(dirs[0])) if dirs else original
    n = 0
    for table in ("candidates", "evaluations", "final_runs"):
        cols = [r[1] for r in db.execute(f"pragma table_info({table})")]
        if "run_dir" not in cols:
            continue
        cur = db.execute(f"update {table} set run_dir = ? || substr(run_dir, ?) where run_dir like ? || '/%'",
                         (final, len(recorded) + 1, recorded))
        n += cur.rowcount
    db.commit()
    ev = os.path.join(copy, "evolve.json")
    if os.path.exists(ev):
        e = json.load(open(ev))
        e["base"]["kd"]["teacher"] = teacher
        json.dump(e, open(ev, "w"), indent=2)
    print(f"relocate: {copy}: teacher {old_teacher} -> {teacher}; {n} run folders {recorded}/... -> {final}/...")


if __name__ == "__main__":
    main()
