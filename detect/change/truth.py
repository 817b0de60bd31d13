"""Scoring found events against scripted ones (the synthetic generator's ``events_*.json``).

Used by the demo (to show the analyst the pipeline found what was staged), the accuracy
benchmark and the tests. An event is found when an event of the same kind lies within
``max_distance_m`` of the scripted object's position (Hungarian assignment, so one found event
answers one scripted event).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment


def load_truth_events(path: str | Path) -> list[dict[str, Any]]:
    doc = json.loads(Path(path).read_text())
    return list(doc.get("events", []))


def score_events(found: Sequence[dict[str, Any]], truth: Sequence[dict[str, Any]], *,
                 max_distance_m: float = 30.0) -> dict[str, Any]:
    """Recall, precision and the matched / missed / spurious events."""
    n_f, n_t = len(found), len(truth)
    cost = np.full((max(n_f, 1), max(n_t, 1)), 1e6)
    for i, f in enumerate(found):
        for j, t in enumerate(truth):
            if f["kind"] != t["kind"]:
                continue
            d = math.hypot(f["x"] - t["x"], f["y"] - t["y"])
            if d <= max_distance_m:
                cost[i, j] = d
    pairs = []
    if n_f and n_t:
        rows, cols = linear_sum_assignment(cost)
        pairs = [(int(i), int(j)) for i, j in zip(rows, cols, strict=True) if cost[i, j] < 1e6]
    mf = {i for i, _ in pairs}
    mt = {j for _, j in pairs}
    return {
        "truth": n_t,
        "found": n_f,
        "matched": len(pairs),
        "recall": len(pairs) / n_t if n_t else 1.0,
        "precision": len(pairs) / n_f if n_f else 1.0,
        "missed": [truth[j] for j in range(n_t) if j not in mt],
        "spurious": [found[i] for i in range(n_f) if i not in mf],
    }
