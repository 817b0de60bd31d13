"""Training chips: random synthetic windows with oriented-box targets, made in memory.

This is the detector's data source. Each chip is its own small world (see
:mod:`imagery.synth.chipworld`) rendered by the same renderer as the scene writer, then passed
through a randomised camera: GSD 0.25-0.75 m (mostly 0.3-0.6), any sun azimuth and elevation
20-75 deg, off-nadir lean up to 30 deg, MTF blur, pan-sharpening colour bleed, sharpening halos,
shot/read noise, 11-bit quantisation, a DRA stretch to 8 bit with random gamma and colour
balance, and JPEG at random quality. ``ChipStream.chip(i)`` is a pure function of
``(seed, i)``, so DataLoader workers can shard by index and a run can be replayed.

Example::

    from imagery.synth.chips import ChipStream
    stream = ChipStream(size=512, seed=0)
    chip = stream.chip(0)        # Chip(image (512, 512, 3) uint8 RGB, boxes (N, 5), classes, ...)
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np

from imagery.errors import InputError
from imagery.synth.catalog import TYPES, cached_model
from imagery.synth.chipworld import EXTRA_THEMES, THEMES, build_chip_world
from imagery.synth.ground import GroundLook, LowField, texture_bank
from imagery.synth.render import Illumination, View
from imagery.synth.sensor import (
    Sensor,
    bank_noise,
    blur_and_sharpen,
    display_8bit,
    jpeg_roundtrip,
    pan_from_bands,
    to_dn,
)
from imagery.synth.window import World, render_radiance
from imagery.taxonomy import CLASSES, STATES

RGB_BANDS = (2, 1, 0)  # render R, G, B


@dataclass
class Chip:
    image: np.ndarray  # (H, W, 3) uint8 RGB, display-stretched like a real 8-bit product
    boxes: np.ndarray  # (N, 5) float32: cx, cy, length, width in PIXELS, heading_deg (clockwise from up)
    classes: np.ndarray  # (N,) int64 index into imagery.taxonomy.CLASSES
    states: np.ndarray  # (N,) int64: 1 if in the class's non-nominal state, else 0
    gsd: float  # metres per pixel of this chip
    types: list[str]  # e.g. "An-124", per box
    # The light and the camera, degrees: (sun azimuth, sun elevation), (satellite azimuth, view
    # zenith). What a real product's IMD says; benchmarks use them to tell shadows from objects.
    sun: tuple[float, float] | None = None
    view: tuple[float, float] | None = None


@dataclass
class TwinChip:
    """One chip world on two dates (:meth:`ChipStream.twin`): per object, its box on each
    image and its state flag on each date."""

    image_a: np.ndarray
    image_b: np.ndarray
    boxes_a: np.ndarray
    boxes_b: np.ndarray
    classes: np.ndarray
    states_a: np.ndarray
    states_b: np.ndarray
    gsd: float
    types: list[str]
    view_zenith: tuple[float, float] = (0.0, 0.0)  # of each date's camera, degrees


def _label_fields(labels: list[Any], keep: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Class indexes, state flags (1: the class's non-nominal state) and type names of the kept
    labels."""
    kept = [lb for lb, k in zip(labels, keep, strict=True) if k]
    classes = np.asarray([CLASSES.index(lb.cls) for lb in kept], dtype=np.int64)
    states = np.asarray([1 if lb.state is not None and lb.state in STATES.get(lb.cls, ()) else 0
                         for lb in kept], dtype=np.int64)
    return classes, states, [lb.type for lb in kept]


@dataclass(frozen=True)
class ChipConfig:
    """Domain randomisation ranges; any field can be overridden via ``ChipStream(**overrides)``."""

    gsd: tuple[float, float] = (0.3, 0.6)
    gsd_wide: tuple[float, float] = (0.25, 0.75)
    p_gsd_wide: float = 0.15
    sun_elevation: tuple[float, float] = (20.0, 75.0)
    view_zenith: tuple[float, float] = (0.0, 30.0)
    mtf_sigma: tuple[float, float] = (0.35, 1.1)
    chroma_sigma: tuple[float, float] = (0.0, 2.2)
    sharpen: tuple[float, float] = (0.0, 0.6)
    shot: tuple[float, float] = (0.03, 0.45)
    read: tuple[float, float] = (1.0, 5.0)
    gamma: tuple[float, float] = (0.7, 1.15)
    balance: tuple[float, float] = (0.6, 1.0)
    p_jpeg: float = 0.6
    jpeg_quality: tuple[int, int] = (50, 95)
    p_pan: float = 0.05
    haze: tuple[float, float] = (0.0, 1.0)
    greenness: tuple[float, float] = (-1.0, 1.0)
    supersample: int = 2
    themes: tuple[tuple[str, float], ...] = tuple(THEMES.items())
    texture_seed: int = 0


