"""Training of a second stage that regresses a figure from a box-aligned crop (the box centring
of ``detect/box_train.py``, the helicopter heading of ``detect/heading_train.py``).

Why one loop: both render crops of jittered truth boxes with the figure that undoes the jitter,
sample them with weights, mirror half of each batch (which flips the sign of whatever points
sideways), fit the state classifier's network with a smooth L1 loss and write it into the
detector's weights. Only the figure, its mirror rule, the sampling and the validation metrics
differ, and those the caller passes in.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from detect.state_train import optimise, photometric, write_second_stage


def train_crop_regressor(cfg: Any, *, name: str, net_config: Any, crop_fn: Any, fields: tuple[str, ...],
                         salt: int, missing: str, sampling: Callable[[dict[str, np.ndarray]], np.ndarray],
                         mirror: Callable[[Any, Any], Any], outputs: int | slice,
                         metrics: Callable[[Any, dict[str, np.ndarray]], dict[str, Any]], desc: str,
                         progress: bool = True, export: str | Path | None = None,
                         crops: dict[str, np.ndarray] | None = None,
                         val_crops: dict[str, np.ndarray] | None = None) -> dict[str, Any]:
    """Train the second stage ``name`` (a ``save_weights`` keyword) on ``cfg`` (out, detector,
    threads, seed, steps, batch_size, lr, weight_decay and the crop sections) and write it into
    ``OUT/detector.pt``; returns the run's summary.

    ``crop_fn``/``fields``/``salt``: how the crops are rendered and cached
    (:func:`detect.type_train.train_and_val_crops`), ``missing``: the error when there are none;
    ``sampling(crops)``: each crop's sampling weight; ``mirror(targets, flip)``: the targets of
    the mirrored crops; ``outputs``: the network outputs the targets stand for;
    ``metrics(net, val_crops)``: the validation figures."""
    import torch
    import torch.nn.functional as F  # noqa: N812

    from detect.state_net import StateNet
    from detect.type_train import train_and_val_crops
    from imagery.errors import InputError

    out, base = cfg.start_run()
    t0 = time.perf_counter()
    crops, val_crops = train_and_val_crops(cfg, crop_fn, fields, salt, out, progress=progress,
                                           crops=crops, val_crops=val_crops)
    t_render = time.perf_counter() - t0
    if not len(crops["crops"]):
        raise InputError(missing)
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    net = StateNet(net_config)
    x_all = torch.from_numpy(crops["crops"])
    t_all = torch.from_numpy(crops["targets"]).float()
    s_all = torch.from_numpy(crops["sizes"]).float()
    weights = torch.from_numpy(sampling(crops))

    def batch_loss() -> Any:
        idx = torch.multinomial(weights, cfg.batch_size, replacement=True, generator=gen)
        x, t = x_all[idx].float(), t_all[idx].clone()
        flip = torch.rand(x.shape[0], generator=gen) < 0.5
        x = photometric(torch.where(flip[:, None, None, None], x.flip(3), x), gen)
        return F.smooth_l1_loss(net(x, s_all[idx])[:, outputs], mirror(t, flip), beta=0.1)

    log = (out / "log.jsonl").open("w", encoding="utf-8")
    t_train = optimise(net, batch_loss, steps=cfg.steps, lr=cfg.lr, weight_decay=cfg.weight_decay, log=log,
                       desc=desc, progress=progress)
    figures = metrics(net, val_crops)
    log.write(json.dumps({"val": figures}) + "\n")
    log.close()
    summary = {"steps": cfg.steps, "train_crops": int(len(crops["crops"])), "val": figures,
               "render_s": round(t_render, 1), "train_s": round(t_train, 1)}
    info = {"steps": cfg.steps, "seed": cfg.seed, "val": figures, "detector_sha256": base.sha256}
    return write_second_stage(base, out, name, net, {"steps": cfg.steps, "val": figures}, info,
                              summary, export)
