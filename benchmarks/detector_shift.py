"""How much a detection's score depends on where the object falls on the tile grid.

    python benchmarks/detector_shift.py [--chips 30] [--phases 8] [--held-out] [--json F]

Why: a strided CNN is not shift invariant; the same aircraft, moved a few pixels against the
network's stride-8/16/32 grid, can score 0.15 or 0.5. A pipeline run reads each image on its own
32 px lattice (an AOI crop keeps it), so another AOI no longer moves an object on that grid, but
a crop of the file does, and the two dates of a pair misregistered by a pixel or two see a
static object at slightly different phases.

Each chip of the synthetic stream (default rendering ranges, a seed never trained on; or the
held-out settings of detector_accuracy.py with ``--held-out``) is cropped at the first
``--phases`` offsets of ``OFFSETS`` (0-28 px, multiples of 4 and a few odd ones); the
detector runs on each crop and each truth object keeps the score of the nearest detection of
its class (centre within 0.3 x its length; 0 where none). Per class it prints the
median score range over the offsets, how often an object is reported (score at or above the
operating threshold) at some offsets but not at others, and the mean recall per offset.

``--tta-shifts 4 8 12``: also the held-out mAP@0.5 (detector_accuracy.py's chips and settings,
``--map-chips`` of them) with the class heat map averaged over the plain pass and passes on the
tile moved by each shift (multiples of the stride 4, both axes, each moved back), against the
plain detector in the same run: what averaging out the grid phase is worth.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import print_table
from detector_accuracy import HELD_OUT, _to_model_gsd

SEED = 424_243
OFFSETS = [(0, 0), (4, 4), (8, 0), (0, 8), (12, 4), (2, 6), (16, 16), (5, 11), (20, 12), (28, 28),
           (9, 3), (24, 0)]
MARGIN = 32


def object_scores(det, chip, offsets, gsd_m: float) -> tuple[np.ndarray, np.ndarray]:
    """(classes, scores) with scores (objects, offsets): each object's best same-class score."""
    image, boxes = _to_model_gsd(chip, gsd_m)
    classes = np.asarray(chip.classes)
    h, w = image.shape[:2]
    ch, cw = h - MARGIN, w - MARGIN
    inside = ((boxes[:, 0] >= MARGIN + 16) & (boxes[:, 0] < cw - 16)
              & (boxes[:, 1] >= MARGIN + 16) & (boxes[:, 1] < ch - 16))
    boxes, classes = boxes[inside], classes[inside]
    scores = np.zeros((len(boxes), len(offsets)))
    for k, (dx, dy) in enumerate(offsets):
        d = det.detect_array(np.ascontiguousarray(image[dy:dy + ch, dx:dx + cw]), score_threshold=0.0)
        if not len(d.boxes):
            continue
        for i, (b, c) in enumerate(zip(boxes, classes, strict=True)):
            same = d.classes == c
            if not same.any():
                continue
            dist = np.hypot(d.boxes[same, 0] - (b[0] - dx), d.boxes[same, 1] - (b[1] - dy))
            near = dist < 0.3 * max(b[2], b[3])
            if near.any():
                scores[i, k] = float(d.scores[same][near].max())
    return classes, scores


def shifted_heat_forward(det, shifts: list[int]):
    """A ``Detector.forward`` whose class heat map is the mean probability over the plain pass
    and the passes on the batch moved down-right by each shift (px, multiples of the model
    stride), each moved back; the cells a shift pushed out of the tile keep the plain pass."""
    import torch
    import torch.nn.functional as F  # noqa: N812

    stride = det.stride

    def forward(x):
        out = det.model(x)
        plain = out["heat"].float().sigmoid()
        total = plain.clone()
        h, w = x.shape[-2:]
        for s in shifts:
            k = s // stride
            moved = F.pad(x.float(), (s, 0, s, 0), mode="replicate")[..., :h, :w].to(x.dtype)
            heat = det.model(moved.contiguous(memory_format=torch.channels_last))["heat"].float().sigmoid()
            back = plain.clone()
            back[..., : back.shape[-2] - k, : back.shape[-1] - k] = heat[..., k:, k:]
            total += back
        mean = (total / (1 + len(shifts))).clamp(1e-6, 1 - 1e-6)
        return {**out, "heat": torch.logit(mean).to(out["heat"].dtype)}

    return forward


