"""Detector accuracy: every accuracy figure of the model card, measured in one run.

    python benchmarks/detector_accuracy.py                      # synthetic held-out + real sets
    python benchmarks/detector_accuracy.py --chips 200 --json out.json
    python benchmarks/detector_accuracy.py --finetune           # + the research fine-tuning split

1. Synthetic held-out: chips of the stream at a seed never used in training, rendered with
   settings outside the training defaults (``HELD_OUT`` below: another sun elevation, GSD 0.5 m,
   25 deg off-nadir, JPEG), tiled through the same Detector as a scene: rotated mAP@0.5 per class
   and the nose_raised / dismantled / packed state F1 (targets: mAP >= 0.90, state F1 >= 0.90).
   When the weights carry the second-stage state classifier, the state F1 of the detector's own
   one-stage state logits is measured on the same chips too (the classifier's gain, one run).
2. Real imagery, synthetic training only: class-agnostic aircraft AP@0.5 against the axis-
   aligned Airbus labels (Truncated_airplane = ignore regions; target >= 0.60) and the DOTA8
   planes (recall at the operating point; only 2 planes, so no AP worth quoting).
3. ``--finetune``: research only. Fine-tunes a copy of the weights on half of the Airbus images
   and reports AP on the other half (and the synthetic-only weights on that same half). The
   fine-tuned weights stay in a temporary folder: weights trained on ../shared/data are never
   shipped.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
HELD_OUT_SEED = 90_210
# Render settings outside the training defaults; keys are ChipStream overrides.
HELD_OUT = {"gsd": (0.5, 0.5), "p_gsd_wide": 0.0, "sun_elevation": (12.0, 18.0), "view_zenith": (25.0, 25.0),
            "p_jpeg": 1.0, "jpeg_quality": (70, 70)}
# Neither real set is georeferenced. Airbus is Pleiades at about 0.5 m. DOTA8's tiles come from
# Google Earth at varying GSD; its two planes (335 and 180 px long) and cars (about 40 x 19 px)
# fit about 0.15 m, so that is what we assume.
REAL_GSD = {"airbus_aircraft": 0.5, "dota8": 0.15}


def synthetic_heldout(det, n: int, size: int, overrides: dict, operating: float) -> dict:
    from detect.evaluate import DetectionEvaluator, Truth
    from imagery.synth.chips import ChipStream

    stream = ChipStream(size=size, seed=HELD_OUT_SEED, **overrides)
    ev = DetectionEvaluator(score_threshold=operating, state_threshold=det.config.state_threshold)
    for i in range(n):
        chip = stream.chip(i)
        image, boxes = _to_model_gsd(chip, det.gsd_m)
        d = det.detect_array(image, score_threshold=0.05)
        h, w = image.shape[:2]
        outside = ~((boxes[:, 0] >= 0) & (boxes[:, 0] < w) & (boxes[:, 1] >= 0) & (boxes[:, 1] < h))
        ev.add(d.boxes, d.scores, d.classes, d.state_prob,
               Truth(boxes, chip.classes, chip.states, outside))
    return ev.summary()


def _to_model_gsd(chip, gsd_m: float):
    import cv2
    import numpy as np

    boxes = np.asarray(chip.boxes, np.float64).reshape(-1, 5).copy()
    f = float(chip.gsd) / gsd_m
    image = np.asarray(chip.image)
    if abs(f - 1) > 1e-3:
        h, w = image.shape[:2]
        image = cv2.resize(image, (round(w * f), round(h * f)), interpolation=cv2.INTER_AREA if f < 1 else
                           cv2.INTER_LINEAR)
        boxes[:, :4] *= f
    return np.ascontiguousarray(image), boxes


def real_sets(det, items_by_name: dict, gsd_by_name: dict, operating: float) -> dict:
    from detect.evaluate import evaluate_dataset

    out = {}
    for name, items in items_by_name.items():
        out[name] = evaluate_dataset(det, items, score_threshold=operating, gsd=gsd_by_name[name])
        out[name]["assumed_gsd_m"] = gsd_by_name[name]
    return out


# Two airports appear on three dates each (found by correlating 128 px thumbnails: r > 0.8
# within a group, < 0.35 across). Each group stays on one side of the split, so no airport is
# both trained on and tested on.
FINETUNE_TRAIN = ("20bfce20", "534ba32c", "b7ab0316",  # one airport, three dates
                  "22291e0b", "38ff8d64", "4fdabd34", "5c9e817a")
FINETUNE_TEST = ("14436c8c", "a32efaae", "d9399a45",  # another airport, three dates
                 "22457f2e", "5bb8ab95", "ca7b1077", "f34f05c6")


def finetune_experiment(weights: Path, device: str, steps: int) -> dict:
    """Fine-tune on 7 Airbus images, test on the other 7 (split by airport, see above)."""
    from detect.evaluate import evaluate_dataset
    from detect.infer import Detector
    from detect.labels import load_dataset
    from detect.train import load_train_config, train

    items = load_dataset(DATA / "airbus_aircraft")
    names = sorted(it.image.name for it in items)
    train_names = [n for n in names if n.startswith(FINETUNE_TRAIN)]
    test_names = [n for n in names if n.startswith(FINETUNE_TEST)]
    test_items = [it for it in items if it.image.name in test_names]
    with tempfile.TemporaryDirectory() as tmp:
        cfg = load_train_config(
            None, out=tmp, steps=steps, seed=0, device=device,
            init_weights=str(weights), lr=5e-4, warmup_steps=50,
            real=[{"path": str(DATA / "airbus_aircraft"), "fraction": 0.5, "generic_class": "airliner",
                   "include": train_names}])
        t0 = time.perf_counter()
        train(cfg, progress=False)
        minutes = (time.perf_counter() - t0) / 60
        base = _low(Detector(weights, device=device))
        tuned = _low(Detector(Path(tmp) / "best.pt", device=device))
        before = evaluate_dataset(base, test_items, score_threshold=0.3)
        after = evaluate_dataset(tuned, test_items, score_threshold=0.3)
    return {"train_images": train_names, "test_images": test_names, "steps": steps,
            "minutes": minutes, "synthetic_only_ap": before["aircraft_ap"],
            "finetuned_ap": after["aircraft_ap"]}


def _low(det):
    det.config = det.config.model_copy(update={"score_threshold": 0.05, "class_score_thresholds": {}})
    return det


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", default=None)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--chips", type=int, default=120, help="held-out synthetic chips")
    ap.add_argument("--chip-size", type=int, default=768)
    ap.add_argument("--no-synthetic", action="store_true")
    ap.add_argument("--scenes", nargs="*", default=[],
                    help="posturewatch synth output folders to score as whole scenes as well")
    ap.add_argument("--no-real", action="store_true")
    ap.add_argument("--finetune", action="store_true")
    ap.add_argument("--finetune-steps", type=int, default=1500)
    ap.add_argument("--json", default=None, help="also write every figure to this JSON file")
    ap.add_argument("--heat-flips", nargs="*", default=None, choices=["h", "v"],
                    help="test-time flips (detector.yaml heat_flips); default: the config's")
    args = ap.parse_args()

    from _common import print_table

    from detect.evaluate import format_summary
    from detect.infer import SHIPPED_WEIGHTS, Detector
    from detect.labels import load_dataset

    weights = Path(args.weights or SHIPPED_WEIGHTS)
    flips = {} if args.heat_flips is None else {"heat_flips": args.heat_flips}
    det = Detector(weights, device=args.device, **flips)
    operating = det.config.score_threshold
    det = _low(det)
    print(f"weights {weights} (sha256 {det.weights_sha256[:12]}...), device {det.device}, "
          f"operating score {operating}, state threshold {det.config.state_threshold}, "
          f"heat flips {det.config.heat_flips or 'none'}, states from "
          f"{'the second-stage classifier' if det.state_net is not None else 'the one-stage head'}, "
          f"aircraft kinds from {'the type classifier' if det.type_net is not None else 'the heat map'}, "
          f"launcher and vehicle centres from "
          f"{'the box network' if det.box_net is not None else 'the heat map'}, launcher and vehicle "
          f"detections {'checked' if det.ground_net is not None else 'unchecked'}")
    results: dict = {"weights": str(weights), "sha256": det.weights_sha256}
    rows = []
    if not args.no_synthetic:
        t0 = time.perf_counter()
        s = synthetic_heldout(det, args.chips, args.chip_size, HELD_OUT, operating)
        s["seconds"] = time.perf_counter() - t0
        s["render"] = HELD_OUT
        results["synthetic_heldout"] = s
        print(f"\n== synthetic held-out: {args.chips} chips of {args.chip_size} px, seed {HELD_OUT_SEED}, "
              f"{HELD_OUT}")
        print(format_summary(s))
        rows.append(["synthetic held-out mAP@0.5 (rotated)", f"{s['map']:.3f}", ">= 0.90"])
        air = ("transport", "fighter", "airliner")
        rows.append(["  AP " + " / ".join(air), " / ".join(f"{s['per_class'][c]['ap']:.3f}" for c in air
                                                          if c in s["per_class"]), "-"])
        small = ("sam", "vehicle")
        rows.append(["  AP sam / vehicle", " / ".join(f"{s['per_class'][c]['ap']:.3f}" for c in small
                                                    if c in s["per_class"]), "-"])
        # The same chips with each second stage switched off: what it buys, in one run.
        for stage, switch, what, shown in ((det.type_net, "type_classifier", "type classifier", air),
                                           (det.box_net, "box_centring", "box centring", small),
                                           (det.ground_net, "ground_check", "ground check", small)):
            if stage is None:
                continue
            without = Detector(weights, device=args.device, **{switch: False}, **flips)
            plain = synthetic_heldout(_low(without), args.chips, args.chip_size, HELD_OUT, operating)
            results[f"synthetic_heldout_without_{what.replace(' ', '_')}"] = plain
            rows.append([f"    same, without the {what}", f"{plain['map']:.3f}; " + " / ".join(
                f"{plain['per_class'][c]['ap']:.3f}" for c in shown if c in plain["per_class"]), "-"])
        one = None
        if det.state_net is not None:
            one_stage = Detector(weights, device=args.device, state_classifier=False, **flips)
            one = synthetic_heldout(_low(one_stage), args.chips, args.chip_size, HELD_OUT,
                                    operating)["states"]
            results["synthetic_heldout_one_stage_states"] = one
        for k in ("transport.nose_raised", "helicopter.dismantled", "sam.packed"):
            if k in s["states"]:
                v = s["states"][k]
                rows.append([f"  state F1 {k}", f"{v['f1']:.3f} (matched {v['f1_matched']:.3f})",
                             ">= 0.90" if "sam" not in k else "-"])
                if one is not None and k in one:
                    rows.append(["    same, one-stage state logits", f"{one[k]['f1']:.3f} "
                                 f"(matched {one[k]['f1_matched']:.3f})", "-"])
    for folder in args.scenes:
        from detect.evaluate import evaluate_dataset

        s = evaluate_dataset(det, load_dataset(folder), score_threshold=operating)
        results.setdefault("synth_scenes", {})[folder] = s
        print(f"\n== synthetic scene {folder}")
        print(format_summary(s))
        rows.append([f"synth scene {Path(folder).name}: mAP@0.5 (rotated)", f"{s['map']:.3f}", "-"])
        for k, v in s["states"].items():
            if v["positives"]:
                rows.append([f"  state F1 {k}", f"{v['f1']:.3f}", "-"])
    if not args.no_real:
        if not DATA.is_dir():
            print(f"\n{DATA} not found: real-data rows skipped")
        else:
            sets = {name: load_dataset(DATA / name) for name in ("airbus_aircraft", "dota8")}
            real = real_sets(det, sets, REAL_GSD, operating)
            results["real"] = real
            for name, s in real.items():
                print(f"\n== {name}")
                print(format_summary(s))
            a = real["airbus_aircraft"]
            rows.append(["Airbus aircraft AP@0.5 (class-agnostic, AABB)", f"{a['aircraft_ap']:.3f}",
                         ">= 0.60"])
            rows.append([f"  precision / recall at score {a['score_threshold']}",
                         f"{a['aircraft_precision']:.3f} / {a['aircraft_recall']:.3f}", "-"])
            d8 = real["dota8"]
            found = d8["aircraft_recall"] * d8["aircraft_truth"]
            rows.append(["DOTA8 planes found at the operating score",
                         f"{0 if math.isnan(found) else round(found)} of {d8['aircraft_truth']}", "-"])
    if args.finetune:
        ft = finetune_experiment(weights, det.device, args.finetune_steps)
        results["finetune"] = ft
        rows.append([f"research: Airbus AP on {len(ft['test_images'])} held-out images, synthetic only",
                     f"{ft['synthetic_only_ap']:.3f}", "-"])
        rows.append([f"research: same, fine-tuned on the other {len(ft['train_images'])} "
                     f"({ft['steps']} steps)",
                     f"{ft['finetuned_ap']:.3f}", "-"])
    print_table("Detector accuracy", ["metric", "measured", "target"], rows)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=_jsonable), encoding="utf-8")


def _jsonable(o):
    if isinstance(o, float) and math.isnan(o):
        return None
    return str(o)


if __name__ == "__main__":
    main()
