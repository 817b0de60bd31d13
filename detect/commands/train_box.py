"""``posturewatch train-box``: train the second-stage box centring of launchers and vehicles."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train-box", help="train the second-stage box centring of launchers and vehicles "
                                         "on synthetic chips",
                       description="Render crops of the launchers and vehicles of synthetic chips at "
                                   "disturbed boxes, train a small network to find each object's "
                                   "centre in its crop, and write the detector's weights again with "
                                   "it inside (OUT/detector.pt).")
    p.add_argument("--config", default=None, help="training config (default: configs/train_box.yaml)")
    p.add_argument("--out", default=None, help="run folder (overrides the config's 'out')")
    p.add_argument("--detector", default=None, help="detector weights to extend (overrides the config)")
    p.add_argument("--steps", type=int, default=None, help="optimiser steps (overrides the config)")
    p.add_argument("--export", default=None, help="copy the weights (and checksum) here when done")


def run(args: argparse.Namespace) -> int:
    import os

    from detect.box_train import load_box_train_config, train_box

    cfg = load_box_train_config(args.config, out=args.out, detector=args.detector, steps=args.steps)
    result = train_box(cfg, progress=not os.environ.get("POSTUREWATCH_QUIET"), export=args.export)
    for name, m in result["val"].items():
        print(f"{name:<10} {m['n']:>6} crops: median centre error {m['median_error_before']:.3f} -> "
              f"{m['median_error_after']:.3f} (tenths of the crop side)")
    print(f"{result['train_crops']} training crops (rendered in {result['render_s']} s), "
          f"trained in {result['train_s']} s; weights {result['weights']}"
          + (f"; exported {args.export}" if args.export else ""))
    return 0
