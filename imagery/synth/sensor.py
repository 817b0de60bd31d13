"""The camera: optics blur (Gaussian MTF), pan-sharpening colour bleed, ground-segment
sharpening, shot and read noise, 11-bit quantisation; and the 8-bit display products (DRA, JPEG).

Real VHR products are never clean renders: the system MTF at Nyquist is ~0.1-0.2 (Gaussian
sigma 0.57-0.68 px, domain.md 4.3), colour comes from a 4x coarser multispectral image fused
onto the pan band (colour bleeds over object edges), delivered images are often sharpened
(overshoot halos), and display products are DRA-stretched and JPEG-compressed. A detector that
has only seen clean edges fails on all of that, so each is modelled and randomised for chips.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from imagery.radiometry import DisplayStretch, dra_limits

FULL_SCALE_11BIT = 2047


@dataclass(frozen=True)
class Sensor:
    """Radiometric and optical model of one acquisition."""

    # DN per unit radiance, B,G,R,N: balanced so that grey concrete comes out grey under a
    # blue-tinted sky (what a colour-balanced true-colour product shows)
    gain: tuple[float, ...] = (1250.0, 1370.0, 1500.0, 1400.0)
    offset: tuple[float, ...] = (90.0, 70.0, 55.0, 30.0)  # path radiance + dark level, DN
    mtf_sigma: float = 0.6  # px at output GSD
    chroma_sigma: float = 1.2  # extra blur of colour relative to luminance (pan-sharpening)
    sharpen: float = 0.3  # unsharp-mask amount (0 = none)
    shot: float = 0.15  # noise variance per DN
    read: float = 2.5  # read noise sigma, DN
    bits: int = 11

    @property
    def full_scale(self) -> int:
        return (1 << self.bits) - 1


def blur_and_sharpen(rad: np.ndarray, sensor: Sensor) -> np.ndarray:
    """(C, H, W) float32 radiance -> blurred, colour-bled and sharpened copy.

    Colour bleed: the chroma (band minus luminance) is blurred more than the luminance, as in a
    pan-sharpened product whose colour comes from a 4x coarser image. Sharpening is an unsharp
    mask on the luminance added to every band (one blur instead of one per band).
    """
    C, H, W = rad.shape
    out = np.empty_like(rad)
    for c in range(C):
        cv2.GaussianBlur(rad[c], (0, 0), sensor.mtf_sigma, dst=out[c], borderType=cv2.BORDER_REFLECT)
    if C >= 3 and (sensor.chroma_sigma > 0.3 or sensor.sharpen > 0):
        lum = out[:3].mean(axis=0)
        if sensor.chroma_sigma > 0.3:
            # blur the chroma at half resolution (4x cheaper, and it is smooth anyway)
            h2, w2 = max(1, H // 2), max(1, W // 2)
            for c in range(3):
                chroma = out[c] - lum
                small = cv2.resize(chroma, (w2, h2), interpolation=cv2.INTER_AREA)
                small = cv2.GaussianBlur(
                    small, (0, 0), max(sensor.chroma_sigma / 2, 0.3), borderType=cv2.BORDER_REFLECT
                )
                out[c] = lum + cv2.resize(small, (W, H), interpolation=cv2.INTER_LINEAR)
        if sensor.sharpen > 0:
            detail = (
                lum - cv2.GaussianBlur(lum, (0, 0), 1.6, borderType=cv2.BORDER_REFLECT)
            ) * sensor.sharpen
            for c in range(C):
                out[c] += detail
    elif sensor.sharpen > 0:
        for c in range(C):
            b = cv2.GaussianBlur(out[c], (0, 0), 1.6, borderType=cv2.BORDER_REFLECT)
            cv2.addWeighted(out[c], 1.0 + sensor.sharpen, b, -sensor.sharpen, 0.0, dst=out[c])
    return out


def to_dn(
    rad: np.ndarray,
    sensor: Sensor,
    rng: np.random.Generator | None,
    band_index: tuple[int, ...] | None = None,
    noise: np.ndarray | None = None,
) -> np.ndarray:
    """Radiance -> noisy, quantised DN (uint16, 11-bit by default).

    ``band_index`` maps each plane of ``rad`` to the sensor band (0..3 for B, G, R, N) whose
    gain/offset it gets. ``noise``: standard-normal samples of ``rad``'s shape to use instead of
    drawing new ones (the chip stream crops them from a bank: drawing ~1 M normals per chip
    costs more than rendering the chip).
    """
    C = rad.shape[0]
    idx = band_index or tuple(range(C))
    gain = np.asarray([sensor.gain[i] for i in idx], np.float32)[:, None, None]
    off = np.asarray([sensor.offset[i] for i in idx], np.float32)[:, None, None]
    dn = rad * gain + off
    if rng is not None or noise is not None:
        sigma = np.sqrt(np.maximum(dn, 0.0) * np.float32(sensor.shot) + np.float32(sensor.read**2))
        if noise is None:
            noise = rng.standard_normal(dn.shape, dtype=np.float32)  # type: ignore[union-attr]
        dn += noise * sigma
    np.clip(dn, 0, sensor.full_scale, out=dn)
    return np.rint(dn).astype(np.uint16)


NOISE_BANK = 2048


@lru_cache(maxsize=1)
def noise_bank(size: int = NOISE_BANK) -> np.ndarray:
    """(size, size) float32 standard normals, made once per process (16 MB)."""
    return np.random.default_rng(0x5EED).standard_normal((size, size), dtype=np.float32)


def bank_noise(shape: tuple[int, int, int], rng: np.random.Generator) -> np.ndarray:
    """Standard-normal noise of ``shape`` (bands, h, w) cropped from the bank at a random offset
    per band: independent across bands and windows, and ~50x cheaper than drawing it."""
    bank = noise_bank()
    c, h, w = shape
    if h > bank.shape[0] // 2 or w > bank.shape[1] // 2:
        return rng.standard_normal(shape, dtype=np.float32)
    out = np.empty(shape, np.float32)
    for b in range(c):
        r0 = int(rng.integers(0, bank.shape[0] - h))
        c0 = int(rng.integers(0, bank.shape[1] - w))
        out[b] = bank[r0 : r0 + h, c0 : c0 + w]
    return out


def pan_from_bands(rad: np.ndarray, band_index: tuple[int, ...]) -> np.ndarray:
    """Panchromatic (450-800 nm) as a weighted sum of B, G, R, N radiance."""
    weights = {0: 0.16, 1: 0.30, 2: 0.32, 3: 0.22}
    w = np.array([weights[i] for i in band_index], np.float32)
    w = w / w.sum()
    return np.tensordot(w, rad, axes=1)[None].astype(np.float32)


def _hist_limits(
    values: np.ndarray,
    p_low: float = 2.0,
    p_high: float = 98.0,
    widen_low: float = 0.2,
    widen_high: float = 0.4,
) -> tuple[float, float]:
    """The DRA clip points of imagery.radiometry.dra_limits from a histogram of integer DNs
    (the same recipe; percentiles by cumulative counts instead of a sort)."""
    counts = np.bincount(values.ravel())
    nz = np.nonzero(counts)[0]
    if len(nz) == 0:
        return 0.0, 1.0
    cum = np.cumsum(counts)
    n = cum[-1]
    e_min = float(np.searchsorted(cum, n * p_low / 100.0))
    e_max = float(np.searchsorted(cum, n * p_high / 100.0))
    span = e_max - e_min
    lo = max(float(nz[0]), e_min - widen_low * span)
    hi = min(float(nz[-1]), e_max + widen_high * span)
    if hi <= lo:
        hi = lo + 1.0
    return lo, hi


def fit_display(dn: np.ndarray, step: int = 4, **kwargs: float) -> DisplayStretch:
    """DRA clip points per band from a subsample (the osml recipe in imagery.radiometry)."""
    sample = dn[:, ::step, ::step]
    if dn.dtype in (np.uint8, np.uint16):
        lims = [_hist_limits(sample[b], **kwargs) for b in range(dn.shape[0])]
    else:
        lims = [dra_limits(sample[b].ravel(), **kwargs) for b in range(dn.shape[0])]
    return DisplayStretch(low=tuple(lo for lo, _ in lims), high=tuple(hi for _, hi in lims))


def display_8bit(dn: np.ndarray, gamma: float = 1.0, step: int = 4, balance: float = 0.5) -> np.ndarray:
    """(C, H, W) uint16 -> (C, H, W) uint8 with a DRA stretch and optional gamma.

    ``balance`` blends per-band clip points (0: each band stretched on its own, which
    neutralises colour casts) with common ones (1: the DN colour balance is kept).
    """
    stretch = fit_display(dn, step=step)
    lo, hi = np.asarray(stretch.low), np.asarray(stretch.high)
    if balance > 0:
        lo = (1 - balance) * lo + balance * lo.mean()
        hi = (1 - balance) * hi + balance * hi.mean()
    out = np.empty(dn.shape, np.uint8)
    n = int(dn.max()) + 1
    x = np.arange(n, dtype=np.float32)
    for b in range(dn.shape[0]):
        v = np.clip((x - lo[b]) / max(hi[b] - lo[b], 1e-6), 0, 1)
        if gamma != 1.0:
            v = v**gamma
        lut = (255.0 * v + 0.5).astype(np.uint8)
        out[b] = lut[dn[b]]
    return out


def jpeg_roundtrip(rgb: np.ndarray, quality: int) -> np.ndarray:
    """(H, W, 3) uint8 RGB through a JPEG encode/decode (8x8 blocking, chroma subsampling)."""
    ok, buf = cv2.imencode(".jpg", rgb[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:  # pragma: no cover - cv2 always encodes uint8 RGB
        return rgb
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)[:, :, ::-1]
