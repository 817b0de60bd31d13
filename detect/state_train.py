"""Training the second-stage state classifier (:mod:`detect.state_net`) on synthetic chips.

``posturewatch train-state --config configs/train_state.yaml --export detect/weights/detector.pt``

1. Render chips of the ``state_study`` theme (aprons crowded with state-bearing types, half of
   them in their non-nominal state) plus some of the detector's own themes, in parallel
   processes; each process returns only the box-aligned crops of the objects that lie wholly
   inside its chip, ``copies`` times each with the box jittered the way the detector's boxes
   err (centre, size, heading, and the nose end flipped for objects whose ends look alike).
2. Train the small network on the crops with class-and-state balanced sampling, mirror and
   photometric augmentation; validate on crops from another chip stream (the default
   rendering ranges, another seed), An-124s scored on their own.
3. Write the detector's weights file again with the classifier inside (``state_net``).

The crops are kept in ``OUT/crops.npz`` (with the settings that made them), so a rerun with
other training settings skips rendering.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field, field_validator

from imagery.config import StrictModel, load_config
from imagery.errors import ConfigError
from imagery.taxonomy import CLASSES

STATE_CLASSES_WITH = ("transport", "helicopter", "sam")


class NetSection(StrictModel):
    crop_px: int = Field(80, ge=32)
    side_scale: float = Field(1.3, gt=1.0)
    min_side_m: float = Field(20.0, gt=0.0)
    widths: tuple[int, int, int, int] = (24, 48, 96, 128)
    hidden: int = 96


class StreamSection(StrictModel):
    seed: int = 0
    chips: int = Field(3000, ge=1)
    size: int = Field(640, ge=128)
    themes: dict[str, float] = Field(default_factory=lambda: {"state_study": 0.65, "military_apron": 0.1,
                                                              "helipads": 0.1, "sam_site": 0.1,
                                                              "civil_apron": 0.05})
    overrides: dict[str, Any] = Field(default_factory=dict)
    workers: int = Field(2, ge=1)


class JitterSection(StrictModel):
    """How the crop box is disturbed, like the detector's boxes are (measured medians: centre
    1-2 m, heading 5-10 deg)."""

    centre: float = Field(0.05, ge=0.0, description="sigma, fraction of the box length (along; half across)")
    centre_by_class: dict[str, float] = Field(
        default_factory=dict,
        description="per class, instead of `centre` (the detector's helicopter boxes miss the centre by "
                    "a median 1.4 m, twice what 0.05 of a helicopter's length gives)")
    centre_by_type: dict[str, float] = Field(
        default_factory=dict,
        description="per type (imagery.synth.catalog), instead of its class's: a nominal Ka-52 read "
                    "at a box moved 2-3 m reads `dismantled` 5-12 % of the time, other helicopters under "
                    "1 % (benchmarks/state_reads.py --shift-m)")
    size: float = Field(0.08, ge=0.0, description="sigma of the log scale")
    heading_deg: float = Field(6.0, ge=0.0)
    flip: dict[str, float] = Field(default_factory=lambda: {"transport": 0.05, "helicopter": 0.25,
                                                            "sam": 0.5},
                                   description="probability of the nose end swapped, per class")

    @field_validator("centre_by_class", "flip")
    @classmethod
    def _known_classes(cls, v: dict[str, float]) -> dict[str, float]:
        return _per_name(v, CLASSES, "classes")

    @field_validator("centre_by_type")
    @classmethod
    def _known_types(cls, v: dict[str, float]) -> dict[str, float]:
        from imagery.synth.catalog import TYPES

        return _per_name(v, list(TYPES), "types")


def _per_name(v: dict[str, float], known: Any, what: str) -> dict[str, float]:
    """A per-class or per-type table of non-negative figures, its names checked."""
    unknown = sorted(set(v) - set(known))
    if unknown:
        raise ValueError(f"unknown {what} {unknown} ({what}: {list(known)})")
    if any(x < 0 for x in v.values()):
        raise ValueError("values must be >= 0")
    return v


class SecondStageTrainConfig(StrictModel):
    """What every second stage trained on box-aligned crops shares: the detector file it extends,
    the optimiser and the crop network (the state, type, ground, box and heading trainers)."""

    seed: int = 0
    out: str = "runs/second_stage"
    detector: str = Field("detect/weights/detector.pt", description="detector weights to extend")
    steps: int = Field(2500, ge=1)
    batch_size: int = Field(128, ge=2)
    lr: float = 2e-3
    weight_decay: float = 1e-3
    net: NetSection = NetSection()
    threads: int = 0

    def start_run(self) -> tuple[Path, Any]:
        """(the run folder, made; the detector weights it extends), with torch's threads set.
        The weights load first, so a missing or corrupt file fails before minutes of rendering."""
        import torch

        from detect.model import load_weights

        out = Path(self.out)
        out.mkdir(parents=True, exist_ok=True)
        base = load_weights(self.detector)
        if self.threads:
            torch.set_num_threads(self.threads)
        return out, base


class StateTrainConfig(SecondStageTrainConfig):
    out: str = "runs/state"
    steps: int = Field(3000, ge=1)
    copies: int = Field(2, ge=1, description="jittered crops per object")
    balance_types: list[str] = Field(
        default_factory=lambda: ["An-124"],
        description="types sampled as groups of their own within their class and state, so a rare "
                    "type's state is learnt from its own crops, not from the class's common types")
    balance: Literal["group", "class_state"] = Field(
        "group", description="group: every (class, state, named type or the rest) group is drawn "
                             "equally often, so naming types gives their class a larger share; "
                             "class_state: every (class, state) is drawn equally often and its share "
                             "is split equally among the named types in it and the rest")
    negatives: dict[str, str] = Field(
        default_factory=lambda: {"airliner": "transport", "fighter": "transport"},
        description="objects of these classes are also cropped as nominal examples of the mapped "
                    "class (the detector calls airliners transports; none of them has a visor)")
    replace_classes: list[str] = Field(
        default_factory=list,
        description="when given, the new network reads only these classes' states and the base "
                    "weights' state classifier keeps reading the others (detect.state_net."
                    "StateNetByClass): mending one class does not redraw the others' errors")
    replace_mode: Literal["replace", "mean"] = Field(
        "replace", description="with replace_classes: the new network reads those classes (replace) "
                               "or the mean logit of it and the base's reader for them (mean)")
    train_only_replaced: bool = Field(
        False, description="with replace_classes: train the new network on those classes' crops only "
                           "(every step's batch spent on the states it will read)")
    stream: StreamSection = StreamSection()
    val: StreamSection = StreamSection(seed=1_000_007, chips=400,
                                       themes={"state_study": 0.5, "military_apron": 0.15, "helipads": 0.15,
                                               "sam_site": 0.15, "civil_apron": 0.05})
    jitter: JitterSection = JitterSection()


def load_state_train_config(name_or_path: str | Path | None = None, *, kind: type = StateTrainConfig,
                            default: str = "train_state", **overrides: Any) -> Any:
    """A state-classifier training config (``kind``: this one or the two-date one) with
    command-line ``overrides`` (None = not given)."""
    cfg = load_config(name_or_path or default, kind)
    data = {k: v for k, v in overrides.items() if v is not None}
    if data:
        try:
            cfg = kind.model_validate({**cfg.model_dump(), **data})
        except Exception as exc:
            raise ConfigError(f"invalid training override: {exc}") from None
    return cfg


# ---------------------------------------------------------------------------------------------
# Crops
# ---------------------------------------------------------------------------------------------
def _inside(boxes: np.ndarray, h: int, w: int) -> np.ndarray:
    """Boxes whose four corners lie inside the image (the detector's tiles guarantee it for
    every object whose centre is in a tile core)."""
    rad = np.deg2rad(boxes[:, 4])
    ex = 0.5 * (np.abs(np.sin(rad)) * boxes[:, 2] + np.abs(np.cos(rad)) * boxes[:, 3])
    ey = 0.5 * (np.abs(np.cos(rad)) * boxes[:, 2] + np.abs(np.sin(rad)) * boxes[:, 3])
    return (boxes[:, 0] - ex >= 0) & (boxes[:, 0] + ex < w) & (boxes[:, 1] - ey >= 0) & (boxes[:, 1] + ey < h)


def jitter_boxes(boxes: np.ndarray, classes: np.ndarray, rng: np.random.Generator,
                 jitter: JitterSection, types: Any = None) -> np.ndarray:
    """The boxes disturbed the way the detector's are; ``types`` (per box, '' unknown) picks
    ``jitter.centre_by_type`` before the class's centre sigma."""
    b = boxes.astype(np.float64).copy()
    n = len(b)
    rad = np.deg2rad(b[:, 4])
    sigma = np.array([jitter.centre_by_class.get(CLASSES[c], jitter.centre) for c in classes], np.float64)
    if jitter.centre_by_type and types is not None:
        sigma = np.array([jitter.centre_by_type.get(str(t), s) for t, s in zip(types, sigma, strict=True)])
    du = rng.normal(0, sigma, n) * b[:, 2]
    dv = rng.normal(0, sigma, n) * b[:, 2] * 0.5
    b[:, 0] += du * np.sin(rad) + dv * np.cos(rad)
    b[:, 1] += -du * np.cos(rad) + dv * np.sin(rad)
    scale = np.exp(rng.normal(0, jitter.size, (n, 2)))
    b[:, 2:4] *= scale
    flip_p = np.array([jitter.flip.get(CLASSES[c], 0.0) for c in classes])
    b[:, 4] = (b[:, 4] + rng.normal(0, jitter.heading_deg, n) + 180.0 * (rng.random(n) < flip_p)) % 360.0
    return b


