"""Training the second-stage ground check (:mod:`detect.ground_net`) on synthetic chips.

``posturewatch train-ground --config configs/train_ground.yaml --export detect/weights/detector.pt``

1. Render chips of air-defence sites, convoys, aprons, rooftops and bare ground in parallel
   processes; in each worker the detector (the weights being extended, with their box centring
   and type classifier) runs on the chip at its GSD. Each of its launcher and vehicle detections
   at the operating score is cropped at its own box and labelled by the truth it overlaps: the
   launcher or vehicle it sits on (rotated IoU >= ``match_iou``), or *nothing* when it overlaps
   no object at all (IoU < ``empty_iou`` and its centre off every object). Those are the
   mistakes the check must learn to undo. Every launcher and vehicle of the chip is also cropped
   at a jittered truth box (``copies`` times), so that both classes are well covered.
2. Train the small network with class-balanced sampling, mirror and photometric augmentation;
   validate on the crops of another chip stream (accuracy per class, and what the check would
   have done to that stream's detections).
3. Write the weights file again with the check inside (``ground_net``), keeping the others.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field

from detect.classifier_train import fit_balanced_classifier, predict_mirrored
from detect.state_train import (
    JitterSection,
    SecondStageTrainConfig,
    StreamSection,
    _inside,
    jitter_boxes,
    load_state_train_config,
    write_second_stage,
)
from detect.type_train import cached_crop_set

FIELDS = ("crops", "labels", "sizes", "source")
SOURCE_TRUTH, SOURCE_DETECTION = 0, 1


def _grounds(**kw: Any) -> StreamSection:
    return StreamSection(**{"themes": {"sam_site": 0.3, "convoy": 0.15, "military_apron": 0.15,
                                       "civil_apron": 0.1, "mixed": 0.1, "negative": 0.1, "rooftops": 0.1},
                            **kw})


class GroundTrainConfig(SecondStageTrainConfig):
    out: str = "runs/ground"
    copies: int = Field(1, ge=0, description="jittered truth crops per launcher or vehicle")
    match_iou: float = Field(0.25, gt=0.0, le=1.0,
                             description="a detection overlapping a launcher or vehicle this much is one")
    empty_iou: float = Field(0.05, ge=0.0, le=1.0,
                             description="a detection overlapping no object more than this is nothing")
    stream: StreamSection = _grounds(chips=1500)
    val: StreamSection = _grounds(seed=1_000_013, chips=200)
    jitter: JitterSection = JitterSection(centre=0.1, size=0.1, heading_deg=6.0,
                                          flip={"sam": 0.5, "vehicle": 0.5})


def load_ground_train_config(name_or_path: str | Path | None = None, **overrides: Any) -> GroundTrainConfig:
    return load_state_train_config(name_or_path, kind=GroundTrainConfig, default="train_ground", **overrides)


def at_model_gsd(image: np.ndarray, boxes: np.ndarray, gsd: float,
                 model_gsd: float) -> tuple[np.ndarray, np.ndarray]:
    """The chip resampled to the detector's GSD, and its truth boxes with it."""
    import cv2

    boxes = np.asarray(boxes, np.float64).reshape(-1, 5).copy()
    f = gsd / model_gsd
    if abs(f - 1) > 1e-3:
        h, w = image.shape[:2]
        image = cv2.resize(image, (round(w * f), round(h * f)),
                           interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_LINEAR)
        boxes[:, :4] *= f
    return np.ascontiguousarray(image), boxes


def label_detections(det_boxes: np.ndarray, truth_boxes: np.ndarray, truth_classes: np.ndarray,
                     match_iou: float, empty_iou: float) -> np.ndarray:
    """Output row (:data:`detect.ground_net.OUTPUT_NAMES`) of each detection: the launcher or
    vehicle it overlaps, ``NOTHING`` where it overlaps no object and its centre lies off every
    object, -1 (left out) in between."""
    from detect.boxes import rotated_iou_matrix
    from detect.ground_net import GROUND_INDEX, NOTHING

    n = len(det_boxes)
    labels = np.full(n, -1, np.int64)
    if n == 0:
        return labels
    if len(truth_boxes) == 0:
        labels[:] = NOTHING
        return labels
    iou = rotated_iou_matrix(det_boxes, truth_boxes)
    best = iou.argmax(1)
    best_iou = iou[np.arange(n), best]
    ground = list(GROUND_INDEX.numpy())
    for k in range(n):
        c = int(truth_classes[best[k]])
        if best_iou[k] >= match_iou and c in ground:
            labels[k] = ground.index(c)
    # "Off every object": the detection's centre outside each truth box grown by 25 %.
    rad = np.deg2rad(truth_boxes[:, 4])
    dx = det_boxes[:, None, 0] - truth_boxes[None, :, 0]
    dy = det_boxes[:, None, 1] - truth_boxes[None, :, 1]
    along = np.abs(dx * np.sin(rad) - dy * np.cos(rad))
    across = np.abs(dx * np.cos(rad) + dy * np.sin(rad))
    inside = (along <= 0.625 * truth_boxes[:, 2]) & (across <= 0.625 * truth_boxes[:, 3])
    empty = (best_iou < empty_iou) & ~inside.any(1)
    labels[empty] = NOTHING
    return labels


