"""Training the second-stage type classifiers (:mod:`detect.type_net`) on synthetic chips: the
aircraft kind (``family: aircraft``) and the air-defence equipment type (``family: air_defence``).

``posturewatch train-type --config configs/train_type.yaml --export detect/weights/detector.pt``
``posturewatch train-type --config configs/train_air_defence_type.yaml --export detect/weights/detector.pt``

1. Render chips of the aprons (civil and military, and the state study's rows of transports),
   or of the SAM sites, in parallel processes; each returns the box-aligned crops of the
   family's objects wholly inside it, ``copies`` times each with the box jittered the way the
   detector's boxes err.
2. Train the small network on the crops with class-balanced sampling, mirror and photometric
   augmentation; validate on crops of another chip stream.
3. Write the detector's weights file again with the classifier inside (``type_net`` or
   ``air_defence_net``), keeping the other second stages it already holds.

Crops are cached in ``OUT/crops.npz`` with the settings that made them, like the state
classifier's (:mod:`detect.state_train`, whose rendering, optimiser and augmentation this reuses).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field

from detect.classifier_train import fit_balanced_classifier, predict_mirrored
from detect.state_train import (
    JitterSection,
    NetSection,
    SecondStageTrainConfig,
    StreamSection,
    _cached_crops,
    _inside,
    jitter_boxes,
    load_state_train_config,
    write_second_stage,
)

FIELDS = ("crops", "labels", "sizes")


def _aprons(**kw: Any) -> StreamSection:
    return StreamSection(**{"themes": {"civil_apron": 0.35, "military_apron": 0.35, "state_study": 0.15,
                                       "mixed": 0.15}, **kw})


class TypeTrainConfig(SecondStageTrainConfig):
    family: Literal["aircraft", "air_defence"] = Field(
        "aircraft", description="what the classifier names: the fixed-wing aircraft's kind, or the "
                                "air-defence equipment's type")
    out: str = "runs/type"
    copies: int = Field(2, ge=1, description="jittered crops per aircraft")
    stream: StreamSection = _aprons(chips=2500)
    val: StreamSection = _aprons(seed=1_000_009, chips=300)
    jitter: JitterSection = JitterSection(flip={"transport": 0.05, "fighter": 0.05, "airliner": 0.05})


def load_type_train_config(name_or_path: str | Path | None = None, **overrides: Any) -> TypeTrainConfig:
    """The type-classifier training config with command-line ``overrides`` (None = not given)."""
    return load_state_train_config(name_or_path, kind=TypeTrainConfig, default="train_type", **overrides)


def chip_type_crops(chip: Any, rng: np.random.Generator, net_cfg: Any, jitter: JitterSection,
                    copies: int) -> dict[str, np.ndarray]:
    """Box-aligned crops (uint8 (n, 3, S, S)) of one chip's fixed-wing aircraft, their index
    into ``TYPE_CLASSES`` and the size inputs of their jittered boxes
    (:func:`detect.type_net.size_inputs`)."""
    import torch

    from detect.type_net import type_rows

    classes = np.asarray(chip.classes, np.int64)
    rows = type_rows(torch.from_numpy(classes)).numpy() if len(classes) else classes
    return labelled_crops(chip, rows, rng, net_cfg, jitter, copies)


def chip_air_defence_crops(chip: Any, rng: np.random.Generator, net_cfg: Any, jitter: JitterSection,
                           copies: int) -> dict[str, np.ndarray]:
    """As :func:`chip_type_crops` for the chip's air-defence equipment, labelled by index into
    ``AIR_DEFENCE_TYPES``."""
    from detect.type_net import air_defence_rows

    rows = air_defence_rows(chip.classes, chip.types) if len(chip.classes) else np.zeros(0, np.int64)
    return labelled_crops(chip, rows, rng, net_cfg, jitter, copies)


def family_parts(family: str) -> tuple[Any, tuple[str, ...], Any, str, int]:
    """(crop function, output names, network config function, weights-file key, crop salt) of a
    type-classifier family."""
    from detect.type_net import AIR_DEFENCE_TYPES, TYPE_CLASSES, air_defence_net_config, type_net_config

    if family == "air_defence":
        return chip_air_defence_crops, AIR_DEFENCE_TYPES, air_defence_net_config, "air_defence_net", 0x5A
    return chip_type_crops, TYPE_CLASSES, type_net_config, "type_net", 0x7E9E


def labelled_crops(chip: Any, rows: np.ndarray, rng: np.random.Generator, net_cfg: Any,
                   jitter: JitterSection, copies: int) -> dict[str, np.ndarray]:
    """Box-aligned crops of the chip's objects whose label ``rows`` (one per box) is not -1, with
    those labels and the size inputs of their jittered boxes, ``copies`` jitters each."""
    import torch

    from detect.state_net import crop_sides, oriented_crops
    from detect.type_net import size_inputs

    boxes = np.asarray(chip.boxes, np.float64).reshape(-1, 5)
    classes = np.asarray(chip.classes, np.int64)
    h, w = chip.image.shape[:2]
    keep = (rows >= 0) & _inside(boxes, h, w)
    boxes, classes, rows = boxes[keep], classes[keep], rows[keep]
    size = net_cfg.crop_px
    if not len(boxes):
        return {"crops": np.zeros((0, 3, size, size), np.uint8), "labels": rows,
                "sizes": np.zeros((0, 2), np.float32)}
    image = torch.from_numpy(np.ascontiguousarray(chip.image.transpose(2, 0, 1))).float()
    crops, sizes = [], []
    for _ in range(copies):
        jb = torch.from_numpy(jitter_boxes(boxes, classes, rng, jitter)).float()
        sides = crop_sides(jb, float(chip.gsd), net_cfg)
        crops.append(oriented_crops(image, jb, sides, size).round().clamp(0, 255).to(torch.uint8).numpy())
        sizes.append(size_inputs(jb, float(chip.gsd)).numpy())
    return {"crops": np.concatenate(crops), "labels": np.tile(rows, copies), "sizes": np.concatenate(sizes)}


class CropJob:
    """Picklable: renders chip ``i`` of a stream and returns ``crop_fn``'s crops of it (in a
    worker process). ``crop_fn(chip, rng, net, jitter, copies)`` is a module-level function."""

    def __init__(self, crop_fn: Any, stream: StreamSection, net: NetSection, jitter: JitterSection,
                 copies: int, salt: int) -> None:
        self.crop_fn, self.stream, self.net, self.jitter, self.copies = crop_fn, stream, net, jitter, copies
        self.salt = salt
        self._chips: Any = None

    def __call__(self, index: int) -> dict[str, np.ndarray]:
        if self._chips is None:
            from imagery.synth.chips import ChipStream

            self._chips = ChipStream(self.stream.size, seed=self.stream.seed,
                                     themes=tuple(self.stream.themes.items()), **self.stream.overrides)
        rng = np.random.default_rng([self.stream.seed, index, self.salt])
        return self.crop_fn(self._chips.chip(index), rng, self.net, self.jitter, self.copies)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_chips": None}


def render_crop_set(job: CropJob, fields: tuple[str, ...], *, progress: bool = True,
                    label: str = "crops") -> dict[str, np.ndarray]:
    from detect.train import process_map

    parts = list(process_map(job, range(job.stream.chips), total=job.stream.chips, workers=job.stream.workers,
                             desc=f"render {label}", progress=progress, ordered=True))
    return {k: np.concatenate([p[k] for p in parts]) for k in fields}


def cached_crop_set(path: Path, key: dict, job: Any, fields: tuple[str, ...], *, progress: bool,
                    label: str) -> dict[str, np.ndarray]:
    """The crops of ``job`` from the cache at ``path`` when it was made with ``key``, else
    rendered (:func:`render_crop_set`) and cached."""
    return _cached_crops(path, key, lambda: render_crop_set(job, fields, progress=progress, label=label),
                         fields)


def train_and_val_crops(cfg: Any, crop_fn: Any, fields: tuple[str, ...], salt: int, out: Path, *,
                        progress: bool, crops: dict[str, np.ndarray] | None = None,
                        val_crops: dict[str, np.ndarray] | None = None
                        ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(training, validation) crops of a second-stage trainer whose config has ``stream``,
    ``val``, ``net``, ``jitter`` and ``copies`` (one copy of each validation object), each
    rendered with ``crop_fn`` and cached in ``out`` unless given."""
    sets = {"crops": crops, "val_crops": val_crops}
    for name, stream, copies in (("crops", cfg.stream, cfg.copies), ("val_crops", cfg.val, 1)):
        if sets[name] is not None:
            continue
        key = {"stream": stream.model_dump(), "net": cfg.net.model_dump(), "jitter": cfg.jitter.model_dump(),
               "copies": copies}
        sets[name] = cached_crop_set(out / f"{name}.npz", key, CropJob(crop_fn, stream, cfg.net, cfg.jitter,
                                                                        copies, salt),
                                     fields, progress=progress, label=name)
    assert sets["crops"] is not None and sets["val_crops"] is not None
    return sets["crops"], sets["val_crops"]


