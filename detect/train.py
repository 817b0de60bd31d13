"""Training: ``posturewatch train --config configs/train.yaml``.

Data: the synthetic chip stream (:class:`imagery.synth.chips.ChipStream`, random access by
index), resampled to the model's GSD with scale jitter, cropped to ``chip_size``, flipped and
rotated by quarter turns (headings follow), colour-jittered; optionally mixed with crops of
user-labelled real images (any :func:`detect.labels.load_dataset` format) for fine-tuning.

Determinism: sample ``i`` of the run is always chip ``i`` of the stream with augmentation drawn
from ``numpy.random.default_rng((seed, i))``, whichever DataLoader worker makes it, so a run
resumed from a checkpoint sees exactly the samples it would have seen, and two runs with one
seed see the same data. Checkpoints (``last.pt``) hold model, optimiser, schedule, scaler and
step; ``best.pt`` is a weights file (with its checksum) of the best validation mAP so far.
A JSON-lines log (``log.jsonl``) records the loss parts and every validation.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ConfigDict, Field

from detect.targets import TargetConfig, encode
from imagery.config import StrictModel, load_config
from imagery.errors import ConfigError, InputError
from imagery.taxonomy import CLASSES


# ---------------------------------------------------------------------------------------------
# Config
# ---------------------------------------------------------------------------------------------
class ModelSection(StrictModel):
    stem: tuple[int, int] = (16, 32)
    widths: tuple[int, int, int] = (64, 112, 160)
    depths: tuple[int, int, int, int] = (1, 2, 3, 2)
    kernel: int = 5
    neck: int = 32
    head: int = 32
    antialias: bool = False


class TargetSection(StrictModel):
    sigma_scale: float = 0.09
    min_sigma: float = 0.6
    reg_min: float = 0.3


class LossSection(StrictModel):
    heat: float = 1.0
    offset: float = 1.0
    size: float = 1.0
    heading: float = 1.0
    axis: float = 1.0
    envelope: float = 1.0
    state: float = 1.0


class AugmentSection(StrictModel):
    flip: bool = True
    rot90: bool = True
    scale_jitter: float = Field(0.15, ge=0.0, le=0.5, description="log-uniform +- this fraction")
    brightness: float = 0.15
    contrast: float = 0.2
    gamma: float = 0.2
    channel_jitter: float = 0.05
    grey_p: float = 0.1
    blur_p: float = 0.15
    noise_p: float = 0.2
    jpeg_p: float = 0.2


class RealSection(StrictModel):
    """User-labelled real images for fine-tuning (research use; see the model card)."""

    path: str
    fraction: float = Field(0.5, gt=0.0, le=1.0, description="share of samples drawn from it")
    generic_class: str = Field("airliner", description="our class for 'aircraft of unknown type'")
    exclude: list[str] = Field(default_factory=list, description="image names held out")
    include: list[str] = Field(default_factory=list, description="if set: only these image names")
    gsd_m: float = 0.5


class CacheSection(StrictModel):
    """Pre-rendered chips on disk, reused over epochs with fresh augmentation each time.

    Rendering a chip costs more CPU than a training step on it; with a cache the renderer runs
    once (in parallel) and training reads memory-mapped pixels. Sample ``i`` uses cached chip
    ``i % chips`` with augmentation drawn from ``i``, so determinism and resuming still hold.
    """

    dir: str | None = Field(None, description="cache folder; empty = render chips on the fly")
    chips: int = Field(20000, ge=1)
    workers: int = Field(2, ge=1)


class ValSection(StrictModel):
    every: int = 1000
    chips: int = 96
    chip_size: int = 384
    seed: int = 1_000_003
    overrides: dict[str, Any] = Field(default_factory=dict)


class TrainConfig(StrictModel):
    model_config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=())

    seed: int = 0
    out: str = "runs/detector"
    steps: int = 20000
    batch_size: int = 16
    chip_size: int = Field(256, ge=64)
    lr: float = 2e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 300
    grad_clip: float = 10.0
    gsd_m: float = 0.5
    stream_size: int = Field(320, ge=64, description="size of the chips asked of the stream")
    stream_overrides: dict[str, Any] = Field(default_factory=dict)
    model: ModelSection = ModelSection()
    target: TargetSection = TargetSection()
    loss: LossSection = LossSection()
    augment: AugmentSection = AugmentSection()
    real: list[RealSection] = Field(default_factory=list)
    cache: CacheSection = CacheSection()
    val: ValSection = ValSection()
    checkpoint_every: int = 250
    log_every: int = 25
    workers: int = 1
    threads: int = 0
    device: str = "auto"
    amp: bool = True
    init_weights: str | None = Field(None, description="start from these weights (fine-tuning)")


def load_train_config(name_or_path: str | Path | None = None, **overrides: Any) -> TrainConfig:
    cfg = load_config(name_or_path or "train", TrainConfig)
    if overrides:
        data = cfg.model_dump()
        data.update({k: v for k, v in overrides.items() if v is not None})
        try:
            cfg = TrainConfig.model_validate(data)
        except Exception as exc:
            raise ConfigError(f"invalid training override: {exc}") from None
    return cfg


# ---------------------------------------------------------------------------------------------
# Samples
# ---------------------------------------------------------------------------------------------
@dataclass
class Sample:
    """One training image with its objects, in pixels at the model GSD."""

    image: np.ndarray  # (H, W, 3) uint8
    boxes: np.ndarray  # (N, 5)
    classes: np.ndarray  # (N,) int64
    states: np.ndarray  # (N,) int64
    oriented: np.ndarray  # (N,) bool
    ignore: np.ndarray  # (N,) bool


def _rescale(image: np.ndarray, boxes: np.ndarray, f: float) -> tuple[np.ndarray, np.ndarray]:
    import cv2

    if abs(f - 1.0) < 1e-3:
        return image, boxes
    h, w = image.shape[:2]
    nh, nw = max(1, round(h * f)), max(1, round(w * f))
    interp = cv2.INTER_AREA if f < 1 else cv2.INTER_LINEAR
    out = cv2.resize(image, (nw, nh), interpolation=interp)
    b = boxes.copy()
    b[:, 0] *= nw / w
    b[:, 1] *= nh / h
    b[:, 2:4] *= f
    return out, b


def crop_or_pad(s: Sample, size: int, rng: np.random.Generator, focus: np.ndarray | None = None) -> Sample:
    """A ``size`` square window of the sample (padding with black where it runs out).
    ``focus`` (x, y) biases the window to contain that point."""
    h, w = s.image.shape[:2]
    if focus is not None:
        x0 = int(np.clip(focus[0] - rng.uniform(0.15, 0.85) * size, min(0, w - size), max(0, w - size)))
        y0 = int(np.clip(focus[1] - rng.uniform(0.15, 0.85) * size, min(0, h - size), max(0, h - size)))
    else:
        x0 = int(rng.integers(0, w - size + 1)) if w > size else -int(rng.integers(0, size - w + 1))
        y0 = int(rng.integers(0, h - size + 1)) if h > size else -int(rng.integers(0, size - h + 1))
    out = np.zeros((size, size, 3), np.uint8)
    sx0, sy0 = max(x0, 0), max(y0, 0)
    sx1, sy1 = min(x0 + size, w), min(y0 + size, h)
    out[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = s.image[sy0:sy1, sx0:sx1]
    b = s.boxes.copy()
    b[:, 0] -= x0
    b[:, 1] -= y0
    # Objects whose centre left the window become ignore regions inside encode().
    return Sample(out, b, s.classes, s.states, s.oriented, s.ignore)


def geometric_augment(s: Sample, rng: np.random.Generator, cfg: AugmentSection) -> Sample:
    from detect.boxes import flip_boxes_px, rotate_boxes_px

    img, b = s.image, s.boxes
    if cfg.flip and rng.random() < 0.5:
        b = flip_boxes_px(b, img.shape[:2], horizontal=True)
        img = img[:, ::-1]
    if cfg.rot90:
        k = int(rng.integers(0, 4))
        if k:
            b = rotate_boxes_px(b, k, img.shape[:2])
            img = np.rot90(img, k)
    # A box without a known heading (envelope-only labels) stays axis-aligned: its heading is
    # a placeholder 0, and quarter turns of an axis-aligned box keep it axis-aligned.
    return Sample(np.ascontiguousarray(img), b, s.classes, s.states, s.oriented, s.ignore)


def photometric_augment(img: np.ndarray, rng: np.random.Generator, cfg: AugmentSection) -> np.ndarray:
    import cv2

    x = img.astype(np.float32) / 255.0
    if rng.random() < cfg.grey_p:
        x = np.repeat(x.mean(axis=2, keepdims=True), 3, axis=2)
    gamma = math.exp(rng.uniform(-cfg.gamma, cfg.gamma))
    x = np.power(np.clip(x, 0, 1), gamma)
    mean = x.mean()
    x = (x - mean) * math.exp(rng.uniform(-cfg.contrast, cfg.contrast)) + mean
    x = x + rng.uniform(-cfg.brightness, cfg.brightness)
    x = x * (1.0 + rng.uniform(-cfg.channel_jitter, cfg.channel_jitter, size=3)).astype(np.float32)
    if rng.random() < cfg.blur_p:
        x = cv2.GaussianBlur(x, (0, 0), rng.uniform(0.4, 1.2))
    if rng.random() < cfg.noise_p:
        x = x + rng.normal(0, rng.uniform(0.005, 0.03), size=x.shape).astype(np.float32)
    out = np.clip(x * 255.0 + 0.5, 0, 255).astype(np.uint8)
    if rng.random() < cfg.jpeg_p:
        ok, enc = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(45, 95))])
        if ok:
            out = cv2.imdecode(enc, cv2.IMREAD_UNCHANGED)
    return out


ChipSource = Callable[[int], Any]  # index -> object with image/boxes/classes/states/gsd


def synthetic_source(seed: int, size: int, overrides: dict[str, Any]) -> ChipSource:
    """Random access to the synthetic chip stream (built lazily: once per worker process)."""
    try:
        from imagery.synth.chips import ChipStream
    except ImportError as exc:
        raise InputError(f"the synthetic chip stream is not available ({exc}); "
                         "train on real labels only, or install a posturewatch with imagery.synth") from None
    stream = ChipStream(size=size, seed=seed, **overrides)
    return stream.chip


class LazySource:
    """Picklable wrapper that builds the chip source in whichever process first uses it."""

    def __init__(self, factory: Callable[[], ChipSource]) -> None:
        self.factory = factory
        self._fn: ChipSource | None = None

    def __call__(self, index: int) -> Any:
        if self._fn is None:
            self._fn = self.factory()
        return self._fn(index)

    def __getstate__(self) -> dict[str, Any]:
        return {"factory": self.factory, "_fn": None}


@dataclass
class CachedChip:
    image: np.ndarray
    boxes: np.ndarray
    classes: np.ndarray
    states: np.ndarray
    gsd: float


class ChipCache:
    """Memory-mapped pre-rendered chips: ``images.u8`` (N, S, S, 3) plus ``labels.npz``.

    Built by :func:`build_chip_cache`; ``meta.json`` records what was rendered (stream seed,
    size, overrides) so a cache made with other settings is never reused by mistake.
    """

    def __init__(self, folder: str | Path) -> None:
        folder = Path(folder)
        self.folder = folder
        self.meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        n, s = self.meta["chips"], self.meta["size"]
        self.images = np.memmap(folder / "images.u8", dtype=np.uint8, mode="r", shape=(n, s, s, 3))
        lab = np.load(folder / "labels.npz")
        self.offsets, self.boxes = lab["offsets"], lab["boxes"]
        self.classes, self.states, self.gsd = lab["classes"], lab["states"], lab["gsd"]

    def __len__(self) -> int:
        return int(self.meta["chips"])

    # DataLoader workers get the folder and map the file themselves (pickling a memmap would
    # copy every pixel into the pickle).
    def __getstate__(self) -> dict[str, Any]:
        return {"folder": str(self.folder)}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["folder"])

    def __call__(self, index: int) -> CachedChip:
        i = index % len(self)
        a, b = self.offsets[i], self.offsets[i + 1]
        return CachedChip(np.array(self.images[i]), self.boxes[a:b], self.classes[a:b], self.states[a:b],
                          float(self.gsd[i]))


def _render_chip(args: tuple[Any, int]) -> tuple[int, Any]:
    source, index = args
    c = source(index)
    return index, (np.asarray(c.image, np.uint8), np.asarray(c.boxes, np.float32).reshape(-1, 5),
                   np.asarray(c.classes, np.int64), np.asarray(c.states, np.int64), float(c.gsd))


def process_map(fn: Callable[[Any], Any], items: Iterable[Any], *, total: int, workers: int,
                desc: str, progress: bool = True, ordered: bool = False) -> Iterator[Any]:
    """``fn`` over ``items`` in ``workers`` spawned processes (here when ``workers`` is 1), with a
    progress bar; results in input order only when ``ordered``. Spawn, not fork: the renderer's
    numba/OpenMP thread pools do not survive a fork."""
    import multiprocessing as mp

    bar = None
    if progress and not os.environ.get("POSTUREWATCH_QUIET"):
        from tqdm import tqdm

        bar = tqdm(total=total, desc=desc, unit="chip", dynamic_ncols=True)
    pool = (mp.get_context("spawn").Pool(workers, initializer=_worker_init, initargs=(0,))
            if workers > 1 else None)
    try:
        if pool is None:
            it: Iterator[Any] = map(fn, items)
        else:
            it = (pool.imap if ordered else pool.imap_unordered)(fn, items, chunksize=4 if ordered else 8)
        for result in it:
            yield result
            if bar is not None:
                bar.update(1)
    finally:
        if pool is not None:
            pool.terminate()
        if bar is not None:
            bar.close()


def build_chip_cache(folder: str | Path, source: ChipSource, *, chips: int, size: int, key: dict[str, Any],
                     workers: int = 2, progress: bool = True) -> ChipCache:
    """Render ``chips`` chips of ``size`` px into ``folder`` (skipped when a complete cache with
    the same ``key`` is there). Chips are rendered by ``workers`` processes."""
    folder = Path(folder)
    meta_path = folder / "meta.json"
    if meta_path.is_file():
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if meta.get("key") == key and meta.get("chips") == chips and meta.get("size") == size:
            return ChipCache(folder)
        raise ConfigError(f"{folder}: holds a chip cache made with other settings; choose another "
                          "cache.dir or delete it")
    folder.mkdir(parents=True, exist_ok=True)
    images = np.memmap(folder / "images.u8.part", dtype=np.uint8, mode="w+", shape=(chips, size, size, 3))
    labels: list[Any] = [None] * chips
    jobs = ((source, i) for i in range(chips))
    for i, (img, boxes, classes, states, gsd) in process_map(_render_chip, jobs, total=chips, workers=workers,
                                                             desc="render chips", progress=progress):
        if img.shape != (size, size, 3):
            raise InputError(f"chip {i} has shape {img.shape}, expected {(size, size, 3)}")
        images[i] = img
        labels[i] = (boxes, classes, states, gsd)
    images.flush()
    del images
    counts = np.array([len(lab[0]) for lab in labels])
    np.savez(folder / "labels.npz", offsets=np.concatenate([[0], np.cumsum(counts)]),
             boxes=np.concatenate([lab[0] for lab in labels]).reshape(-1, 5),
             classes=np.concatenate([lab[1] for lab in labels]),
             states=np.concatenate([lab[2] for lab in labels]),
             gsd=np.array([lab[3] for lab in labels]))
    (folder / "images.u8.part").rename(folder / "images.u8")
    meta_path.write_text(json.dumps({"key": key, "chips": chips, "size": size}, indent=2), encoding="utf-8")
    return ChipCache(folder)


class RealCrops:
    """Crops of real labelled images at the model GSD, centred near a random object 80 % of
    the time (real scenes are mostly empty apron)."""

    def __init__(self, section: RealSection, gsd_m: float) -> None:
        from detect.labels import load_dataset

        items = load_dataset(section.path)
        if section.include:
            items = [it for it in items if it.image.name in section.include]
        items = [it for it in items if it.image.name not in section.exclude]
        if not items:
            raise ConfigError(f"real data {section.path}: no images left after include/exclude")
        if section.generic_class not in CLASSES:
            raise ConfigError(f"real data: unknown generic_class {section.generic_class!r}")
        generic = CLASSES.index(section.generic_class)
        self.samples: list[Sample] = []
        for it in items:
            img = _read_rgb(it.image)
            t = it.truth
            cls = np.where(t.classes < 0, generic, t.classes)
            s = Sample(img, t.boxes.copy(), cls, t.states.copy(), np.full(len(t), t.oriented),
                       t.ignore.copy())
            f = (it.gsd or section.gsd_m) / gsd_m
            s.image, s.boxes = _rescale(s.image, s.boxes, f)
            self.samples.append(s)
        self.names = [it.image.name for it in items]

    def sample(self, rng: np.random.Generator, size: int) -> Sample:
        s = self.samples[int(rng.integers(len(self.samples)))]
        focus = None
        real = ~s.ignore
        if real.any() and rng.random() < 0.8:
            j = int(rng.choice(np.nonzero(real)[0]))
            focus = s.boxes[j, :2]
        return crop_or_pad(s, size, rng, focus)


def _read_rgb(path: Path) -> np.ndarray:
    import warnings

    from imagery.radiometry import fit_stretch, rgb_bands
    from imagery.scene import open_scene

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scene = open_scene(path)
    bands = rgb_bands(scene)
    data, _ = scene.read(bands=bands)
    return np.ascontiguousarray(fit_stretch(scene, bands).apply(data).transpose(1, 2, 0))


class TrainingSet:
    """Map-style dataset: index -> (image tensor uint8 (3, S, S), target dict)."""

    def __init__(self, cfg: TrainConfig, chip_source: ChipSource | None,
                 real: list[RealCrops] | None = None, *, size: int | None = None,
                 augment: bool = True) -> None:
        self.cfg = cfg
        self.size = size or cfg.chip_size
        self.chip_source = chip_source
        self.real = real or []
        self.fractions = [r.fraction for r in cfg.real][: len(self.real)]
        self.augment = augment
        self.target = TargetConfig(stride=4, sigma_scale=cfg.target.sigma_scale,
                                   min_sigma=cfg.target.min_sigma, reg_min=cfg.target.reg_min)

    def sample(self, index: int) -> Sample:
        rng = np.random.default_rng((self.cfg.seed, index))
        u = rng.random()
        acc = 0.0
        for r, frac in zip(self.real, self.fractions, strict=True):
            acc += frac
            if u < acc:
                s = r.sample(rng, self.size)
                break
        else:
            if self.chip_source is None:
                raise ConfigError("no synthetic chip source and real fractions below 1")
            chip = self.chip_source(index)
            n = len(chip.boxes)
            s = Sample(np.asarray(chip.image), np.asarray(chip.boxes, np.float64).reshape(-1, 5),
                       np.asarray(chip.classes, np.int64), np.asarray(chip.states, np.int64),
                       np.ones(n, bool), np.zeros(n, bool))
            f = float(chip.gsd) / self.cfg.gsd_m
            if self.augment and self.cfg.augment.scale_jitter:
                j = self.cfg.augment.scale_jitter
                f *= math.exp(rng.uniform(-j, j))
            s.image, s.boxes = _rescale(s.image, s.boxes, f)
            s = crop_or_pad(s, self.size, rng)
        if self.augment:
            s = geometric_augment(s, rng, self.cfg.augment)
            s.image = photometric_augment(s.image, rng, self.cfg.augment)
        return s

    def __getitem__(self, index: int) -> tuple[Any, dict[str, Any]]:
        import torch

        s = self.sample(index)
        t = encode(s.boxes, s.classes, s.states, s.image.shape[:2], oriented=s.oriented,
                   ignore=s.ignore, config=self.target).as_dict()
        image = torch.from_numpy(np.ascontiguousarray(s.image.transpose(2, 0, 1)))
        return image, {k: torch.as_tensor(v) for k, v in t.items()}

    def __len__(self) -> int:  # effectively unbounded; the sampler decides
        return 2**62


def _worker_init(_: int) -> None:
    import cv2
    import torch

    cv2.setNumThreads(1)
    torch.set_num_threads(1)


# ---------------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------------
class Validator:
    """A fixed set of held-out synthetic chips (other seed, optional other render settings)
    kept in memory, scored with :class:`detect.evaluate.DetectionEvaluator`."""

    def __init__(self, cfg: TrainConfig, chip_source: ChipSource | None) -> None:
        from detect.evaluate import Truth

        self.items: list[tuple[np.ndarray, Any]] = []
        if chip_source is None or cfg.val.chips <= 0:
            return
        vcfg = cfg.model_copy(update={"seed": cfg.val.seed})
        ds = TrainingSet(vcfg, chip_source, size=cfg.val.chip_size, augment=False)
        for i in range(cfg.val.chips):
            s = ds.sample(i)
            # An object whose centre is outside the chip cannot be found: an ignore region.
            size = s.image.shape[0]
            outside = ~((s.boxes[:, 0] >= 0) & (s.boxes[:, 0] < size) & (s.boxes[:, 1] >= 0)
                        & (s.boxes[:, 1] < size))
            self.items.append((s.image, Truth(s.boxes, s.classes, s.states, s.ignore | outside)))

    def __call__(self, model: Any, device: str, score_threshold: float = 0.3) -> dict[str, Any]:
        import torch

        from detect.evaluate import DetectionEvaluator
        from detect.targets import decode

        ev = DetectionEvaluator(score_threshold=score_threshold)
        model.eval()
        with torch.inference_mode():
            for k in range(0, len(self.items), 8):
                chunk = self.items[k:k + 8]
                x = torch.from_numpy(np.stack([im.transpose(2, 0, 1) for im, _ in chunk])).to(device)
                out = model(x.contiguous(memory_format=torch.channels_last))
                for (_, truth), d in zip(chunk, decode(out, score_threshold=0.05), strict=True):
                    ev.add(d.boxes, d.scores, d.classes, d.state_prob, truth)
        model.train()
        return ev.summary()


# ---------------------------------------------------------------------------------------------
# The loop
# ---------------------------------------------------------------------------------------------
def train(cfg: TrainConfig, *, resume: bool = False, progress: bool = True,
          chip_source: ChipSource | None = None, max_steps: int | None = None) -> dict[str, Any]:
    """Run (or resume) training; returns a summary dict. ``chip_source`` replaces the
    synthetic stream (tests use hand-drawn chips); ``max_steps`` stops early (same schedule)."""
    import torch
    from torch.utils.data import DataLoader

    from detect.losses import LossWeights, detection_loss
    from detect.model import CenterNetOBB, ModelConfig, load_weights, save_weights
    from imagery.atomic import atomic_path

    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed % 2**32)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    from detect.infer import resolve_device

    device = resolve_device(cfg.device)
    cuda = device.startswith("cuda")
    if cuda:
        torch.backends.cudnn.benchmark = True

    synthetic = chip_source is None and sum(r.fraction for r in cfg.real) < 1.0
    if synthetic:
        chip_source = LazySource(_SyntheticFactory(cfg.seed, cfg.stream_size, cfg.stream_overrides))
        if cfg.cache.dir:
            key = {"seed": cfg.seed, "stream_size": cfg.stream_size, "overrides": cfg.stream_overrides}
            chip_source = build_chip_cache(cfg.cache.dir, chip_source, chips=cfg.cache.chips,
                                           size=cfg.stream_size, key=key, workers=cfg.cache.workers,
                                           progress=progress)
    real = [RealCrops(r, cfg.gsd_m) for r in cfg.real]
    dataset = TrainingSet(cfg, chip_source, real)
    val_source = chip_source
    if synthetic:
        val_source = LazySource(_SyntheticFactory(cfg.val.seed, cfg.val.chip_size,
                                                  {**cfg.stream_overrides, **cfg.val.overrides}))
    validator = Validator(cfg, val_source)

    mcfg = ModelConfig(**cfg.model.model_dump())
    model = CenterNetOBB(mcfg)
    # A fine-tuned detector keeps the second-stage classifiers of the weights it started from:
    # they read box-aligned crops of the image, not the detector's features.
    carried: dict[str, Any] = {}
    if cfg.init_weights:
        init = load_weights(cfg.init_weights, upgrade=True)
        model.load_state_dict(init.model.state_dict())
        carried = init.second_stages()
    model = model.to(device).to(memory_format=torch.channels_last)
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if p.ndim <= 1 or name.endswith(".bias") else decay).append(p)
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr)

    def lr_at(step: int) -> float:
        if step < cfg.warmup_steps:
            return (step + 1) / cfg.warmup_steps
        t = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
        return 0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(1.0, t)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    amp_dtype = torch.bfloat16 if cuda and torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler("cuda", enabled=cuda and cfg.amp and amp_dtype == torch.float16)
    weights = LossWeights(**cfg.loss.model_dump())

    step, best = 0, -1.0
    ckpt = out / "last.pt"
    if resume and ckpt.is_file():
        state = torch.load(ckpt, map_location=device, weights_only=False)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
        step, best = int(state["step"]), float(state["best"])
        torch.set_rng_state(state["torch_rng"])
    elif resume:
        raise InputError(f"{ckpt}: nothing to resume (no checkpoint there)")
    (out / "config.json").write_text(json.dumps(cfg.model_dump(), indent=2, default=str), encoding="utf-8")

    end = min(cfg.steps, max_steps if max_steps is not None else cfg.steps)
    loader = DataLoader(dataset, batch_size=cfg.batch_size,
                        sampler=range(step * cfg.batch_size, end * cfg.batch_size),
                        num_workers=cfg.workers, worker_init_fn=_worker_init if cfg.workers else None,
                        pin_memory=cuda, persistent_workers=False, drop_last=True,
                        prefetch_factor=4 if cfg.workers else None,
                        # spawn, not fork: the renderer's numba/OpenMP thread pools (used above for
                        # the validation chips) do not survive a fork and the worker deadlocks.
                        multiprocessing_context="spawn" if cfg.workers else None)
    bar = None
    if progress and not os.environ.get("POSTUREWATCH_QUIET"):
        from tqdm import tqdm

        bar = tqdm(total=end, initial=step, desc="train", unit="step", dynamic_ncols=True)
    log = (out / "log.jsonl").open("a", encoding="utf-8")
    ema: float | None = None
    parts_acc: dict[str, float] = {}
    n_acc = 0
    t_last, step_last = time.perf_counter(), step
    history = []

    def save_checkpoint() -> None:
        state = {"model": model.state_dict(), "optimizer": opt.state_dict(),
                 "scheduler": sched.state_dict(), "scaler": scaler.state_dict(), "step": step,
                 "best": best, "torch_rng": torch.get_rng_state(), "config": cfg.model_dump()}
        with atomic_path(ckpt) as tmp:
            torch.save(state, tmp)

    def export(path: Path, metrics: dict[str, Any]) -> None:
        info = {"step": step, "seed": cfg.seed, "chip_size": cfg.chip_size, "batch_size": cfg.batch_size,
                "val": {k: metrics.get(k) for k in ("map", "states", "per_class")},
                "real_data": [r.path for r in cfg.real]}
        if carried.get("state_net") is not None:
            info["state_net_from"] = str(cfg.init_weights)
        was = model.training
        save_weights(path, _cpu_copy(model), gsd_m=cfg.gsd_m, target=dataset.target.__dict__, info=info,
                     **carried)
        model.train(was)

    model.train()
    try:
        for images, targets in loader:
            images = images.to(device, non_blocking=True).contiguous(memory_format=torch.channels_last)
            targets = {k: v.to(device, non_blocking=True) for k, v in targets.items()}
            with torch.autocast("cuda", dtype=amp_dtype, enabled=cuda and cfg.amp):
                outputs = model(images)
            loss, parts = detection_loss(outputs, targets, weights)
            if not torch.isfinite(loss):
                raise RuntimeError(f"loss became {float(loss)} at step {step}; lower lr")
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.unscale_(opt)
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            scaler.step(opt)
            scaler.update()
            sched.step()
            step += 1
            lv = float(loss.detach())
            ema = lv if ema is None else 0.95 * ema + 0.05 * lv
            for k, v in (*parts.items(), ("loss", lv)):
                parts_acc[k] = parts_acc.get(k, 0.0) + v
            n_acc += 1
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{ema:.3f}", heat=f"{parts['heat']:.3f}")
            if step % cfg.log_every == 0 or step == end:
                now = time.perf_counter()
                rec = {"step": step, "loss_ema": ema, **{k: v / n_acc for k, v in parts_acc.items()},
                       "lr": sched.get_last_lr()[0],
                       "chips_per_s": (step - step_last) * cfg.batch_size / max(now - t_last, 1e-9),
                       "time": time.time()}
                history.append(rec)
                log.write(json.dumps(rec) + "\n")
                log.flush()
                parts_acc, n_acc, t_last, step_last = {}, 0, now, step
            if validator.items and (step % cfg.val.every == 0 or step == end):
                summary = validator(model, device)
                score = summary["map"] if summary["map"] == summary["map"] else 0.0
                log.write(json.dumps({"step": step, "val": summary}, default=float) + "\n")
                log.flush()
                if score > best:
                    best = score
                    export(out / "best.pt", summary)
            if step % cfg.checkpoint_every == 0 or step == end:
                save_checkpoint()
    finally:
        log.close()
        if bar is not None:
            bar.close()
    if not validator.items:
        export(out / "best.pt", {})
    return {"step": step, "best_map": best, "out": str(out), "history": history}


class _SyntheticFactory:
    """Picklable factory of the synthetic chip source."""

    def __init__(self, seed: int, size: int, overrides: dict[str, Any]) -> None:
        self.seed, self.size, self.overrides = seed, size, dict(overrides)

    def __call__(self) -> ChipSource:
        return synthetic_source(self.seed, self.size, self.overrides)


def _cpu_copy(model: Any) -> Any:
    import copy

    m = copy.deepcopy(model).cpu().float()
    return m.to(memory_format=__import__("torch").contiguous_format).eval()

