"""Ground: surface materials, periodic texture banks and the vector features (pavements,
markings, vegetation) painted under the objects.

Real airfield ground is what a detector must learn to ignore: concrete slabs with dark joints
and tone differences slab to slab, asphalt with repairs and rubber, yellow and white markings,
oil stains, sand and scrub. Textures are periodic noise banks made once per process (FFT-filtered
white noise, so they tile seamlessly) and indexed by absolute pixel position: a scene rendered in
tiles is seamless, and the ground of every date of one scene is the same ground.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

import cv2
import numpy as np

from imagery.synth.render import SHIFT, Canvas

_ONE = float(1 << SHIFT)


@dataclass(frozen=True)
class Material:
    name: str
    albedo: tuple[float, float, float, float]  # B, G, R, N
    texture: float = 0.08  # relative amplitude of the fine texture
    slabs: bool = False  # concrete slabs with joints
    vegetation: float = 0.0  # 0..1: how much the season tint applies


MATERIALS: tuple[Material, ...] = (
    Material("soil", (0.11, 0.15, 0.21, 0.29), 0.16, vegetation=0.2),
    Material("sand", (0.20, 0.28, 0.36, 0.43), 0.10),
    Material("scrub", (0.08, 0.12, 0.15, 0.30), 0.30, vegetation=0.7),
    Material("grass", (0.06, 0.11, 0.10, 0.34), 0.22, vegetation=1.0),
    Material("asphalt", (0.075, 0.082, 0.088, 0.11), 0.10),
    Material("asphalt_old", (0.17, 0.18, 0.19, 0.21), 0.12),
    Material("concrete", (0.33, 0.35, 0.36, 0.38), 0.07, slabs=True),
    Material("concrete_light", (0.42, 0.44, 0.45, 0.47), 0.06, slabs=True),
    Material("concrete_plain", (0.30, 0.32, 0.33, 0.35), 0.08),
    Material("paint_yellow", (0.10, 0.42, 0.52, 0.52), 0.05),
    Material("paint_white", (0.58, 0.60, 0.60, 0.58), 0.05),
    Material("paint_red", (0.07, 0.07, 0.36, 0.42), 0.05),
    Material("rubber", (0.05, 0.05, 0.055, 0.06), 0.15),
    Material("gravel", (0.19, 0.21, 0.24, 0.27), 0.10),
    Material("stain", (0.20, 0.21, 0.22, 0.24), 0.15),
    Material("shoulder", (0.24, 0.26, 0.27, 0.30), 0.12),
    Material("dark_soil", (0.07, 0.09, 0.12, 0.22), 0.20, vegetation=0.4),
    Material("roof_gravel", (0.22, 0.23, 0.24, 0.26), 0.1),
    Material("water", (0.09, 0.08, 0.04, 0.02), 0.02),
    Material("paint_blue", (0.30, 0.14, 0.06, 0.25), 0.05),
    Material("paint_black", (0.05, 0.05, 0.05, 0.06), 0.05),
    Material("tyre", (0.27, 0.28, 0.29, 0.31), 0.12),
)
MAT = {m.name: i for i, m in enumerate(MATERIALS)}
assert len(MATERIALS) < 128, "the material map keeps bit 7 for the cast-shadow flag"


@dataclass
class Polygon:
    material: int
    coords: np.ndarray  # (n, 2) map metres


@dataclass
class Line:
    material: int
    coords: np.ndarray  # (n, 2) map metres, a polyline
    width: float  # metres


@dataclass
class GroundLayout:
    """Everything painted on the ground, in painting order, plus the concrete slab grid."""

    base: int = MAT["soil"]
    features: list[Polygon | Line] = field(default_factory=list)
    slab_angle: float = 0.0  # degrees: slab grid orientation (pavements follow the runway)
    slab_size: tuple[float, float] = (5.0, 5.0)
    joint_width: float = 0.15
    slab_tone: float = 0.025
    joint_dark: float = 0.88
    seed: int = 0

    def polygon(self, material: str, coords: np.ndarray) -> None:
        self.features.append(Polygon(MAT[material], np.asarray(coords, dtype=np.float64)))

    def line(self, material: str, coords: np.ndarray, width: float) -> None:
        self.features.append(Line(MAT[material], np.asarray(coords, dtype=np.float64), width))


def paint_ground(canvas: Canvas, layout: GroundLayout) -> None:
    """Fill the material map of a window with the layout's features (culled to the window)."""
    canvas.gmat[:] = layout.base
    x0, y0, x1, y1 = canvas.view.bounds()
    s = canvas.view.scale
    for f in layout.features:
        c = f.coords
        pad = f.width if isinstance(f, Line) else 0.0
        if (
            c[:, 0].max() + pad < x0
            or c[:, 0].min() - pad > x1
            or c[:, 1].max() + pad < y0
            or c[:, 1].min() - pad > y1
        ):
            continue
        px, py = canvas.map_to_px(c[:, 0], c[:, 1])
        pts = np.round(np.column_stack([px, py]) * _ONE).astype(np.int32)
        if isinstance(f, Polygon):
            cv2.fillPoly(canvas.gmat, [pts], int(f.material), lineType=cv2.LINE_8, shift=SHIFT)
        else:
            thick = max(1, int(round(f.width * s)))
            cv2.polylines(
                canvas.gmat, [pts], False, int(f.material), thickness=thick, lineType=cv2.LINE_8, shift=SHIFT
            )


