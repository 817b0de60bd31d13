"""``posturewatch train-heading``: train the second-stage heading of helicopters."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train-heading",
                       help="train the second-stage heading of helicopters on synthetic chips",
                       description="Render crops of the helicopters of synthetic chips at boxes turned by "
                                   "up to 40 degrees, train a small network to say how far each box must "
                                   "turn to lie along its helicopter, and write the detector's weights "
                                   "again with it inside (OUT/detector.pt).")
    p.add_argument("--config", default=None, help="training config (default: configs/train_heading.yaml)")
    p.add_argument("--out", default=None, help="run folder (overrides the config's 'out')")
    p.add_argument("--detector", default=None, help="detector weights to extend (overrides the config)")
    p.add_argument("--steps", type=int, default=None, help="optimiser steps (overrides the config)")
    p.add_argument("--export", default=None, help="copy the weights (and checksum) here when done")


def run(args: argparse.Namespace) -> int:
    import os

    from detect.heading_train import load_heading_train_config, train_heading

    cfg = load_heading_train_config(args.config, out=args.out, detector=args.detector, steps=args.steps)
    result = train_heading(cfg, progress=not os.environ.get("POSTUREWATCH_QUIET"), export=args.export)
    for name, m in result["val"].items():
        print(f"{name:<8} {m['n']:>6} crops: median heading error {m['median_error_before']:.1f} -> "
              f"{m['median_error_after']:.1f} deg, {m['within_10_deg']:.0%} within 10 deg")
    print(f"{result['train_crops']} training crops (rendered in {result['render_s']} s), "
          f"trained in {result['train_s']} s; weights {result['weights']}"
          + (f"; exported {args.export}" if args.export else ""))
    return 0