class ChipStream:
    """Deterministic random-access stream of training chips."""

    def __init__(self, size: int = 512, seed: int = 0, **overrides: object) -> None:
        if not 64 <= size <= 4096:
            raise InputError(f"chip size must be between 64 and 4096 px (got {size})")
        known = {f.name for f in fields(ChipConfig)}
        bad = sorted(set(overrides) - known)
        if bad:
            raise InputError(
                f"unknown ChipStream option(s): {', '.join(bad)} (known: {', '.join(sorted(known))})"
            )
        self.size = int(size)
        self.seed = int(seed)
        self.config = replace(ChipConfig(), **overrides)  # type: ignore[arg-type]
        names = [t for t, _ in self.config.themes]
        unknown = [t for t in names if t not in THEMES and t not in EXTRA_THEMES]
        if unknown:
            raise InputError(f"unknown chip theme(s): {', '.join(unknown)} "
                             f"(known: {', '.join([*THEMES, *EXTRA_THEMES])})")
        w = np.array([w for _, w in self.config.themes], dtype=np.float64)
        self._themes = names
        self._theme_p = w / w.sum()

    def __iter__(self) -> Iterator[Chip]:
        i = 0
        while True:
            yield self.chip(i)
            i += 1

    def chip(self, index: int) -> Chip:
        rng = np.random.default_rng([self.seed, int(index), 0xC41B])
        cw, world, gsd = self._world(rng)
        image, view, sun = self._render(world, gsd, rng)
        boxes, keep = self._boxes(cw.labels, view, gsd)
        classes, states, types = _label_fields(cw.labels, keep)
        return Chip(image=image, boxes=boxes[keep], classes=classes, states=states, gsd=gsd, types=types,
                    sun=sun, view=(view.sat_azimuth, view.view_zenith))

    def twin(self, index: int, p_flip: float = 0.5) -> TwinChip:
        """The world of ``chip(index)`` on two "dates": the first exactly as ``chip(index)``
        renders it, the second under another camera, sun and sensor (drawn afresh), with each
        state-bearing object put in its other state with probability ``p_flip``. What a
        change detector must tell apart: a state that changed from a view that changed."""
        rng = np.random.default_rng([self.seed, int(index), 0xC41B])
        cw, world, gsd = self._world(rng)
        image_a, view_a, _ = self._render(world, gsd, rng)
        flip_rng = np.random.default_rng([self.seed, int(index), 0x7A1])
        labels_b, objects_b = [], list(world.objects)
        for lb in cw.labels:
            states = TYPES[lb.type].states
            if states and flip_rng.random() < p_flip:
                state = None if lb.state is not None else states[0]
                model, length, width = cached_model(lb.type, state, lb.variant)
                objects_b[lb.object_index] = replace(objects_b[lb.object_index], model=model)
                lb = replace(lb, state=state, length=length, width=width)
            labels_b.append(lb)
        image_b, view_b, _ = self._render(replace(world, objects=objects_b), gsd, flip_rng)
        boxes_a, in_a = self._boxes(cw.labels, view_a, gsd)
        boxes_b, in_b = self._boxes(labels_b, view_b, gsd)
        keep = in_a & in_b
        classes, states_a, types = _label_fields(cw.labels, keep)
        states_b = _label_fields(labels_b, keep)[1]
        return TwinChip(image_a, image_b, boxes_a[keep], boxes_b[keep], classes, states_a, states_b, gsd,
                        types, (view_a.view_zenith, view_b.view_zenith))

    def _world(self, rng: np.random.Generator) -> tuple[Any, World, float]:
        cfg = self.config
        gsd = float(rng.uniform(*cfg.gsd_wide) if rng.random() < cfg.p_gsd_wide else rng.uniform(*cfg.gsd))
        extent = self.size * gsd
        theme = self._themes[int(rng.choice(len(self._themes), p=self._theme_p))]
        cw = build_chip_world(rng, extent, theme)
        look = GroundLook.make(rng, jitter=0.1)
        low = LowField.make(
            rng,
            0.0,
            extent,
            extent,
            extent,
            cell=float(rng.uniform(12, 40)),
            amplitude=float(rng.uniform(0.02, 0.12)),
        )
        world = World(
            cw.ground,
            look.seasonal(float(rng.uniform(*cfg.greenness))),
            look.texture,
            look.slabs,
            low,
            cw.objects,
            bank_seed=cfg.texture_seed,
            tex_offset=(int(rng.integers(0, 1 << 20)), int(rng.integers(0, 1 << 20))),
        )
        return cw, world, gsd

    def _render(self, world: World, gsd: float, rng: np.random.Generator
                ) -> tuple[np.ndarray, View, tuple[float, float]]:
        """Camera, sun, sensor and 8-bit product, all drawn from ``rng``; the image, the camera
        and the sun's (azimuth, elevation)."""
        cfg = self.config
        size = self.size
        extent = size * gsd
        bank = texture_bank(cfg.texture_seed)
        sun_az = float(rng.uniform(0, 360))
        sun_el = float(rng.uniform(*cfg.sun_elevation))
        haze = float(rng.uniform(*cfg.haze))
        illum = Illumination(
            sun_az, sun_el, diffuse=tuple(d * (0.75 + 0.6 * haze) for d in Illumination(0, 0).diffuse)
        )
        sat_az = float(rng.uniform(0, 360))
        vz = float(rng.uniform(*cfg.view_zenith))
        view = View(0.0, extent, gsd, size, size, cfg.supersample, sat_az, vz)
        rad = render_radiance(world, view, illum, bands=RGB_BANDS, bank=bank)
        gain_k = rng.uniform(0.85, 1.15)
        sensor = Sensor(
            gain=tuple(float(g * gain_k * rng.uniform(0.95, 1.05)) for g in Sensor().gain),
            offset=tuple(float(o * (0.4 + 1.2 * haze) + rng.normal(0, 5)) for o in Sensor().offset),
            mtf_sigma=float(rng.uniform(*cfg.mtf_sigma)),
            chroma_sigma=float(rng.uniform(*cfg.chroma_sigma)),
            sharpen=float(rng.uniform(*cfg.sharpen)) if rng.random() < 0.6 else 0.0,
            shot=float(rng.uniform(*cfg.shot)),
            read=float(rng.uniform(*cfg.read)),
        )
        pan = rng.random() < cfg.p_pan
        band_index: tuple[int, ...] = RGB_BANDS
        if pan:
            rad = pan_from_bands(rad, RGB_BANDS)
            band_index = (1,)
        rad = blur_and_sharpen(rad, sensor)
        noise = bank_noise(rad.shape, rng)
        dn = to_dn(rad, sensor, None, band_index, noise=noise)
        img = display_8bit(dn, gamma=float(rng.uniform(*cfg.gamma)), balance=float(rng.uniform(*cfg.balance)))
        if pan:
            img = np.repeat(img, 3, axis=0)
        image = np.ascontiguousarray(img.transpose(1, 2, 0))
        if rng.random() < cfg.p_jpeg:
            image = jpeg_roundtrip(image, int(rng.integers(cfg.jpeg_quality[0], cfg.jpeg_quality[1] + 1)))
        return image, view, (sun_az, sun_el)

    def _boxes(self, labels: list[Any], view: View, gsd: float) -> tuple[np.ndarray, np.ndarray]:
        """Pixel boxes at each label's apparent centre (ground position + lean of its body
        height) and whether that centre lies in the chip."""
        size, extent = self.size, self.size * gsd
        lean = view.lean()
        rows, inside = [], []
        for lb in labels:
            cx = (lb.x + lean[0] * lb.ref_height) / gsd
            cy = (extent - (lb.y + lean[1] * lb.ref_height)) / gsd
            rows.append((cx, cy, lb.length / gsd, lb.width / gsd, lb.heading % 360.0))
            inside.append(0.0 <= cx < size and 0.0 <= cy < size)
        return np.asarray(rows, dtype=np.float32).reshape(-1, 5), np.asarray(inside, bool)
