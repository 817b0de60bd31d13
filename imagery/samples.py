"""Small georeferenced Maxar-style sample images with exactly known properties.

Used by the tests (known sub-pixel shifts, CRS/GSD mismatches, 11-bit data with an IMD) and by
``posturewatch sample``. These are *fixtures*: textured fields with a few bright/dark blocks,
not airbase scenes (``imagery.synth`` makes those).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from scipy import ndimage

from imagery.atomic import atomic_path, atomic_write_text
from imagery.maxar import MaxarMetadata, format_imd

# Around Khmeimim's runways, EPSG:32636 (domain.md 3.2).
KHMEIMIM_UTM = (767_422.0, 3_922_682.0)

SAMPLE_META = MaxarMetadata(
    source="IMD",
    satellite="WV03",
    catalog_id="104001009A8C5F00",
    acquired=datetime(2024, 12, 13, 8, 31, 12, 512000, tzinfo=timezone.utc),
    mean_gsd=0.5,
    sun_azimuth=160.4,
    sun_elevation=29.1,
    sat_azimuth=118.7,
    sat_elevation=71.2,
    off_nadir=17.1,
    cloud_cover=0.012,
    band_ids=("B", "G", "R", "N"),
    bits_per_pixel=16,
    product_level="LV3D",
    band_id="Multi",
)


def textured_field(height: int, width: int, *, seed: int = 0, bands: int = 4) -> np.ndarray:
    """(bands, height, width) float64 in about [0, 1]: multi-scale texture with blocks and
    lines, so phase correlation has structure at every scale, as real imagery does."""
    rng = np.random.default_rng(seed)
    base = np.zeros((height, width))
    for sigma, amp in ((24.0, 0.5), (6.0, 0.3), (1.5, 0.15), (0.6, 0.05)):
        base += amp * ndimage.gaussian_filter(rng.normal(size=(height, width)), sigma) * sigma ** 0.5
    base = (base - base.min()) / max(np.ptp(base), 1e-9)
    for _ in range(max(1, height * width // 20000)):
        h, w = rng.integers(4, 40, size=2)
        r, c = rng.integers(0, max(1, height - h)), rng.integers(0, max(1, width - w))
        base[r:r + h, c:c + w] = rng.uniform(0.0, 1.0)
    out = np.empty((bands, height, width))
    for b in range(bands):
        out[b] = np.clip(base * rng.uniform(0.7, 1.0) + rng.uniform(0, 0.1), 0, 1)
    return out


def fourier_shift(field: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """Shift content by (dx, dy) pixels: what was at (x, y) moves to (x + dx, y + dy).
    Exact for band-limited content; wrap-around lands in the margin that callers crop."""
    h, w = field.shape[-2:]
    ky = np.fft.fftfreq(h)[:, None]
    kx = np.fft.fftfreq(w)[None, :]
    phase = np.exp(-2j * np.pi * (kx * dx + ky * dy))
    return np.real(np.fft.ifft2(np.fft.fft2(field) * phase))


def write_sample_scene(
    path: str | Path,
    *,
    size: int = 512,
    shift: tuple[float, float] = (0.0, 0.0),
    seed: int = 0,
    gsd: float = 0.5,
    origin: tuple[float, float] = KHMEIMIM_UTM,
    crs: str | None = "EPSG:32636",
    dtype: str = "uint16",
    bands: tuple[str, ...] = ("B", "G", "R", "N"),
    gain: float = 1.0,
    offset: float = 0.0,
    noise: float = 0.0,
    meta: MaxarMetadata | None = SAMPLE_META,
    compress: str = "deflate",
) -> Path:
    """Write a sample GeoTIFF (and a ``.IMD`` beside it when ``meta`` is given).

    The content is the same field for every ``seed``, displaced by ``shift`` pixels and mapped
    through ``gain``/``offset`` so that tests know the true answer.
    """
    path = Path(path)
    margin = 64  # fixed, so that every shift of one seed shows the same field
    if max(abs(shift[0]), abs(shift[1])) > margin / 2:
        raise ValueError(f"sample shifts are limited to {margin // 2} px")
    field = textured_field(size + 2 * margin, size + 2 * margin, seed=seed, bands=len(bands))
    if shift != (0.0, 0.0):
        field = np.stack([fourier_shift(b, shift[0], shift[1]) for b in field])
    field = field[:, margin:margin + size, margin:margin + size]
    if noise:
        field = field + np.random.default_rng(seed + 1).normal(0, noise, field.shape)
    full = 2047.0 if dtype == "uint16" else 255.0
    data = np.clip((field * 0.8 * full) * gain + offset * full, 0, full)
    data = np.round(data).astype(dtype)
    transform = Affine(gsd, 0, origin[0] - size * gsd / 2, 0, -gsd, origin[1] + size * gsd / 2)
    profile = dict(driver="GTiff", width=size, height=size, count=len(bands), dtype=dtype,
                   crs=crs, transform=transform if crs else Affine.identity(), tiled=True,
                   blockxsize=256, blockysize=256, compress=compress, interleave="pixel")
    if dtype == "uint16":
        profile["NBITS"] = 16
    with atomic_path(path) as tmp, rasterio.open(tmp, "w", **profile) as ds:
        ds.write(data)
        for i, name in enumerate(bands, start=1):
            ds.set_band_description(i, name)
    if meta is not None:
        m = replace(meta, band_ids=tuple(bands), mean_gsd=gsd,
                    bits_per_pixel=16 if dtype == "uint16" else 8)
        atomic_write_text(path.with_suffix(".IMD"), format_imd(m, num_rows=size, num_columns=size))
    return path
