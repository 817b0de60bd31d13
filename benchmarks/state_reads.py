"""How the state classifier reads every state-bearing object of the Khmeimim site scenes at its
true box, per type and true state: which types it misreads, separated from the detector's box
errors and from the posture gates.

    python benchmarks/state_reads.py --work DIR --seeds $(seq 0 15) --steady-seeds $(seq 11 27) \
        [--weights shipped runs/state_ka52/detector.pt] [--classes helicopter sam transport]

Scenes are rendered into ``--work`` as ``benchmarks/posture_events.py`` renders them (the same
folder names, so either benchmark reuses the other's scenes). Each object of each date is read by
``Detector.read_states`` at its truth box (the detector's ``state_tta`` and length gate as
configured), and for each weights file the table gives, per (class, type, true state), how many
reads there were, the share read as the non-nominal state (>= ``state_threshold`` of the
detector config; for a nominal object that is a false reading, for the others a true one) and
the 50th/90th/99th percentiles of the probability. Several weights are read in one run, so their
shares compare on the same scenes.

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


def truth_reads(detector, scene_dir: Path, classes: tuple[str, ...]) -> list[tuple[str, str, str, float]]:
    """(class, type, true state, probability) for every object of ``classes`` on every date."""
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
        prob = detector.read_states(open_scene(scene_dir / d["image"]), boxes, list(rows["class"]))
        states = rows["state"].fillna("nominal")
        out += list(zip(rows["class"], rows["type"], states, prob.astype(float), strict=True))
    return out


def summarise(reads: list[tuple[str, str, str, float]], threshold: float) -> list[list[object]]:
    groups: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    for cls, typ, state, p in reads:
        groups[(cls, typ, state)].append(p)
    rows = []
    for (cls, typ, state), ps in sorted(groups.items()):
        p = np.asarray(ps)
        p = p[np.isfinite(p)]
        if not len(p):
            continue
        q50, q90, q99 = np.percentile(p, [50, 90, 99])
        rows.append([cls, typ, state, len(p), round(float(np.mean(p >= threshold)), 3),
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
    args = ap.parse_args(argv)

    from detect.infer import Detector

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    scenes = [scene_folder(work, args.scenario, s) for s in args.seeds]
    scenes += [scene_folder(work, "steady", s) for s in args.steady_seeds]
    for weights in args.weights:
        det = Detector() if weights == "shipped" else Detector(weights=weights)
        reads = [r for scene in scenes for r in truth_reads(det, scene, tuple(args.classes))]
        print_table(f"state read at the true boxes, {weights} ({len(scenes)} scenes, two dates each; "
                    f"'read' = share at >= {det.config.state_threshold})",
                    ["class", "type", "true state", "n", "read", "p50", "p90", "p99"],
                    summarise(reads, det.config.state_threshold))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
