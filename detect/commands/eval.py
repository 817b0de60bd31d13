"""``posturewatch eval DATASET...``: score the detector against labelled imagery."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="score the detector on labelled images (mAP, state F1, aircraft AP)",
                       description="Rotated mAP@IoU per class and state F1 where the labels are "
                                   "oriented boxes of our classes (posturewatch synth output, "
                                   "GeoJSON/GPKG truth), and class-agnostic aircraft AP against "
                                   "axis-aligned labels (Airbus CSV folder, DOTA/YOLO-OBB folder, "
                                   "COCO JSON). Truncated/difficult objects are ignore regions.")
    p.add_argument("datasets", nargs="+", metavar="DATASET",
                   help="Airbus folder or CSV, YOLO-OBB folder, COCO .json, or a synth folder")
    p.add_argument("--weights", default=None, help="weights file (default: the shipped ones)")
    p.add_argument("--config", default=None, help="detector config (default: configs/detector.yaml)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--iou", type=float, default=0.5, help="IoU threshold (default 0.5)")
    p.add_argument("--score-threshold", type=float, default=None,
                   help="operating point for precision/recall and state F1 (default: the config's)")
    p.add_argument("--gsd", type=float, default=None,
                   help="GSD in metres of images without georeference (default 0.5)")
    p.add_argument("--images", default=None,
                   help="comma-separated image names to score (default: all of the set)")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace) -> int:
    import json
    import math
    import os

    from detect.evaluate import evaluate_dataset, format_summary
    from detect.infer import Detector
    from detect.labels import load_dataset
    from imagery.errors import InputError

    detector = Detector(args.weights, device=args.device, batch_size=args.batch_size,
                        config=args.config)
    operating = detector.config.score_threshold if args.score_threshold is None else args.score_threshold
    low = Detector.__new__(Detector)  # same model, low threshold so AP sees the whole curve
    low.__dict__.update(detector.__dict__)
    low.config = detector.config.model_copy(update={"score_threshold": min(0.05, operating),
                                                    "class_score_thresholds": {}})
    results = {}
    for ds in args.datasets:
        items = load_dataset(ds)
        if args.images:
            wanted = {s.strip() for s in args.images.split(",") if s.strip()}
            items = [it for it in items if it.image.name in wanted or it.image.stem in wanted]
            if not items:
                raise InputError(f"{ds}: none of --images {args.images} is in the set")
        summary = evaluate_dataset(low, items, iou_threshold=args.iou, score_threshold=operating,
                                   gsd=args.gsd, progress=not os.environ.get("POSTUREWATCH_QUIET"))
        results[ds] = summary
        if not args.json:
            print(f"== {ds}")
            print(format_summary(summary))

    def clean(o):
        if isinstance(o, float) and math.isnan(o):
            return None
        if isinstance(o, dict):
            return {k: clean(v) for k, v in o.items()}
        if isinstance(o, list):
            return [clean(v) for v in o]
        return o

    if args.json:
        print(json.dumps(clean({"weights": str(detector.weights_path) if detector.weights_path else None,
                                "sha256": detector.weights_sha256, "results": results}), indent=2))
    return 0