FIELDS = ("crops", "classes", "states", "an124", "source", "types")


def chip_crops(chip: Any, rng: np.random.Generator, net_cfg: Any, jitter: JitterSection,
               copies: int, negatives: dict[str, str] | None = None) -> dict[str, np.ndarray]:
    """The box-aligned crops of one chip's state-bearing objects (uint8 (n, 3, S, S)), plus
    ``negatives``: objects of other classes cropped as nominal examples of a state-bearing one.
    ``classes`` is the class whose state logit learns from the crop, ``source`` the true one."""
    import torch

    from detect.state_net import crop_sides, oriented_crops
    from detect.targets import STATE_CHANNEL

    boxes = np.asarray(chip.boxes, np.float64).reshape(-1, 5)
    source = np.asarray(chip.classes, np.int64)
    remap = {CLASSES.index(k): CLASSES.index(v) for k, v in (negatives or {}).items()}
    classes = np.array([remap.get(int(c), int(c)) for c in source], np.int64)
    states = np.where(classes == source, np.asarray(chip.states, np.int64), 0)
    h, w = chip.image.shape[:2]
    keep = (np.asarray(STATE_CHANNEL)[classes] >= 0) & _inside(boxes, h, w)
    types = getattr(chip, "types", None) or [""] * len(classes)  # cached chips carry no types
    names = np.asarray([types[i] for i in np.flatnonzero(keep)], dtype="U16")  # per-type sampling, figures
    an124 = names == "An-124"
    boxes, classes, states, source = boxes[keep], classes[keep], states[keep], source[keep]
    size = net_cfg.crop_px
    if not len(boxes):
        return {"crops": np.zeros((0, 3, size, size), np.uint8), "classes": classes, "states": states,
                "an124": an124, "source": source, "types": names}
    image = torch.from_numpy(np.ascontiguousarray(chip.image.transpose(2, 0, 1))).float()
    crops = []
    for _ in range(copies):
        jb = torch.from_numpy(jitter_boxes(boxes, classes, rng, jitter, names)).float()
        sides = crop_sides(jb, float(chip.gsd), net_cfg)
        crops.append(oriented_crops(image, jb, sides, size).round().clamp(0, 255).to(torch.uint8).numpy())
    return {"crops": np.concatenate(crops), "classes": np.tile(classes, copies),
            "states": np.tile(states, copies), "an124": np.tile(an124, copies),
            "source": np.tile(source, copies), "types": np.tile(names, copies)}


