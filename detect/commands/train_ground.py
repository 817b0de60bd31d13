"""``posturewatch train-ground``: train the second-stage check of launcher and vehicle detections."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train-ground", help="train the second-stage check of launcher and vehicle detections "
                                            "(launcher, vehicle or nothing) on synthetic chips",
                       description="Run the detector on synthetic chips, crop its launcher and vehicle "
                                   "detections at their boxes, label each by the object it sits on (or "
                                   "nothing), train a small network to tell them apart, and write the "
                                   "detector's weights again with it inside (OUT/detector.pt).")
    p.add_argument("--config", default=None, help="training config (default: configs/train_ground.yaml)")
    p.add_argument("--out", default=None, help="run folder (overrides the config's 'out')")
    p.add_argument("--detector", default=None, help="detector weights to extend (overrides the config)")
    p.add_argument("--steps", type=int, default=None, help="optimiser steps (overrides the config)")
    p.add_argument("--export", default=None, help="copy the weights (and checksum) here when done")


def run(args: argparse.Namespace) -> int:
    import os

    from detect.ground_train import format_ground_metrics, load_ground_train_config, train_ground

    cfg = load_ground_train_config(args.config, out=args.out, detector=args.detector, steps=args.steps)
    result = train_ground(cfg, progress=not os.environ.get("POSTUREWATCH_QUIET"), export=args.export)
    print(format_ground_metrics(result["val"]))
    print(f"{result['train_crops']} training crops (rendered in {result['render_s']} s), "
          f"trained in {result['train_s']} s; weights {result['weights']}"
          + (f"; exported {args.export}" if args.export else ""))
    return 0
