"""``posturewatch train-state-pair``: train the two-date state classifier into a weights file."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train-state-pair", help="train the two-date state classifier (a launcher packed "
                                                "between two dates, not just seen from another angle)",
                       description="Render synthetic twin chips (one world, two cameras, some objects "
                                   "in their other state), crop both dates at one box per object, train "
                                   "the pair classifier, and write the detector's weights again with it "
                                   "inside (OUT/detector.pt).")
    p.add_argument("--config", default=None, help="training config (default: configs/train_state_pair.yaml)")
    p.add_argument("--out", default=None, help="run folder (overrides the config's 'out')")
    p.add_argument("--detector", default=None, help="detector weights to extend (overrides the config)")
    p.add_argument("--steps", type=int, default=None, help="optimiser steps (overrides the config)")
    p.add_argument("--export", default=None, help="copy the weights (and checksum) here when done")


def run(args: argparse.Namespace) -> int:
    import os

    from detect.state_pair_train import format_pair_metrics, load_state_pair_config, train_state_pair

    cfg = load_state_pair_config(args.config, out=args.out, detector=args.detector, steps=args.steps)
    result = train_state_pair(cfg, progress=not os.environ.get("POSTUREWATCH_QUIET"), export=args.export)
    print(format_pair_metrics(result["val"]))
    print(f"{result['train_crops']} training crop pairs (rendered in {result['render_s']} s), "
          f"trained in {result['train_s']} s; weights {result['weights']}"
          + (f"; exported {args.export}" if args.export else ""))
    return 0