class _CropJob:
    """Picklable: renders chip ``i`` of a stream and returns its crops (in a worker process)."""

    def __init__(self, stream: StreamSection, net: NetSection, jitter: JitterSection, copies: int,
                 negatives: dict[str, str]) -> None:
        self.stream, self.net, self.jitter, self.copies = stream, net, jitter, copies
        self.negatives = negatives
        self._chips: Any = None

    def __call__(self, index: int) -> dict[str, np.ndarray]:
        if self._chips is None:
            from imagery.synth.chips import ChipStream

            self._chips = ChipStream(self.stream.size, seed=self.stream.seed,
                                     themes=tuple(self.stream.themes.items()), **self.stream.overrides)
        rng = np.random.default_rng([self.stream.seed, index, 0x57A7])
        return chip_crops(self._chips.chip(index), rng, self.net, self.jitter, self.copies, self.negatives)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_chips": None}


def render_crops(stream: StreamSection, net: NetSection, jitter: JitterSection, copies: int,
                 negatives: dict[str, str], *, progress: bool = True,
                 label: str = "crops") -> dict[str, np.ndarray]:
    from detect.train import process_map

    job = _CropJob(stream, net, jitter, copies, negatives)
    parts = list(process_map(job, range(stream.chips), total=stream.chips, workers=stream.workers,
                             desc=f"render {label}", progress=progress, ordered=True))
    return {k: np.concatenate([p[k] for p in parts]) for k in FIELDS}


