"""Training the second-stage heading of helicopters (:mod:`detect.heading_net`) on synthetic chips.

``posturewatch train-heading --config configs/train_heading.yaml --export detect/weights/detector.pt``

Crops of the helicopters of synthetic chips (helicopter pads, military aprons, mixed) at their
boxes moved and resized a little, as the detector errs, and turned by up to ``max_turn_deg``
either way; the network learns how far the box must turn to lie along the helicopter. The
weights file is written again with it inside (``heading_net``), keeping the other networks.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field

from detect.state_train import (
    JitterSection,
    NetSection,
    StreamSection,
    _inside,
    jitter_boxes,
    load_state_train_config,
    optimise,
    photometric,
    sampling_weights,
    write_second_stage,
)
from detect.type_train import train_and_val_crops
from imagery.config import StrictModel

FIELDS = ("crops", "targets", "sizes", "types")


def _pads(**kw: Any) -> StreamSection:
    return StreamSection(**{"themes": {"helipads": 0.6, "military_apron": 0.2, "mixed": 0.2}, **kw})


class HeadingJitter(JitterSection):
    max_turn_deg: float = Field(40.0, gt=0, le=90, description="boxes turned uniformly up to this far")


class HeadingTrainConfig(StrictModel):
    seed: int = 0
    out: str = "runs/heading"
    detector: str = Field("detect/weights/detector.pt", description="detector weights to extend")
    steps: int = Field(2500, ge=1)
    batch_size: int = Field(128, ge=2)
    lr: float = 2e-3
    weight_decay: float = 1e-3
    copies: int = Field(3, ge=1)
    balance_types: list[str] = Field(default_factory=lambda: ["Ka-52"],
                                     description="types each sampled as often as all unnamed ones together")
    net: NetSection = NetSection()
    stream: StreamSection = _pads(chips=1500)
    val: StreamSection = _pads(seed=1_000_013, chips=200)
    jitter: HeadingJitter = HeadingJitter(centre=0.05, centre_by_class={"helicopter": 0.1}, size=0.08,
                                          heading_deg=0.0, flip={})
    threads: int = 0


def load_heading_train_config(name_or_path: str | Path | None = None,
                              **overrides: Any) -> HeadingTrainConfig:
    return load_state_train_config(name_or_path, kind=HeadingTrainConfig, default="train_heading",
                                   **overrides)


def chip_heading_crops(chip: Any, rng: np.random.Generator, net_cfg: Any, jitter: HeadingJitter,
                       copies: int) -> dict[str, np.ndarray]:
    """Crops of one chip's helicopters at jittered, turned boxes, and the turn back to the truth
    (clockwise, in units of ``OUTPUT_SCALE`` degrees)."""
    import torch

    from detect.heading_net import HEADING_INDEX, OUTPUT_SCALE
    from detect.state_net import crop_sides, oriented_crops
    from detect.type_net import size_inputs

    boxes = np.asarray(chip.boxes, np.float64).reshape(-1, 5)
    classes = np.asarray(chip.classes, np.int64)
    h, w = chip.image.shape[:2]
    keep = np.isin(classes, HEADING_INDEX.numpy()) & _inside(boxes, h, w)
    types = getattr(chip, "types", None) or [""] * len(classes)
    names = np.asarray([types[i] for i in np.flatnonzero(keep)], dtype="U16")
    boxes, classes = boxes[keep], classes[keep]
    size = net_cfg.crop_px
    if not len(boxes):
        return {"crops": np.zeros((0, 3, size, size), np.uint8), "targets": np.zeros(0, np.float32),
                "sizes": np.zeros((0, 2), np.float32), "types": names}
    image = torch.from_numpy(np.ascontiguousarray(chip.image.transpose(2, 0, 1))).float()
    crops, targets, sizes = [], [], []
    for _ in range(copies):
        jb = jitter_boxes(boxes, classes, rng, jitter)
        turn = rng.uniform(-jitter.max_turn_deg, jitter.max_turn_deg, len(jb))
        jb[:, 4] = (jb[:, 4] - turn) % 360.0  # the truth lies `turn` degrees clockwise of the box
        t = torch.from_numpy(jb).float()
        sides = crop_sides(t, float(chip.gsd), net_cfg)
        crops.append(oriented_crops(image, t, sides, size).round().clamp(0, 255).to(torch.uint8).numpy())
        targets.append((turn / OUTPUT_SCALE).astype(np.float32))
        sizes.append(size_inputs(t, float(chip.gsd)).numpy())
    return {"crops": np.concatenate(crops), "targets": np.concatenate(targets),
            "sizes": np.concatenate(sizes), "types": np.tile(names, copies)}


def _predict(net: Any, crops: np.ndarray, sizes: np.ndarray, batch: int = 512) -> np.ndarray:
    import torch

    net.eval()
    out = []
    with torch.inference_mode():
        for i in range(0, len(crops), batch):
            x, e = torch.from_numpy(crops[i:i + batch]), torch.from_numpy(sizes[i:i + batch])
            out.append(((net(x, e)[:, 0] - net(x.flip(-1), e)[:, 0]) / 2).numpy())
    return np.concatenate(out) if out else np.zeros(0)


def heading_metrics(pred: np.ndarray, targets: np.ndarray, types: np.ndarray) -> dict[str, Any]:
    """Median and 90th-percentile heading error (degrees) of the turned boxes before and after
    the network's turn, over all helicopters and per type."""
    from detect.heading_net import MAX_TURN_DEG, OUTPUT_SCALE

    before = np.abs(targets) * OUTPUT_SCALE
    limit = MAX_TURN_DEG / OUTPUT_SCALE
    after = np.abs(targets - np.clip(pred, -limit, limit)) * OUTPUT_SCALE
    groups = {"all": np.ones(len(types), bool), **{str(t): types == t for t in np.unique(types) if t}}
    return {name: {"n": int(m.sum()),
                   "median_error_before": round(float(np.median(before[m])), 2),
                   "median_error_after": round(float(np.median(after[m])), 2),
                   "p90_error_after": round(float(np.percentile(after[m], 90)), 2),
                   "within_10_deg": round(float((after[m] <= 10).mean()), 3)}
            for name, m in groups.items() if m.any()}