def render_type_crops(stream: StreamSection, net: NetSection, jitter: JitterSection, copies: int, *,
                      progress: bool = True, label: str = "crops", family: str = "aircraft"
                      ) -> dict[str, np.ndarray]:
    crop_fn, _, _, _, salt = family_parts(family)
    return render_crop_set(CropJob(crop_fn, stream, net, jitter, copies, salt), FIELDS,
                           progress=progress, label=label)


def type_metrics(probs: np.ndarray, labels: np.ndarray,
                 names: tuple[str, ...] | None = None) -> dict[str, Any]:
    """Accuracy overall and per true class, precision per named class, and the confusion matrix
    (rows: true class) over ``names`` (default the aircraft kinds)."""
    from detect.type_net import TYPE_CLASSES

    names = TYPE_CLASSES if names is None else names
    k = len(names)
    pred = probs.argmax(1) if len(probs) else np.zeros(0, np.int64)
    conf = np.zeros((k, k), np.int64)
    np.add.at(conf, (labels, pred), 1)
    nan = float("nan")
    total, named = conf.sum(1), conf.sum(0)
    per = {c: {"n": int(total[i]), "accuracy": float(conf[i, i] / total[i]) if total[i] else nan,
               "precision": float(conf[i, i] / named[i]) if named[i] else nan}
           for i, c in enumerate(names)}
    return {"n": int(len(labels)), "accuracy": float((pred == labels).mean()) if len(labels) else nan,
            "per_class": per, "confusion": conf.tolist(), "classes": list(names)}