def _cached_crops(path: Path, key: dict, make: Any,
                  fields: tuple[str, ...] = FIELDS) -> dict[str, np.ndarray]:
    from imagery.atomic import atomic_path

    key = json.loads(json.dumps(key))  # as it reads back: tuples (the nets' widths) become lists
    if path.is_file():
        with np.load(path, allow_pickle=False) as z:
            # a cache written before a field existed is rendered again
            if json.loads(str(z["key"])) == key and all(k in z.files for k in fields):
                return {k: z[k] for k in fields}
    data = make()
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, key=json.dumps(key), **data)
    return data


# ---------------------------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------------------------
def roc_auc(y: np.ndarray, p: np.ndarray) -> float:
    """Probability that a random positive scores above a random negative (ties count half)."""
    from scipy.stats import rankdata

    y = np.asarray(y, bool)
    pos, neg = int(y.sum()), int((~y).sum())
    if not pos or not neg:
        return float("nan")
    ranks = rankdata(np.asarray(p, np.float64))
    return float((ranks[y].sum() - pos * (pos + 1) / 2) / (pos * neg))


def state_metrics(prob: np.ndarray, classes: np.ndarray, states: np.ndarray, an124: np.ndarray,
                  source: np.ndarray | None = None, threshold: float = 0.5,
                  types: np.ndarray | None = None) -> dict[str, Any]:
    """Per state: AUC, F1 and accuracy over the crops of its own class; ``An-124.nose_raised``
    over An-124s only (the visor itself), ``transport.nose_raised+negatives`` with the
    other classes' nominal crops added (when there are any), and with ``types`` (type names
    per crop) the same per air-defence type (``sam.packed/91N6E``): the class figure is
    dominated by the common S-400 launchers."""
    from imagery.taxonomy import STATES

    source = classes if source is None else source
    out: dict[str, Any] = {}
    groups = [(f"{c}.{STATES[c][0]}", (classes == CLASSES.index(c)) & (source == classes))
              for c in STATE_CLASSES_WITH]
    groups.append(("An-124.nose_raised", an124))
    if (source != classes).any():
        groups.append(("transport.nose_raised+negatives", classes == CLASSES.index("transport")))
    if types is not None and len(types) == len(classes):
        sam = (classes == CLASSES.index("sam")) & (source == classes)
        groups += [(f"sam.packed/{t}", sam & (types == t)) for t in sorted(set(types[sam].tolist())) if t]
    for name, m in groups:
        y, p = states[m] > 0, prob[m]
        pred = p >= threshold
        tp, fp, fn = int((pred & y).sum()), int((pred & ~y).sum()), int((~pred & y).sum())
        f1 = 2 * tp / max(2 * tp + fp + fn, 1)
        out[name] = {"n": int(m.sum()), "positives": int(y.sum()), "auc": roc_auc(y, p), "f1": f1,
                     "accuracy": float((pred == y).mean()) if m.any() else float("nan")}
    return out