def chip_ground_crops(chip: Any, rng: np.random.Generator, net_cfg: Any, jitter: JitterSection, copies: int,
                      detector: Any, match_iou: float, empty_iou: float) -> dict[str, np.ndarray]:
    """Crops of one chip: the detector's launcher and vehicle detections, labelled
    (:func:`label_detections`), and jittered truth boxes of its launchers and vehicles."""
    import torch

    from detect.ground_net import GROUND_INDEX
    from detect.state_net import crop_sides, oriented_crops
    from detect.type_net import size_inputs

    gsd = detector.gsd_m
    image, boxes = at_model_gsd(np.asarray(chip.image), chip.boxes, float(chip.gsd), gsd)
    classes = np.asarray(chip.classes, np.int64)
    ground = GROUND_INDEX.numpy()
    d = detector.detect_array(image)
    mine = np.isin(d.classes, ground)
    det_boxes = d.boxes[mine]
    det_labels = label_detections(det_boxes, boxes, classes, match_iou, empty_iou)
    keep = det_labels >= 0
    det_boxes, det_labels = det_boxes[keep], det_labels[keep]
    h, w = image.shape[:2]
    sel = np.isin(classes, ground) & _inside(boxes, h, w)
    t_boxes, t_classes = boxes[sel], classes[sel]
    t_labels = np.searchsorted(ground, t_classes) if len(t_classes) else t_classes
    all_boxes = [det_boxes] + [jitter_boxes(t_boxes, t_classes, rng, jitter) for _ in range(copies)]
    labels = np.concatenate([det_labels] + [t_labels] * copies).astype(np.int64)
    source = np.concatenate([np.full(len(det_boxes), SOURCE_DETECTION)]
                            + [np.full(len(t_boxes), SOURCE_TRUTH)] * copies).astype(np.int8)
    size = net_cfg.crop_px
    jb = torch.from_numpy(np.concatenate(all_boxes)).float()
    if not len(jb):
        return {"crops": np.zeros((0, 3, size, size), np.uint8), "labels": labels,
                "sizes": np.zeros((0, 2), np.float32), "source": source}
    tensor = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).float()
    crops = oriented_crops(tensor, jb, crop_sides(jb, gsd, net_cfg), size).round().clamp(0, 255)
    return {"crops": crops.to(torch.uint8).numpy(), "labels": labels,
            "sizes": size_inputs(jb, gsd).numpy(), "source": source}


class GroundCropJob:
    """Picklable: renders chip ``i`` of a stream and returns its :func:`chip_ground_crops`, with
    one detector per worker process (one thread each: the workers share the cores)."""

    def __init__(self, cfg: GroundTrainConfig, stream: StreamSection, copies: int, salt: int) -> None:
        self.cfg, self.stream, self.copies, self.salt = cfg, stream, copies, salt
        self._chips: Any = None
        self._detector: Any = None

    def __call__(self, index: int) -> dict[str, np.ndarray]:
        if self._chips is None:
            import torch

            from detect.infer import Detector
            from imagery.synth.chips import ChipStream

            torch.set_num_threads(1)
            self._chips = ChipStream(self.stream.size, seed=self.stream.seed,
                                     themes=tuple(self.stream.themes.items()), **self.stream.overrides)
            # The check is what is being trained (never read with an older one), and the
            # states do not matter here.
            self._detector = Detector(self.cfg.detector, device="cpu", ground_check=False,
                                      state_classifier=False)
        rng = np.random.default_rng([self.stream.seed, index, self.salt])
        return chip_ground_crops(self._chips.chip(index), rng, self.cfg.net, self.cfg.jitter, self.copies,
                                 self._detector, self.cfg.match_iou, self.cfg.empty_iou)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_chips": None, "_detector": None}


