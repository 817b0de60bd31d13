"""How the state classifier reads every state-bearing object of the Khmeimim site scenes at its
true box, per type and true state: which types it misreads, separated from the detector's box
errors and from the posture gates.

    python benchmarks/state_reads.py --work DIR --seeds $(seq 0 15) --steady-seeds $(seq 11 27) \
        [--weights shipped runs/state_ka52/detector.pt] [--classes helicopter sam transport] \
        [--shift-m 0 1 2]

Scenes are rendered into ``--work`` as ``benchmarks/posture_events.py`` renders them (the same
folder names, so either benchmark reuses the other's scenes). Each object of each date is read by
``Detector.read_states`` at its truth box (the detector's ``state_tta`` and length gate as
configured), and for each weights file the table gives, per (class, type, true state), how many
reads there were, the share read as the non-nominal state (>= ``state_threshold`` of the
detector config; for a nominal object that is a false reading, for the others a true one) and
the 50th/90th/99th percentiles of the probability. Several weights are read in one run, so their
shares compare on the same scenes. With ``--shift-m`` each box is also read moved by those
distances (metres) in eight directions (along and across its axis and the diagonals), as the
detector's boxes are: its helicopter centres miss by a median 1.4 m (MODEL_CARD.md).

Why: a posture event of a state change needs the reading to move on one object between two
dates, so a type whose nominal reads reach 0.8 now and then makes false events on steady pairs
however the posture gates are set (2026-12-07: the Ka-52's false `dismantled` events on steady
18 and 21).
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import print_table
from posture_events import scene_folder

from detect.targets import STATE_CLASSES


def shifted(boxes: np.ndarray, distance_m: float) -> np.ndarray:
    """Map boxes ``(N, 5)`` (x, y, length, width, heading in degrees clockwise from north) moved
    by ``distance_m`` in eight directions relative to each box's axis: ``(8N, 5)``, the direction
    varying fastest; the boxes themselves for a distance of 0."""
    if distance_m == 0:
        return boxes
    h = np.radians(boxes[:, 4])[:, None] + np.radians(np.arange(0, 360, 45))[None, :]
    out = np.repeat(boxes, 8, axis=0)
    out[:, 0] += (distance_m * np.sin(h)).ravel()
    out[:, 1] += (distance_m * np.cos(h)).ravel()
    return out


def truth_reads(detector, scene_dir: Path, classes: tuple[str, ...],
                shifts_m: tuple[float, ...] = (0.0,)) -> list[tuple[str, str, str, float, float]]:
    """(class, type, true state, probability, shift in metres) for every object of ``classes`` on
    every date, read at its truth box and at it moved by each of ``shifts_m`` (:func:`shifted`)."""
    import json

    import geopandas as gpd

    from imagery.scene import open_scene

    truth = gpd.read_file(scene_dir / "truth.gpkg")
    manifest = json.loads((scene_dir / "scene.json").read_text())
    out = []
    for d in manifest["dates"]:
        rows = truth[(truth["date"] == d["date"]) & truth["class"].isin(classes)]
        if not len(rows):
            continue
        centre = rows.geometry.centroid
        boxes = np.c_[centre.x, centre.y, rows["length_m"], rows["width_m"], rows["heading_deg"]]
        scene = open_scene(scene_dir / d["image"])
        states = list(rows["state"].fillna("nominal"))
        for shift in shifts_m:
            k = 1 if shift == 0 else 8
            prob = detector.read_states(scene, shifted(boxes, shift), list(np.repeat(rows["class"], k)))
            out += list(zip(np.repeat(rows["class"], k), np.repeat(rows["type"], k), np.repeat(states, k),
                            prob.astype(float), [float(shift)] * len(prob), strict=True))
    return out


def summarise(reads: list[tuple[str, str, str, float, float]], threshold: float) -> list[list[object]]:
    groups: dict[tuple[str, str, str, float], list[float]] = defaultdict(list)
    for cls, typ, state, p, shift in reads:
        groups[(cls, typ, state, shift)].append(p)
    rows = []
    for (cls, typ, state, shift), ps in sorted(groups.items()):
        p = np.asarray(ps)
        p = p[np.isfinite(p)]
        if not len(p):
            continue
        q50, q90, q99 = np.percentile(p, [50, 90, 99])
        rows.append([cls, typ, state, shift, len(p), round(float(np.mean(p >= threshold)), 3),
                     *(round(float(q), 2) for q in (q50, q90, q99))])
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", required=True, help="scene folder (shared with posture_events.py --work)")
    ap.add_argument("--scenario", default="withdrawal", choices=["withdrawal", "reinforcement"])
    ap.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2])
    ap.add_argument("--steady-seeds", type=int, nargs="*", default=[11, 12, 13])
    ap.add_argument("--weights", nargs="+", default=["shipped"],
                    help="weights files to compare ('shipped': detect/weights/detector.pt)")
    ap.add_argument("--classes", nargs="+", default=list(STATE_CLASSES), choices=STATE_CLASSES)
    ap.add_argument("--shift-m", type=float, nargs="+", default=[0.0],
                    help="also read each box moved by these distances (m) in eight directions")
    args = ap.parse_args(argv)

    from detect.infer import Detector

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    scenes = [scene_folder(work, args.scenario, s) for s in args.seeds]
    scenes += [scene_folder(work, "steady", s) for s in args.steady_seeds]
    for weights in args.weights:
        det = Detector() if weights == "shipped" else Detector(weights=weights)
        reads = [r for scene in scenes
                 for r in truth_reads(det, scene, tuple(args.classes), tuple(args.shift_m))]
        print_table(f"state read at the true boxes, {weights} ({len(scenes)} scenes, two dates each; "
                    f"'read' = share at >= {det.config.state_threshold}; 'shift': boxes moved by "
                    "that many metres in eight directions)",
                    ["class", "type", "true state", "shift m", "n", "read", "p50", "p90", "p99"],
                    summarise(reads, det.config.state_threshold))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