def train_type(cfg: TypeTrainConfig, *, progress: bool = True, export: str | Path | None = None,
               crops: dict[str, np.ndarray] | None = None,
               val_crops: dict[str, np.ndarray] | None = None) -> dict[str, Any]:
    """Train; write ``OUT/detector.pt`` (the detector's weights with the type classifier inside)
    and ``OUT/metrics.json``; copy to ``export`` when given. ``crops``/``val_crops`` replace the
    rendered sets (tests)."""

    from detect.state_net import StateNet
    from imagery.errors import InputError

    out, base = cfg.start_run()
    _, names, net_config, key_name, _ = family_parts(cfg.family)
    t0 = time.perf_counter()
    if crops is None:
        key = {"stream": cfg.stream.model_dump(), "net": cfg.net.model_dump(),
               "jitter": cfg.jitter.model_dump(), "copies": cfg.copies}
        crops = _cached_crops(out / "crops.npz", key,
                              lambda: render_type_crops(cfg.stream, cfg.net, cfg.jitter, cfg.copies,
                                                        progress=progress, label="training crops",
                                                        family=cfg.family),
                              FIELDS)
    if val_crops is None:
        key = {"stream": cfg.val.model_dump(), "net": cfg.net.model_dump(),
               "jitter": cfg.jitter.model_dump(), "copies": 1}
        val_crops = _cached_crops(out / "val_crops.npz", key,
                                  lambda: render_type_crops(cfg.val, cfg.net, cfg.jitter, 1,
                                                            progress=progress, label="validation crops",
                                                            family=cfg.family),
                                  FIELDS)
    t_render = time.perf_counter() - t0
    if not len(crops["crops"]):
        what = "air-defence equipment" if cfg.family == "air_defence" else "fixed-wing aircraft"
        raise InputError(f"no {what} in the training chips (check stream.themes)")

    log = (out / "log.jsonl").open("w", encoding="utf-8")
    # classes balanced: airliners outnumber fighters, S-400 TELs the radars
    net, t_train = fit_balanced_classifier(lambda: StateNet(net_config(**cfg.net.model_dump())), crops, cfg,
                                           log=log, desc="train type", progress=progress)
    metrics = type_metrics(predict_mirrored(net, val_crops["crops"], val_crops["sizes"], len(names)),
                           val_crops["labels"], names)
    summary = {"steps": cfg.steps, "train_crops": int(len(crops["crops"])),
               "val_crops": int(len(val_crops["crops"])), "val": metrics,
               "render_s": round(t_render, 1), "train_s": round(t_train, 1),
               "config": json.loads(json.dumps(cfg.model_dump(), default=str))}
    log.write(json.dumps({"val": metrics}) + "\n")
    log.close()
    info = {"steps": cfg.steps, "seed": cfg.seed, "val_accuracy": metrics["accuracy"],
            "train_crops": summary["train_crops"], "detector_sha256": base.sha256}
    return write_second_stage(base, out, key_name, net, {"steps": cfg.steps, "val": metrics}, info,
                              summary, export)


def format_type_metrics(metrics: dict[str, Any]) -> str:
    names = metrics["classes"]
    lines = [f"accuracy {metrics['accuracy']:.3f} on {metrics['n']} crops",
             "true / named".ljust(16) + "".join(f"{c:>16}" for c in names)
             + f"{'recall':>9}{'precision':>10}"]
    for c, row in zip(names, metrics["confusion"], strict=True):
        per = metrics["per_class"][c]
        lines.append(f"{c:<16}" + "".join(f"{v:>16}" for v in row)
                     + f"{per['accuracy']:>9.3f}{per.get('precision', float('nan')):>10.3f}")
    return "\n".join(lines)
