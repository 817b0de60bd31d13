"""Training throughput of the shipped recipe (configs/train.yaml) on a small chip cache.

    python benchmarks/train_speed.py [--device cpu|cuda] [--steps 300] [--batch-size 16]
                                     [--cache-chips 1024] [--workers N]

Rows (one run): rendering the chip cache with every core (chips/s), optimiser steps after the
first 50 (steps/s and chips/s from the run's log.jsonl: data loading, augmentation, forward,
backward, AdamW; mixed precision on CUDA), and the final validation on the held-out chips.
The loss after the short run is printed too, as a check that training really ran. Nothing is
kept: the run folder is temporary.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import print_table


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--batch-size", type=int, default=None)
    ap.add_argument("--cache-chips", type=int, default=1024)
    ap.add_argument("--workers", type=int, default=None, help="data-loading processes")
    args = ap.parse_args(argv)
    import torch

    from detect.infer import resolve_device
    from detect.train import LazySource, _SyntheticFactory, build_chip_cache, load_train_config, train

    device = resolve_device(args.device)
    cpus = os.cpu_count() or 2
    workers = args.workers or max(1, min(12, cpus - 2))
    with tempfile.TemporaryDirectory() as tmp:
        base = load_train_config()
        cache = {**base.cache.model_dump(), "dir": f"{tmp}/cache", "chips": args.cache_chips,
                 "workers": cpus}
        cfg = load_train_config(None, out=f"{tmp}/run", steps=args.steps, device=device,
                                batch_size=args.batch_size, workers=workers, cache=cache,
                                val={**base.val.model_dump(), "every": 10**9},
                                checkpoint_every=10**9, warmup_steps=min(base.warmup_steps, args.steps))
        t0 = time.perf_counter()
        key = {"seed": cfg.seed, "stream_size": cfg.stream_size, "overrides": cfg.stream_overrides}
        build_chip_cache(cfg.cache.dir, LazySource(_SyntheticFactory(cfg.seed, cfg.stream_size,
                                                                     cfg.stream_overrides)),
                         chips=cfg.cache.chips, size=cfg.stream_size, key=key, workers=cpus,
                         progress=False)
        t_cache = time.perf_counter() - t0
        t0 = time.perf_counter()
        summary = train(cfg, progress=False)
        t_train = time.perf_counter() - t0
        log = [json.loads(line) for line in Path(cfg.out, "log.jsonl").read_text().splitlines()]
    steps = [r for r in log if "chips_per_s" in r]
    val = [r["val"] for r in log if "val" in r]
    warm = [r for r in steps if r["step"] > 50] or steps
    chips_s = float(np.median([r["chips_per_s"] for r in warm]))
    name = (torch.cuda.get_device_name(0) if device.startswith("cuda")
            else f"CPU, {torch.get_num_threads()} threads")
    rows = [
        ["chip cache render", f"{cfg.cache.chips / t_cache:.1f} chips/s",
         f"{cfg.cache.chips} chips of {cfg.stream_size} px, {cpus} processes, {t_cache:.1f} s"],
        ["training steps (after step 50)", f"{chips_s / cfg.batch_size:.2f} steps/s",
         f"{chips_s:.0f} chips/s; batch {cfg.batch_size} of {cfg.chip_size} px, {workers} loaders"],
        ["whole train() call", f"{t_train:.1f} s", f"{summary['step']} steps + final validation"],
        ["loss (EMA) first -> last log", f"{steps[0]['loss_ema']:.3f} -> {steps[-1]['loss_ema']:.3f}",
         f"val mAP after {summary['step']} steps: {val[-1]['map']:.3f}" if val else ""],
    ]
    print_table(f"Training throughput on {device} ({name}), configs/train.yaml recipe",
                ["what", "rate", "notes"], rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