# ---------------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------------
def sampling_groups(source: np.ndarray, states: np.ndarray, types: np.ndarray,
                    balance_types: list[str]) -> np.ndarray:
    """A group id per crop for balanced sampling: (true class, state, which of ``balance_types``
    or none). Balanced over these groups (``sampling_weights``), the visor is learnt from An-124s
    in both states, not from "transports are mostly lowered", and a radar's packing from radars,
    not from the S-400 launchers that make up half the air-defence crops."""
    which = np.zeros(len(source), np.int64)
    for k, name in enumerate(balance_types, start=1):
        which[np.asarray(types) == name] = k
    n = len(balance_types) + 1
    return (np.asarray(source, np.int64) * 2 + np.asarray(states, np.int64)) * n + which


def sampling_weights(source: np.ndarray, states: np.ndarray, types: np.ndarray,
                     balance_types: list[str], balance: str = "group") -> np.ndarray:
    """Per-crop sampling weight (see ``StateTrainConfig.balance``)."""
    group = sampling_groups(source, states, types, balance_types)
    _, inv, counts = np.unique(group, return_inverse=True, return_counts=True)
    w = 1.0 / counts[inv]
    if balance == "class_state":
        # each (class, state) the same share, whatever the number of named types inside it
        cs = np.asarray(source, np.int64) * 2 + np.asarray(states, np.int64)
        per_cs = {c: len(np.unique(group[cs == c])) for c in np.unique(cs)}
        w = w / np.array([per_cs[c] for c in cs])
    return w


def _predict(net: Any, crops: np.ndarray, classes: np.ndarray, batch: int = 512) -> np.ndarray:
    import torch

    from detect.state_net import own_state_logits, state_channels

    net.eval()
    out = []
    with torch.inference_mode():
        for i in range(0, len(crops), batch):
            x = torch.from_numpy(crops[i:i + batch])
            c = state_channels(torch.from_numpy(classes[i:i + batch]))
            out.append(own_state_logits(net, x, c).sigmoid().numpy())
    return np.concatenate(out) if out else np.zeros(0)


def _augment(x: Any, gen: Any) -> Any:
    """Mirror across the nose axis, then :func:`photometric`."""
    import torch

    flip = torch.rand(x.shape[0], generator=gen) < 0.5
    return photometric(torch.where(flip[:, None, None, None], x.flip(3), x), gen)


def photometric(x: Any, gen: Any) -> Any:
    """Brightness/contrast/gamma per crop and sensor noise (0..255 in and out)."""
    import torch

    n = x.shape[0]
    x = x / 255.0
    gamma = torch.exp(torch.randn(n, 1, 1, 1, generator=gen) * 0.15)
    x = x.clamp(1e-4, 1.0) ** gamma
    contrast = 1.0 + torch.randn(n, 1, 1, 1, generator=gen) * 0.15
    bright = torch.randn(n, 1, 1, 1, generator=gen) * 0.06
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = (x - mean) * contrast + mean + bright
    x = x + torch.randn(x.shape, generator=gen) * (torch.rand(n, 1, 1, 1, generator=gen) * 0.03)
    return (x.clamp(0, 1) * 255.0)