def tta_map(weights, shifts: list[int], chips: int) -> dict:
    from detector_accuracy import _low, synthetic_heldout

    from detect.infer import Detector

    out = {}
    for name, sh in (("plain", []), (f"shifts {shifts}", shifts)):
        det = _low(Detector(weights, device="cpu"))
        if sh:
            det.forward = shifted_heat_forward(det, sh)
        s = synthetic_heldout(det, chips, 768, HELD_OUT, 0.3)
        out[name] = {"map": s["map"], "ap": {k: v["ap"] for k, v in s["per_class"].items()}}
    return out


def main(argv: list[str] | None = None) -> int:
    from detect.infer import Detector
    from imagery.synth.chips import ChipStream
    from imagery.taxonomy import CLASSES

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", default=None)
    ap.add_argument("--chips", type=int, default=30)
    ap.add_argument("--chip-size", type=int, default=640)
    ap.add_argument("--phases", type=int, default=8, help=f"offsets per chip (at most {len(OFFSETS)})")
    ap.add_argument("--held-out", action="store_true", help="render with the held-out settings")
    ap.add_argument("--tta-shifts", type=int, nargs="*", default=[],
                    help="also held-out mAP, heat map averaged over these shifts (px, multiples of 4)")
    ap.add_argument("--map-chips", type=int, default=60)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    if any(s % 4 for s in args.tta_shifts):
        ap.error("--tta-shifts must be multiples of the model stride (4 px)")

    det = Detector(args.weights, device="cpu")
    operating = det.config.score_threshold
    offsets = OFFSETS[: max(2, min(args.phases, len(OFFSETS)))]
    stream = ChipStream(size=args.chip_size, seed=SEED, **(HELD_OUT if args.held_out else {}))
    all_cls, all_scores = [], []
    for i in range(args.chips):
        c, s = object_scores(det, stream.chip(i), offsets, det.gsd_m)
        all_cls.append(c)
        all_scores.append(s)
    classes = np.concatenate(all_cls)
    scores = np.concatenate(all_scores)
    rows, out = [], {}
    for k, name in enumerate(CLASSES):
        s = scores[classes == k]
        if not len(s):
            continue
        reported = s >= operating
        flicker = reported.any(axis=1) & ~reported.all(axis=1)
        spread = s.max(axis=1) - s.min(axis=1)
        per_offset = reported.mean(axis=0)
        out[name] = {"objects": len(s), "median_range": float(np.median(spread)),
                     "p90_range": float(np.percentile(spread, 90)), "flicker": float(flicker.mean()),
                     "recall_per_offset": [float(v) for v in per_offset],
                     "recall_any_offset": float(reported.any(axis=1).mean())}
        rows.append([name, len(s), out[name]["median_range"], out[name]["p90_range"],
                     out[name]["flicker"], float(per_offset.min()), float(per_offset.max()),
                     out[name]["recall_any_offset"]])
    print_table(f"Score against the object's offset on the tile grid ({len(offsets)} offsets, "
                f"{args.chips} chips of {args.chip_size} px, {'held-out' if args.held_out else 'default'} "
                f"rendering, operating score {operating})",
                ["class", "objects", "median range", "p90 range", "flicker", "recall min", "recall max",
                 "recall any"], rows)
    result = {"offsets": offsets, "classes": out}
    if args.tta_shifts:
        result["tta"] = tta_map(args.weights, args.tta_shifts, args.map_chips)
        print_table(f"Held-out mAP@0.5, {args.map_chips} chips: plain against the heat averaged over shifts",
                    ["detector", "mAP", *CLASSES],
                    [[k, v["map"], *[v["ap"].get(c, float("nan")) for c in CLASSES]]
                     for k, v in result["tta"].items()])
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