# --------------------------------------------------------------------------------------------
# Material palettes (site colour, season) and texture banks
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GroundLook:
    """Per-site colour of the materials (jittered once per site) and the season tint of a date."""

    albedo: np.ndarray  # (n_materials, 4)
    texture: np.ndarray  # (n_materials,)
    slabs: np.ndarray  # (n_materials,) uint8
    vegetation: np.ndarray  # (n_materials,)

    @staticmethod
    def make(rng: np.random.Generator, jitter: float = 0.08) -> GroundLook:
        alb = np.array([m.albedo for m in MATERIALS], dtype=np.float64)
        bright = 1.0 + rng.normal(0.0, jitter, size=(len(MATERIALS), 1))
        tint = 1.0 + rng.normal(0.0, jitter * 0.2, size=(len(MATERIALS), 4))
        alb = np.clip(alb * bright * tint, 0.01, 0.9)
        tex = np.array([m.texture for m in MATERIALS]) * rng.uniform(0.7, 1.4, size=len(MATERIALS))
        return GroundLook(
            alb,
            tex,
            np.array([m.slabs for m in MATERIALS], dtype=np.uint8),
            np.array([m.vegetation for m in MATERIALS]),
        )

    def seasonal(self, greenness: float) -> np.ndarray:
        """Albedo with vegetation tint: ``greenness`` -1 (dry, brown) .. +1 (green, spring)."""
        alb = self.albedo.copy()
        v = self.vegetation[:, None]
        green = np.array([0.85, 1.0, 0.72, 1.35])
        dry = np.array([1.0, 1.05, 1.2, 0.95])
        factor = np.where(greenness >= 0, 1 + (green - 1) * greenness, 1 + (dry - 1) * -greenness)
        return np.clip(alb * (1 + v * (factor[None, :] - 1)), 0.01, 0.9)


def _periodic_noise(rng: np.random.Generator, n: int, sigma: float) -> np.ndarray:
    """Gaussian-filtered white noise on a torus (tiles seamlessly), unit variance."""
    white = rng.standard_normal((n, n))
    f = np.fft.fftfreq(n)
    g = np.exp(-2 * (math.pi * sigma) ** 2 * (f[:, None] ** 2 + f[None, :] ** 2))
    out = np.real(np.fft.ifft2(np.fft.fft2(white) * g))
    return out / max(out.std(), 1e-12)