def train_state(cfg: StateTrainConfig, *, progress: bool = True, export: str | Path | None = None,
                crops: dict[str, np.ndarray] | None = None,
                val_crops: dict[str, np.ndarray] | None = None) -> dict[str, Any]:
    """Train; write ``OUT/detector.pt`` (the detector's weights with the classifier inside) and
    ``OUT/metrics.json``; copy to ``export`` when given. ``crops``/``val_crops`` replace the
    rendered sets (tests)."""
    import torch
    import torch.nn.functional as F  # noqa: N812

    from detect.state_net import StateNet, StateNetConfig, state_channels
    from imagery.errors import InputError

    out, base = cfg.start_run()
    kept = None
    if cfg.replace_classes:
        from detect.state_net import combine_by_class, state_net_from_payload

        if base.state_net is None:
            raise InputError(f"{cfg.detector}: replace_classes needs a state classifier in the base weights "
                             "to keep reading the other classes")
        kept = state_net_from_payload(base.state_net)
        try:  # the crop geometry and class names must fit before minutes of training
            combine_by_class(kept, StateNet(StateNetConfig(**cfg.net.model_dump())), cfg.replace_classes,
                             mean=cfg.replace_mode == "mean")
        except ValueError as exc:
            raise InputError(f"replace_classes: {exc}") from None
    t0 = time.perf_counter()
    if crops is None:
        key = {"stream": cfg.stream.model_dump(), "net": cfg.net.model_dump(),
               "jitter": cfg.jitter.model_dump(), "copies": cfg.copies, "negatives": cfg.negatives}
        crops = _cached_crops(out / "crops.npz", key,
                              lambda: render_crops(cfg.stream, cfg.net, cfg.jitter, cfg.copies, cfg.negatives,
                                                   progress=progress, label="training crops"))
    if val_crops is None:
        key = {"stream": cfg.val.model_dump(), "net": cfg.net.model_dump(),
               "jitter": cfg.jitter.model_dump(), "copies": 1, "negatives": cfg.negatives}
        val_crops = _cached_crops(out / "val_crops.npz", key,
                                  lambda: render_crops(cfg.val, cfg.net, cfg.jitter, 1, cfg.negatives,
                                                       progress=progress, label="validation crops"))
    t_render = time.perf_counter() - t0
    if not len(crops["crops"]):
        raise InputError("no state-bearing objects in the training chips (check stream.themes)")

    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    net_cfg = StateNetConfig(**cfg.net.model_dump())
    net = StateNet(net_cfg)
    if cfg.train_only_replaced and cfg.replace_classes:
        keep = np.isin(crops["classes"], [CLASSES.index(c) for c in cfg.replace_classes])
        if not keep.any():
            raise InputError(f"no crops of {cfg.replace_classes} in the training chips (check stream.themes)")
        crops = {k: (v[keep] if isinstance(v, np.ndarray) and len(v) == len(keep) else v)
                 for k, v in crops.items()}
    x_all = torch.from_numpy(crops["crops"])
    cls_all = torch.from_numpy(crops["classes"])
    y_all = torch.from_numpy(crops["states"]).float()
    # balanced sampling over (true class, state, named type or not): see sampling_groups
    source = crops.get("source", crops["classes"])
    types = crops.get("types", np.where(crops["an124"], "An-124", ""))
    weights = torch.from_numpy(sampling_weights(source, crops["states"], types, cfg.balance_types,
                                                cfg.balance))

    def batch_loss() -> Any:
        idx = torch.multinomial(weights, cfg.batch_size, replacement=True, generator=gen)
        logits = net(_augment(x_all[idx].float(), gen)).gather(1, state_channels(cls_all[idx])[:, None])[:, 0]
        return F.binary_cross_entropy_with_logits(logits, y_all[idx])

    log = (out / "log.jsonl").open("w", encoding="utf-8")
    t_train = optimise(net, batch_loss, steps=cfg.steps, lr=cfg.lr, weight_decay=cfg.weight_decay, log=log,
                       desc="train state", progress=progress)
    def val_metrics(reader: Any) -> dict[str, Any]:
        return state_metrics(_predict(reader, val_crops["crops"], val_crops["classes"]), val_crops["classes"],
                             val_crops["states"], val_crops["an124"], val_crops.get("source"),
                             types=val_crops.get("types"))

    trained = None
    if kept is not None:  # what ships: the new network for replace_classes, the base's for the rest
        trained = val_metrics(net)
        net = combine_by_class(kept, net, cfg.replace_classes, mean=cfg.replace_mode == "mean")
    metrics = val_metrics(net)
    summary = {"steps": cfg.steps, "train_crops": int(len(crops["crops"])),
               "val_crops": int(len(val_crops["crops"])), "val": metrics,
               "render_s": round(t_render, 1), "train_s": round(t_train, 1),
               "config": json.loads(json.dumps(cfg.model_dump(), default=str))}
    if trained is not None:
        summary["val_trained_network"] = trained  # the new network on every class, for comparison
    log.write(json.dumps({"val": metrics}) + "\n")
    log.close()
    info = {"steps": cfg.steps, "seed": cfg.seed, "val": metrics, "train_crops": summary["train_crops"],
            "detector_sha256": base.sha256}
    return write_second_stage(base, out, "state_net", net, {"steps": cfg.steps, "val": metrics}, info,
                              summary, export, drop=("state_pair",))