def train_heading(cfg: HeadingTrainConfig, *, progress: bool = True, export: str | Path | None = None,
                  crops: dict[str, np.ndarray] | None = None,
                  val_crops: dict[str, np.ndarray] | None = None) -> dict[str, Any]:
    import torch
    import torch.nn.functional as F  # noqa: N812

    from detect.heading_net import heading_net_config
    from detect.model import load_weights
    from detect.state_net import StateNet
    from imagery.errors import InputError

    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    base = load_weights(cfg.detector)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    t0 = time.perf_counter()
    crops, val_crops = train_and_val_crops(cfg, chip_heading_crops, FIELDS, 0x4EAD, out, progress=progress,
                                           crops=crops, val_crops=val_crops)
    t_render = time.perf_counter() - t0
    if not len(crops["crops"]):
        raise InputError("no helicopters in the training chips (check stream.themes)")
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    net = StateNet(heading_net_config(**cfg.net.model_dump()))
    x_all = torch.from_numpy(crops["crops"])
    t_all = torch.from_numpy(crops["targets"]).float()
    s_all = torch.from_numpy(crops["sizes"]).float()
    none = np.zeros(len(crops["types"]), np.int64)  # one class, no state: the named types and the rest
    weights = torch.from_numpy(sampling_weights(none, none, crops["types"], cfg.balance_types))

    def batch_loss() -> Any:
        idx = torch.multinomial(weights, cfg.batch_size, replacement=True, generator=gen)
        x, t = x_all[idx].float(), t_all[idx].clone()
        flip = torch.rand(x.shape[0], generator=gen) < 0.5
        x = photometric(torch.where(flip[:, None, None, None], x.flip(3), x), gen)
        t = torch.where(flip, -t, t)  # the mirror image turns the other way
        return F.smooth_l1_loss(net(x, s_all[idx])[:, 0], t, beta=0.1)

    log = (out / "log.jsonl").open("w", encoding="utf-8")
    t_train = optimise(net, batch_loss, steps=cfg.steps, lr=cfg.lr, weight_decay=cfg.weight_decay, log=log,
                       desc="train heading", progress=progress)
    metrics = heading_metrics(_predict(net, val_crops["crops"], val_crops["sizes"]), val_crops["targets"],
                              val_crops["types"])
    log.write(json.dumps({"val": metrics}) + "\n")
    log.close()
    summary = {"steps": cfg.steps, "train_crops": int(len(crops["crops"])), "val": metrics,
               "render_s": round(t_render, 1), "train_s": round(t_train, 1)}
    info = {"steps": cfg.steps, "seed": cfg.seed, "val": metrics, "detector_sha256": base.sha256}
    return write_second_stage(base, out, "heading_net", net, {"steps": cfg.steps, "val": metrics}, info,
                              summary, export)