def ground_metrics(probs: np.ndarray, labels: np.ndarray, source: np.ndarray,
                   reject: float = 0.5) -> dict[str, Any]:
    """Accuracy per true output and the confusion matrix (rows: truth), over all crops and over
    the detections' own; and, for those detections, what the check does at ``reject``: how many
    true launchers/vehicles it would demote and how many empty detections it removes."""
    from detect.ground_net import NOTHING, OUTPUT_NAMES

    def block(m: np.ndarray) -> dict[str, Any]:
        k = len(OUTPUT_NAMES)
        pred = probs[m].argmax(1) if m.any() else np.zeros(0, np.int64)
        conf = np.zeros((k, k), np.int64)
        np.add.at(conf, (labels[m], pred), 1)
        tot = conf.sum(1)
        return {"n": int(m.sum()), "accuracy": float((pred == labels[m]).mean()) if m.any() else float("nan"),
                "per_class": {c: float(conf[i, i] / tot[i]) if tot[i] else float("nan")
                              for i, c in enumerate(OUTPUT_NAMES)},
                "confusion": conf.tolist()}

    det = source == SOURCE_DETECTION
    rejected = probs[:, NOTHING] >= reject if len(probs) else np.zeros(0, bool)
    real = det & (labels != NOTHING)
    empty = det & (labels == NOTHING)
    return {"classes": list(OUTPUT_NAMES), "all": block(np.ones(len(labels), bool)), "detections": block(det),
            "reject": reject,
            "detections_on_objects": int(real.sum()), "objects_demoted": int((real & rejected).sum()),
            "detections_on_nothing": int(empty.sum()), "nothing_removed": int((empty & rejected).sum())}


def train_ground(cfg: GroundTrainConfig, *, progress: bool = True, export: str | Path | None = None,
                 crops: dict[str, np.ndarray] | None = None,
                 val_crops: dict[str, np.ndarray] | None = None) -> dict[str, Any]:
    """Train; write ``OUT/detector.pt`` (the detector's weights with the check inside) and
    ``OUT/metrics.json``; copy to ``export`` when given. ``crops``/``val_crops`` replace the
    rendered sets (tests)."""

    from detect.ground_net import OUTPUT_NAMES, ground_net_config
    from detect.state_net import StateNet
    from imagery.errors import InputError

    out, base = cfg.start_run()
    t0 = time.perf_counter()
    sets: dict[str, dict[str, np.ndarray] | None] = {"crops": crops, "val_crops": val_crops}
    for name, stream, copies in (("crops", cfg.stream, cfg.copies), ("val_crops", cfg.val, cfg.copies)):
        if sets[name] is not None:
            continue
        key = {"stream": stream.model_dump(), "net": cfg.net.model_dump(), "jitter": cfg.jitter.model_dump(),
               "copies": copies, "detector_sha256": base.sha256, "match_iou": cfg.match_iou,
               "empty_iou": cfg.empty_iou}
        sets[name] = cached_crop_set(out / f"{name}.npz", key, GroundCropJob(cfg, stream, copies, 0x6D0),
                                     FIELDS, progress=progress, label=name)
    crops, val_crops = sets["crops"], sets["val_crops"]
    assert crops is not None and val_crops is not None
    t_render = time.perf_counter() - t0
    if not len(crops["crops"]):
        raise InputError("no launcher or vehicle crops in the training chips (check stream.themes)")
    log = (out / "log.jsonl").open("w", encoding="utf-8")
    # launcher, vehicle and nothing drawn equally often
    net, t_train = fit_balanced_classifier(lambda: StateNet(ground_net_config(**cfg.net.model_dump())), crops,
                                           cfg, log=log, desc="train ground", progress=progress)
    metrics = ground_metrics(predict_mirrored(net, val_crops["crops"], val_crops["sizes"], len(OUTPUT_NAMES)),
                             val_crops["labels"], val_crops["source"])
    log.write(json.dumps({"val": metrics}) + "\n")
    log.close()
    summary = {"steps": cfg.steps, "train_crops": int(len(crops["crops"])),
               "train_labels": dict(zip(*(a.tolist() for a in np.unique(crops["labels"], return_counts=True)),
                                        strict=True)),
               "val": metrics, "render_s": round(t_render, 1), "train_s": round(t_train, 1)}
    info = {"steps": cfg.steps, "seed": cfg.seed, "val": metrics, "detector_sha256": base.sha256}
    return write_second_stage(base, out, "ground_net", net, {"steps": cfg.steps, "val": metrics}, info,
                              summary, export)


def format_ground_metrics(metrics: dict[str, Any]) -> str:
    names = metrics["classes"]
    lines = []
    for part in ("all", "detections"):
        m = metrics[part]
        lines.append(f"{part}: accuracy {m['accuracy']:.3f} on {m['n']} crops")
        lines.append("  true / named".ljust(16) + "".join(f"{c:>10}" for c in names))
        for c, row in zip(names, m["confusion"], strict=True):
            lines.append(f"  {c:<14}" + "".join(f"{v:>10}" for v in row))
    lines.append(f"at reject {metrics['reject']}: {metrics['objects_demoted']} of "
                 f"{metrics['detections_on_objects']} detections on launchers/vehicles demoted, "
                 f"{metrics['nothing_removed']} of {metrics['detections_on_nothing']} on nothing removed")
    return "\n".join(lines)