def write_second_stage(base: Any, out: Path, name: str, net: Any, meta: dict, info: dict,
                       summary: dict[str, Any], export: str | Path | None,
                       drop: tuple[str, ...] = ()) -> dict[str, Any]:
    """Write ``OUT/detector.pt``: the ``base`` weights with the second stage ``name`` (a
    ``save_weights`` keyword) replaced by ``net`` and its ``info`` entry, the others kept except
    ``drop``; then ``OUT/metrics.json`` (``summary``), and a copy to ``export`` when given.
    Returns ``summary`` with the weights path added."""
    from detect.model import CHANGE_STAGE_ONLY, save_weights
    from detect.state_net import state_net_payload

    dst = out / "detector.pt"
    stages = {**base.second_stages(), **dict.fromkeys(drop), name: state_net_payload(net.eval(), meta)}
    kept = {k: v for k, v in base.info.items() if k != "detection_sha256"}
    if {name, *drop} <= CHANGE_STAGE_ONLY:  # the detections stay those of the base weights
        kept["detection_sha256"] = base.detection_sha256
    save_weights(dst, base.model, gsd_m=base.gsd_m, target=base.target, info={**kept, name: info},
                 **stages)
    (out / "metrics.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    if export:
        export_weights(dst, export)
    summary["weights"] = str(dst)
    return summary


def export_weights(src: Path, export: str | Path) -> None:
    """Copy a weights file atomically and write its checksum beside it."""
    import shutil

    from detect.model import checksum_path, sha256_of
    from imagery.atomic import atomic_path, atomic_write_text

    exp = Path(export)
    exp.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(exp) as tmp:
        shutil.copyfile(src, tmp)
    atomic_write_text(checksum_path(exp), f"{sha256_of(exp)}  {exp.name}\n")


def optimise(net: Any, batch_loss: Any, *, steps: int, lr: float, weight_decay: float, log: Any,
             desc: str, progress: bool) -> float:
    """``steps`` AdamW steps on ``batch_loss()`` (a fresh batch each call) under a one-cycle
    schedule, with a progress bar and the loss EMA logged every 100 steps to ``log`` (a text
    file); returns the seconds spent. The network is left in training mode."""
    import torch

    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
    bar = None
    if progress and not os.environ.get("POSTUREWATCH_QUIET"):
        from tqdm import tqdm

        bar = tqdm(total=steps, desc=desc, unit="step", dynamic_ncols=True)
    ema = None
    t0 = time.perf_counter()
    net.train()
    for step in range(1, steps + 1):
        loss = batch_loss()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        lv = float(loss.detach())
        ema = lv if ema is None else 0.98 * ema + 0.02 * lv
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{ema:.3f}")
        if step % 100 == 0 or step == steps:
            log.write(json.dumps({"step": step, "loss_ema": ema, "lr": sched.get_last_lr()[0]}) + "\n")
            log.flush()
    if bar is not None:
        bar.close()
    return time.perf_counter() - t0


def format_metrics(metrics: dict[str, Any]) -> str:
    lines = [f"{'state':<24} {'n':>6} {'pos':>5} {'AUC':>6} {'F1':>6} {'acc':>6}"]
    for name, m in metrics.items():
        lines.append(f"{name:<24} {m['n']:>6} {m['positives']:>5} {m['auc']:>6.3f} {m['f1']:>6.3f} "
                     f"{m['accuracy']:>6.3f}")
    return "\n".join(lines)
