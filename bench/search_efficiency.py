"""Search-efficiency table: reads the studies' per-epoch reports from the tuner-server's SQLite
file (after the server stopped) and counts, in report order, the epochs each study trained
until its best val_accuracy so far reached the target: the best val_accuracy the random study
found (any trial, any epoch), less TOLERANCE (the validation subset's noise). One worker ran
each study, so report order is training order. Prints one JSON object.

  /usr/bin/python3 bench/search_efficiency.py DB TOLERANCE SEED:RANDOM_ID:HYPERBAND_ID ...
"""
import json
import sqlite3
import sys


def curve(db, study_id):
    rows = db.execute(
        "SELECT iv.value FROM intermediate_values iv JOIN trials t ON t.id = iv.trial_id "
        "WHERE t.study_id = ? AND iv.execution = 0 ORDER BY iv.reported_at", (study_id,))
    return [r[0] for r in rows]


def epochs_to(values, target):
    best = float("-inf")
    for i, v in enumerate(values, 1):
        best = max(best, v)
        if best >= target:
            return i
    return None


def main():
    db = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
    tolerance = float(sys.argv[2])
    out = []
    for item in sys.argv[3:]:
        seed, random_id, hb_id = (int(v) for v in item.split(":"))
        rnd, hb = curve(db, random_id), curve(db, hb_id)
        target = max(rnd) - tolerance
        r, h = epochs_to(rnd, target), epochs_to(hb, target)
        out.append({"seed": seed, "target": target, "random_best": max(rnd),
                    "hyperband_best": max(hb) if hb else None,
                    "random_epochs_total": len(rnd), "hyperband_epochs_total": len(hb),
                    "random_epochs_to_target": r, "hyperband_epochs_to_target": h,
                    "ratio": (h / r) if (h and r) else None})
    print(json.dumps(out))


if __name__ == "__main__":
    main()
