"""``posturewatch train --config configs/train.yaml``: train the detector (resumable)."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train the detector on synthetic chips (+ optional real labels)",
                       description="Train from scratch (or fine-tune with init_weights) on the "
                                   "synthetic chip stream with domain randomisation, optionally "
                                   "mixed with labelled real images. Writes OUT/last.pt "
                                   "(checkpoint), OUT/best.pt + .sha256 (weights), OUT/log.jsonl.")
    p.add_argument("--config", default=None, help="training config (default: configs/train.yaml)")
    p.add_argument("--out", default=None, help="run folder (overrides the config's 'out')")
    p.add_argument("--steps", type=int, default=None, help="total optimiser steps (overrides config)")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--device", default=None, choices=("auto", "cpu", "cuda"))
    p.add_argument("--workers", type=int, default=None, help="data-loading processes")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for the model")
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    p.add_argument("--export", default=None,
                   help="copy the best weights (and checksum) here when training ends")


def run(args: argparse.Namespace) -> int:
    import os
    import shutil
    from pathlib import Path

    from detect.train import load_train_config, train

    cfg = load_train_config(args.config, out=args.out, steps=args.steps, seed=args.seed,
                            device=args.device, workers=args.workers, threads=args.threads)
    result = train(cfg, resume=args.resume, progress=not os.environ.get("POSTUREWATCH_QUIET"))
    best = Path(result["out"]) / "best.pt"
    print(f"trained to step {result['step']}; best validation mAP {result['best_map']:.3f}; weights {best}")
    if args.export:
        from detect.model import checksum_path, load_weights

        dst = Path(args.export)
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(best, dst)
        digest = load_weights(dst, verify=False).sha256
        checksum_path(dst).write_text(f"{digest}  {dst.name}\n", encoding="utf-8")
        print(f"exported {dst}")
    return 0
