"""``posturewatch train-type``: train the second-stage aircraft type classifier into a weights file."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train-type", help="train the second-stage aircraft type classifier (transport, "
                                          "fighter, airliner) on synthetic chips",
                       description="Render box-aligned crops of the fixed-wing aircraft of synthetic "
                                   "chips, train the classifier on them, and write the detector's "
                                   "weights again with the classifier inside (OUT/detector.pt).")
    p.add_argument("--config", default=None, help="training config (default: configs/train_type.yaml)")
    p.add_argument("--out", default=None, help="run folder (overrides the config's 'out')")
    p.add_argument("--detector", default=None, help="detector weights to extend (overrides the config)")
    p.add_argument("--steps", type=int, default=None, help="optimiser steps (overrides the config)")
    p.add_argument("--export", default=None, help="copy the weights (and checksum) here when done")


def run(args: argparse.Namespace) -> int:
    import os

    from detect.type_train import format_type_metrics, load_type_train_config, train_type

    cfg = load_type_train_config(args.config, out=args.out, detector=args.detector, steps=args.steps)
    result = train_type(cfg, progress=not os.environ.get("POSTUREWATCH_QUIET"), export=args.export)
    print(format_type_metrics(result["val"]))
    print(f"{result['train_crops']} training crops (rendered in {result['render_s']} s), "
          f"trained in {result['train_s']} s; weights {result['weights']}"
          + (f"; exported {args.export}" if args.export else ""))
    return 0
