"""Training the second-stage box centring (:mod:`detect.box_net`) on synthetic chips.

``posturewatch train-box --config configs/train_box.yaml --export detect/weights/detector.pt``

Crops of the launchers and vehicles of synthetic chips (air-defence sites, convoys, mixed and
military aprons) with their boxes moved, resized and turned at random, a little more than the
detector errs; the network learns where in the crop the object's true centre lies. The weights
file is written again with it inside (``box_net``), keeping the other classifiers.
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
)

FIELDS = ("crops", "targets", "sizes", "classes")


def _sites(**kw: Any) -> StreamSection:
    return StreamSection(**{"themes": {"sam_site": 0.4, "convoy": 0.2, "military_apron": 0.2, "mixed": 0.2},
                            **kw})


class BoxTrainConfig(SecondStageTrainConfig):
    out: str = "runs/box"
    copies: int = Field(2, ge=1)
    stream: StreamSection = _sites(chips=1500)
    val: StreamSection = _sites(seed=1_000_011, chips=200)
    jitter: JitterSection = JitterSection(centre=0.1, size=0.1, heading_deg=6.0,
                                          flip={"sam": 0.5, "vehicle": 0.5})


def load_box_train_config(name_or_path: str | Path | None = None, **overrides: Any) -> BoxTrainConfig:
    return load_state_train_config(name_or_path, kind=BoxTrainConfig, default="train_box", **overrides)


def chip_box_crops(chip: Any, rng: np.random.Generator, net_cfg: Any, jitter: JitterSection,
                   copies: int) -> dict[str, np.ndarray]:
    """Crops at jittered boxes of one chip's launchers and vehicles, and the true centre in each
    crop's frame (right, down) in units of ``OUTPUT_SCALE``-ths of the crop side."""
    import torch

    from detect.box_net import BOX_INDEX, OUTPUT_SCALE, crop_axes
    from detect.state_net import crop_sides, oriented_crops
    from detect.type_net import size_inputs

    boxes = np.asarray(chip.boxes, np.float64).reshape(-1, 5)
    classes = np.asarray(chip.classes, np.int64)
    h, w = chip.image.shape[:2]
    keep = np.isin(classes, BOX_INDEX.numpy()) & _inside(boxes, h, w)
    boxes, classes = boxes[keep], classes[keep]
    size = net_cfg.crop_px
    if not len(boxes):
        return {"crops": np.zeros((0, 3, size, size), np.uint8), "targets": np.zeros((0, 2), np.float32),
                "sizes": np.zeros((0, 2), np.float32), "classes": classes}
    image = torch.from_numpy(np.ascontiguousarray(chip.image.transpose(2, 0, 1))).float()
    crops, targets, sizes = [], [], []
    for _ in range(copies):
        jb = torch.from_numpy(jitter_boxes(boxes, classes, rng, jitter)).float()
        sides = crop_sides(jb, float(chip.gsd), net_cfg)
        crops.append(oriented_crops(image, jb, sides, size).round().clamp(0, 255).to(torch.uint8).numpy())
        right, down = crop_axes(jb)
        d = torch.from_numpy(boxes[:, :2]).float() - jb[:, :2]
        targets.append((torch.stack([(d * right).sum(1), (d * down).sum(1)], 1) / sides[:, None]
                        * OUTPUT_SCALE).numpy())
        sizes.append(size_inputs(jb, float(chip.gsd)).numpy())
    return {"crops": np.concatenate(crops), "targets": np.concatenate(targets).astype(np.float32),
            "sizes": np.concatenate(sizes), "classes": np.tile(classes, copies)}


def _predict(net: Any, crops: np.ndarray, sizes: np.ndarray, batch: int = 512) -> np.ndarray:
    import torch

    net.eval()
    out = []
    with torch.inference_mode():
        for i in range(0, len(crops), batch):
            x, e = torch.from_numpy(crops[i:i + batch]), torch.from_numpy(sizes[i:i + batch])
            a, b = net(x, e), net(x.flip(-1), e)
            out.append(torch.stack([(a[:, 0] - b[:, 0]) / 2, (a[:, 1] + b[:, 1]) / 2], 1).numpy())
    return np.concatenate(out) if out else np.zeros((0, 2))


def box_metrics(pred: np.ndarray, targets: np.ndarray, classes: np.ndarray) -> dict[str, Any]:
    """Median centre error before (the jittered box) and after centring, in OUTPUT_SCALE-ths of
    the crop side, per class."""
    from imagery.taxonomy import CLASSES

    out: dict[str, Any] = {}
    for c in np.unique(classes):
        m = classes == c
        out[CLASSES[int(c)]] = {"n": int(m.sum()),
                                "median_error_before": float(np.median(np.hypot(*targets[m].T))),
                                "median_error_after": float(np.median(np.hypot(*(targets[m] - pred[m]).T)))}
    return out


def train_box(cfg: BoxTrainConfig, *, progress: bool = True, export: str | Path | None = None,
              crops: dict[str, np.ndarray] | None = None,
              val_crops: dict[str, np.ndarray] | None = None) -> dict[str, Any]:
    import torch

    from detect.box_net import box_net_config

    def sampling(c: dict[str, np.ndarray]) -> np.ndarray:
        _, inv, counts = np.unique(c["classes"], return_inverse=True, return_counts=True)
        return 1.0 / counts[inv]  # launchers as often as the many vehicles

    def mirror(t: Any, flip: Any) -> Any:
        t[:, 0] = torch.where(flip, -t[:, 0], t[:, 0])  # the mirror image swaps right and left
        return t

    return train_crop_regressor(
        cfg, name="box_net", net_config=box_net_config(**cfg.net.model_dump()), crop_fn=chip_box_crops,
        fields=FIELDS, salt=0xB0C5,
        missing="no launchers or vehicles in the training chips (check stream.themes)", sampling=sampling,
        mirror=mirror, outputs=slice(None), desc="train box", progress=progress, export=export, crops=crops,
        val_crops=val_crops,
        metrics=lambda net, v: box_metrics(_predict(net, v["crops"], v["sizes"]), v["targets"], v["classes"]))
