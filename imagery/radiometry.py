"""Display radiometry: a dynamic-range adjustment (DRA) from 11/16-bit to 8-bit, and band choice.

The stretch is fitted once per scene on a sample spread over the whole image and then applied to
every tile, so neighbouring tiles share one tone curve (a per-tile stretch makes seams and makes
the same aircraft look different from tile to tile, which a detector notices).
The clip points follow the usual DRA recipe (AWS osml-imagery-toolkit, domain.md 4.6): 2nd/98th
percentiles widened by 20 % below and 40 % above, never beyond the actual data range.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from rasterio.windows import Window

from imagery.errors import InputError
from imagery.scene import Scene

RGB_NAMES = ("R", "G", "B")


@dataclass(frozen=True)
class DisplayStretch:
    """Per-band linear map ``[low, high] -> [0, 255]`` with clipping."""

    low: tuple[float, ...]
    high: tuple[float, ...]

    def apply(self, data: np.ndarray) -> np.ndarray:
        """(bands, rows, cols) of any dtype -> uint8. Integer inputs go through a lookup table."""
        if data.shape[0] != len(self.low):
            raise ValueError(f"stretch has {len(self.low)} bands, data has {data.shape[0]}")
        out = np.empty(data.shape, dtype=np.uint8)
        for b in range(data.shape[0]):
            lo, hi = self.low[b], self.high[b]
            scale = 255.0 / max(hi - lo, 1e-12)
            band = data[b]
            if band.dtype in (np.uint8, np.uint16):
                n = 256 if band.dtype == np.uint8 else 65536
                lut = np.clip((np.arange(n, dtype=np.float32) - lo) * scale + 0.5, 0, 255)
                out[b] = lut.astype(np.uint8)[band]
            else:
                f = (band.astype(np.float32) - lo) * scale + 0.5
                np.clip(f, 0, 255, out=f)
                out[b] = np.nan_to_num(f, nan=0.0).astype(np.uint8)
        return out

    def to_json_dict(self) -> dict[str, list[float]]:
        return {"low": list(self.low), "high": list(self.high)}


def dra_limits(values: np.ndarray, *, p_low: float = 2.0, p_high: float = 98.0,
               widen_low: float = 0.2, widen_high: float = 0.4) -> tuple[float, float]:
    """Clip points for one band from a 1-D sample of valid pixel values."""
    if values.size == 0:
        raise InputError("no valid pixels to fit a display stretch on (image is all nodata)")
    actual_min, actual_max = float(values.min()), float(values.max())
    e_min, e_max = (float(v) for v in np.percentile(values, [p_low, p_high]))
    span = e_max - e_min
    lo = max(actual_min, e_min - widen_low * span)
    hi = min(actual_max, e_max + widen_high * span)
    if hi <= lo:  # flat band: keep it mid-grey rather than dividing by zero
        hi = lo + 1.0
    return lo, hi


def sample_windows(width: int, height: int, *, n: int = 64, size: int = 256,
                   seed: int = 0) -> list[Window]:
    """Windows on a jittered grid that covers the whole image, for statistics that must
    represent the whole scene but cannot afford to read it."""
    rng = np.random.default_rng(seed)
    size_x, size_y = min(size, width), min(size, height)
    k = max(1, math.ceil(math.sqrt(n)))
    wins = []
    for i in range(k):
        for j in range(k):
            x0 = (j + rng.uniform(0.1, 0.9)) * width / k - size_x / 2
            y0 = (i + rng.uniform(0.1, 0.9)) * height / k - size_y / 2
            x0 = int(min(max(0, x0), width - size_x))
            y0 = int(min(max(0, y0), height - size_y))
            wins.append(Window(x0, y0, size_x, size_y))
    return wins


def sample_pixels(scene: Scene, bands: tuple[int, ...] | None = None, *, max_pixels: int = 1_000_000,
                  seed: int = 0) -> np.ndarray:
    """(bands, n) valid pixels drawn from the whole scene.

    Uses the smallest overview that still has ``max_pixels`` when the file has overviews (one
    cheap read), else reads ~64 windows spread over the image.
    """
    meta = scene.meta
    bands = bands or meta.data_bands
    if meta.width * meta.height <= max_pixels:
        data, valid = scene.read(bands=bands)
        return data[:, valid]
    factor = math.sqrt(meta.width * meta.height / max_pixels)
    ovr = [f for f in meta.overviews if f <= factor]
    if ovr:
        f = max(ovr)
        shape = (max(1, meta.height // f), max(1, meta.width // f))
        data, valid = scene.read(bands=bands, out_shape=shape)
        return data[:, valid]
    per_window = max_pixels // 64
    size = max(16, int(math.sqrt(per_window)))
    chunks = []
    for w in sample_windows(meta.width, meta.height, n=64, size=size, seed=seed):
        data, valid = scene.read(w, bands=bands)
        chunks.append(data[:, valid])
    return np.concatenate(chunks, axis=1)


def fit_stretch(scene: Scene, bands: tuple[int, ...] | None = None, **kwargs: float) -> DisplayStretch:
    """Fit a :class:`DisplayStretch` on a whole-scene sample.

    8-bit imagery is passed through unchanged (0..255): it was stretched by whoever made it, and
    re-stretching would make two dates of the same site disagree for no reason.
    """
    bands = bands or rgb_bands(scene)
    if scene.meta.dtype == "uint8":
        return DisplayStretch(low=(0.0,) * len(bands), high=(255.0,) * len(bands))
    pixels = sample_pixels(scene, bands)
    if pixels.shape[1] == 0:
        raise InputError(f"{scene.path}: image is all nodata")
    limits = [dra_limits(pixels[b], **kwargs) for b in range(len(bands))]
    return DisplayStretch(low=tuple(lo for lo, _ in limits), high=tuple(hi for _, hi in limits))


def rgb_bands(scene: Scene) -> tuple[int, ...]:
    """1-based band indexes to show as red, green, blue.

    Maxar band ids (read from the file's IMD/XML in file order) or colour interpretation decide;
    a single-band (panchromatic) scene shows that band three times.
    """
    names = scene.meta.band_names
    data = scene.meta.data_bands
    if len(data) == 1:
        return (data[0],) * 3
    if all(n in names for n in RGB_NAMES):
        return tuple(names.index(n) + 1 for n in RGB_NAMES)
    if len(data) >= 3:
        return data[:3]
    return (data[0],) * 3