def _to_unit(x: np.ndarray) -> np.ndarray:
    """Rank-normalise to a uniform [0, 1] distribution (thresholds then mean area fractions)."""
    flat = x.ravel()
    ranks = np.empty(flat.size, dtype=np.float64)
    ranks[np.argsort(flat, kind="stable")] = np.arange(flat.size)
    return (ranks / (flat.size - 1)).reshape(x.shape)


@dataclass(frozen=True)
class TextureBank:
    tex1: np.ndarray  # (T1, T1) float32 ~[0, 1], mean 0.5: fine ground texture
    tex2: np.ndarray  # (T2, T2)
    patw: np.ndarray  # (T1, T1) float32 [0, 1] smooth: weathering
    patc: np.ndarray  # (T2, T2) float32 uniform [0, 1] blotches: camouflage


def _ground_texture(rng: np.random.Generator, n: int) -> np.ndarray:
    t = (
        0.45 * _periodic_noise(rng, n, 0.7)
        + 0.35 * _periodic_noise(rng, n, 2.5)
        + 0.45 * _periodic_noise(rng, n, 9.0)
        + 0.35 * _periodic_noise(rng, n, 40.0)
    )
    # sparse dark stains (oil, water marks) and bright flecks
    stains = _periodic_noise(rng, n, 6.0)
    t -= 2.5 * np.clip(stains - 2.2, 0, None)
    t = t / max(t.std(), 1e-9)
    return np.clip(0.5 + 0.17 * t, 0.0, 1.0).astype(np.float32)


@lru_cache(maxsize=4)
def texture_bank(seed: int = 0, size: int = 1024) -> TextureBank:
    """Build (once per process and seed) the periodic textures every window samples from."""
    rng = np.random.default_rng([seed, 0x7E47])
    t1 = _ground_texture(rng, size)
    t2 = _ground_texture(rng, size - 24)  # a different period: their sum does not repeat
    pw = _periodic_noise(rng, size, 3.0) * 0.6 + _periodic_noise(rng, size, 12.0)
    pw = np.clip(0.5 + 0.3 * pw / max(pw.std(), 1e-9), 0, 1).astype(np.float32)
    pc = _periodic_noise(rng, size - 24, 5.0) + 0.5 * _periodic_noise(rng, size - 24, 1.5)
    pc = _to_unit(pc).astype(np.float32)
    return TextureBank(t1, t2, pw, pc)


@dataclass(frozen=True)
class LowField:
    """Large-scale multiplicative brightness variation (patchy soil, old/new pavement, haze
    gradients) defined on a coarse grid in map coordinates, sampled per window."""

    grid: np.ndarray  # (h, w) float32 around 1.0
    x0: float
    y0: float
    cell: float  # metres per grid cell

    @staticmethod
    def make(
        rng: np.random.Generator,
        x0: float,
        y0: float,
        width_m: float,
        height_m: float,
        cell: float = 24.0,
        amplitude: float = 0.08,
    ) -> LowField:
        w = int(math.ceil(width_m / cell)) + 4
        h = int(math.ceil(height_m / cell)) + 4
        n = max(w, h)
        size = 1 << max(4, int(math.ceil(math.log2(n))))
        field_ = _periodic_noise(rng, size, 1.5) + 0.6 * _periodic_noise(rng, size, 5.0)
        field_ = field_ / max(field_.std(), 1e-9)
        grid = (1.0 + amplitude * field_[:h, :w]).astype(np.float32)
        return LowField(grid, x0 - 2 * cell, y0 + 2 * cell, cell)

    def sample(self, view) -> np.ndarray:  # type: ignore[no-untyped-def]
        """(height, width) float32 on the window's output grid (bilinear)."""
        # output pixel (c, r) centre -> map -> grid coords
        a = view.gsd / self.cell
        tx = (view.x0 + 0.5 * view.gsd - self.x0) / self.cell - 0.5
        ty = (self.y0 - view.y0 + 0.5 * view.gsd) / self.cell - 0.5
        M = np.array([[a, 0.0, tx], [0.0, a, ty]], dtype=np.float64)
        return cv2.warpAffine(
            self.grid,
            M,
            (view.width, view.height),
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_REPLICATE,
        )
