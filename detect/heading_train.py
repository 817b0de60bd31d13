"""Training the second-stage heading of helicopters (:mod:`detect.heading_net`) on synthetic chips.

``posturewatch train-heading --config configs/train_heading.yaml --export detect/weights/detector.pt``

Crops of the helicopters of synthetic chips (helicopter pads, military aprons, mixed) at their
boxes moved and resized a little, as the detector errs, and turned by up to ``max_turn_deg``
either way; the network learns how far the box must turn to lie along the helicopter. The
weights file is written again with it inside (``heading_net``), keeping the other networks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field

from detect.regressor_train import train_crop_regressor
from detect.state_train import (
    JitterSection,
    SecondStageTrainConfig,
    StreamSection,
    _inside,
    jitter_boxes,
    load_state_train_config,
    sampling_weights,
)

FIELDS = ("crops", "targets", "sizes", "types")


def _pads(**kw: Any) -> StreamSection:
    return StreamSection(**{"themes": {"helipads": 0.6, "military_apron": 0.2, "mixed": 0.2}, **kw})


class HeadingJitter(JitterSection):
    max_turn_deg: float = Field(40.0, gt=0, le=90, description="boxes turned uniformly up to this far")


class HeadingTrainConfig(SecondStageTrainConfig):
    out: str = "runs/heading"
    copies: int = Field(3, ge=1)
    balance_types: list[str] = Field(default_factory=lambda: ["Ka-52"],
                                     description="types each sampled as often as all unnamed ones together")
    stream: StreamSection = _pads(chips=1500)
    val: StreamSection = _pads(seed=1_000_013, chips=200)
    jitter: HeadingJitter = HeadingJitter(centre=0.05, centre_by_class={"helicopter": 0.1}, size=0.08,
                                          heading_deg=0.0, flip={})


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

    from detect.heading_net import heading_net_config

    def sampling(c: dict[str, np.ndarray]) -> np.ndarray:
        none = np.zeros(len(c["types"]), np.int64)  # one class, no state: the named types and the rest
        return sampling_weights(none, none, c["types"], cfg.balance_types)

    return train_crop_regressor(
        cfg, name="heading_net", net_config=heading_net_config(**cfg.net.model_dump()),
        crop_fn=chip_heading_crops, fields=FIELDS, salt=0x4EAD,
        missing="no helicopters in the training chips (check stream.themes)", sampling=sampling,
        mirror=lambda t, flip: torch.where(flip, -t, t),  # the mirror image turns the other way
        outputs=0, desc="train heading", progress=progress, export=export, crops=crops, val_crops=val_crops,
        metrics=lambda net, v: heading_metrics(_predict(net, v["crops"], v["sizes"]), v["targets"],
                                               v["types"]))
