"""The fitted change model: everything the per-pixel kernels need, estimated on a sample.

One pass over the pixels needs every whole-image statistic up front, so :func:`fit_model` fits,
on a sample of both dates (raw bands, any bit depth):

* a projection chi2 = sum_i (wx_i . x + wy_i . y + c_i)^2 that follows about chi2(p) over
  unchanged pixels whatever the gain and offset between the dates: the IR-MAD variates
  (``imagery.irmad``), or the whitened difference of AFTER normalised band by band onto BEFORE
  with the IR-MAD regression (``projection`` in change.yaml), re-scaled robustly;
* a brightness ("grey") of each date on BEFORE's radiometric scale, centred on BEFORE's mean
  (float32 box sums of centred values keep the local variances exact enough);
* the levers' constants (texture floor, dark level for shadows, the shadow displacement
  predicted from the two sun geometries);

and :func:`calibrate` then maps the statistic to a significance with a scaled chi-square null
matched to the sample's lower quantiles (see :mod:`detect.change.calibration`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from affine import Affine

from detect.change.calibration import NullModel, fit_null
from detect.change.config import ChangeConfig
from imagery.errors import InputError
from imagery.irmad import fit_irmad, orthogonal_regression


@dataclass(frozen=True)
class SunGeometry:
    """Sun position of one date (degrees; azimuth clockwise from north)."""

    azimuth: float
    elevation: float

    @classmethod
    def from_meta(cls, meta: Any) -> SunGeometry | None:
        az = getattr(meta, "sun_azimuth", None)
        el = getattr(meta, "sun_elevation", None)
        if az is None or el is None or not (0.5 < el <= 90.0):
            return None
        return cls(float(az), float(el))


@dataclass(frozen=True)
class ViewGeometry:
    """Satellite position seen from the target (degrees): tall objects lean away from it."""

    azimuth: float
    zenith: float

    @classmethod
    def from_meta(cls, meta: Any) -> ViewGeometry | None:
        m = getattr(meta, "maxar", meta)
        az = getattr(m, "sat_azimuth", None)
        zen = getattr(m, "view_zenith", None)
        if az is None or zen is None or not (0.0 <= zen < 80.0):
            return None
        return cls(float(az), float(zen))


def _ground_direction(azimuth_deg: float, transform: Affine | None) -> np.ndarray:
    """Unit (col, row) pixel direction of a compass azimuth (north-up unless rotated)."""
    az = math.radians(azimuth_deg)
    east_north = np.array([math.sin(az), math.cos(az)])
    if transform is not None and not (transform.b == 0 and transform.d == 0):
        m = np.array([[transform.a, transform.b], [transform.d, transform.e]])
        d = np.linalg.solve(m, east_north)
        return d / max(float(np.linalg.norm(d)), 1e-12)
    flip = -1.0 if transform is None or transform.e < 0 else 1.0
    return np.array([east_north[0], flip * east_north[1]])


def _line_steps(per_metre_px: np.ndarray, max_height_m: float, max_px: int) -> np.ndarray:
    """Whole-pixel steps (dcol, drow) along ``h * per_metre_px`` for 0 < h <= max_height_m."""
    length = float(np.linalg.norm(per_metre_px)) * max_height_m
    if length < 1.0:
        return np.zeros((0, 2), dtype=np.int32)
    unit = per_metre_px / np.linalg.norm(per_metre_px)
    steps: list[tuple[int, int]] = []
    for k in range(1, int(math.ceil(min(length, max_px))) + 1):
        step = (int(math.floor(k * unit[0] + 0.5)), int(math.floor(k * unit[1] + 0.5)))
        if not steps or steps[-1] != step:
            steps.append(step)
    return np.asarray(steps, dtype=np.int32).reshape(-1, 2)


def shadow_offsets(sun_before: SunGeometry | None, sun_after: SunGeometry | None, *,
                   gsd_m: float, transform: Affine | None, max_height_m: float,
                   max_px: int) -> np.ndarray:
    """Pixel steps (dcol, drow), shape (K, 2), from a pixel in AFTER's shadow to where BEFORE's
    shadow of the same caster point lies, for caster heights up to ``max_height_m``.

    A point at height h casts its shadow at ``P - h v`` with ``v = cot(elevation) * (unit vector
    toward the sun)``; the same point's shadows in the two dates are ``h (v_after - v_before)``
    apart. Empty when a sun geometry is unknown or shadows move less than a pixel.
    """
    if sun_before is None or sun_after is None or gsd_m <= 0:
        return np.zeros((0, 2), dtype=np.int32)

    def toward_sun(sun: SunGeometry) -> np.ndarray:
        return _ground_direction(sun.azimuth, transform) / gsd_m / math.tan(math.radians(sun.elevation))

    return _line_steps(toward_sun(sun_after) - toward_sun(sun_before), max_height_m, max_px)


def lean_offsets(view_before: ViewGeometry | None, view_after: ViewGeometry | None, *,
                 gsd_m: float, transform: Affine | None, max_height_m: float,
                 max_px: int) -> np.ndarray:
    """Pixel steps (dcol, drow) from where a tall point appears in BEFORE to where it appears
    in AFTER, for heights up to ``max_height_m``: an orthoimage shows a point at height h
    displaced by ``h tan(view zenith)`` away from the satellite, so the two dates disagree by
    ``h (lean_after - lean_before)``. Empty when a view geometry is unknown or the difference
    stays under a pixel."""
    if view_before is None or view_after is None or gsd_m <= 0:
        return np.zeros((0, 2), dtype=np.int32)

    def lean(v: ViewGeometry) -> np.ndarray:
        return _ground_direction(v.azimuth + 180.0, transform) / gsd_m * math.tan(math.radians(v.zenith))

    return _line_steps(lean(view_after) - lean(view_before), max_height_m, max_px)


@dataclass(frozen=True)
class PairGeometry:
    """What the metadata of the two dates says about shadows and lean, in grid pixels."""

    sun: tuple[SunGeometry | None, SunGeometry | None] = (None, None)
    view: tuple[ViewGeometry | None, ViewGeometry | None] = (None, None)
    gsd_m: float = 0.5
    transform: Affine | None = None

    @classmethod
    def from_metas(cls, before: Any, after: Any, *, gsd_m: float,
                   transform: Affine | None) -> PairGeometry:
        return cls((SunGeometry.from_meta(before), SunGeometry.from_meta(after)),
                   (ViewGeometry.from_meta(before), ViewGeometry.from_meta(after)), gsd_m, transform)


def search_offsets(config: ChangeConfig, geometry: PairGeometry) -> np.ndarray:
    """The candidate displacements (dcol, drow) of the search, (0, 0) first: the square of
    ``search_radius`` plus the lean line when the lean lever is on and the views differ."""
    r = config.levers["search_radius"]
    offs = [(0, 0)] + [(dx, dy) for dy in range(-r, r + 1) for dx in range(-r, r + 1)
                       if (dx, dy) != (0, 0)]
    if config.levers["lean"]:
        line = lean_offsets(*geometry.view, gsd_m=geometry.gsd_m, transform=geometry.transform,
                            max_height_m=config.lean.max_height_m, max_px=config.lean.max_search_px)
        offs += [(int(a), int(b)) for a, b in line if (int(a), int(b)) not in offs]
    return np.asarray(offs, dtype=np.int32).reshape(-1, 2)


def planned_shadow(config: ChangeConfig, geometry: PairGeometry) -> np.ndarray:
    if not config.levers["shadow"]:
        return np.zeros((0, 2), dtype=np.int32)
    return shadow_offsets(*geometry.sun, gsd_m=geometry.gsd_m, transform=geometry.transform,
                          max_height_m=config.shadow.max_height_m, max_px=config.shadow.max_search_px)


def planned_halo(config: ChangeConfig, geometry: PairGeometry) -> int:
    """The halo a tile needs for this config and geometry (what ChangeModel.halo will be)."""
    lev = config.levers
    reach = int(np.abs(search_offsets(config, geometry)).max())
    near = lev["smooth_radius"] + max(reach, lev["structure_radius"])
    shadow = planned_shadow(config, geometry)
    far = int(np.abs(shadow).max()) + lev["smooth_radius"] if len(shadow) else 0
    return max(near, far)


@dataclass(frozen=True)
class ChangeModel:
    """Constants of the score for one pair. Arrays are float32 (what the kernels read)."""

    bands: tuple[str, ...]
    # MAD projection: m_i = wx_i . x + wy_i . y + c_i, unit variance over unchanged pixels.
    wx: np.ndarray
    wy: np.ndarray
    c: np.ndarray
    cx: np.ndarray  # c split by date so that wx x + cx and wy y + cy are each centred
    cy: np.ndarray
    rho: np.ndarray
    # Brightness on BEFORE's scale, centred on BEFORE's sample mean ``grey_mean``.
    ga: np.ndarray
    gb: np.ndarray
    ga0: float
    gb0: float
    grey_mean: float
    gain: tuple[float, ...]
    offset: tuple[float, ...]
    # Levers.
    offsets: np.ndarray  # (K, 2) int32 search displacements (dcol, drow), (0, 0) first
    search_penalty: float  # added to the chi-square of a shifted match
    structure_radius: int
    structure_c: float
    weight_floor: float
    structure_onset: float  # chi-square level above which the structure damping applies
    add_weight: float
    smooth_radius: int
    shadow: np.ndarray  # (K, 2) int32 steps (dcol, drow); empty = lever off
    dark_level: float  # centred brightness below which a pixel counts as dark
    ratio_max: float
    shadow_weight: float
    no_change_fraction: float
    null: NullModel | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def p(self) -> int:
        return int(self.wx.shape[0])

    @property
    def search_reach(self) -> int:
        return int(np.abs(self.offsets).max()) if len(self.offsets) else 0

    @property
    def halo(self) -> int:
        """Pixels of context a tile needs around its core for an exact score."""
        near = self.smooth_radius + max(self.search_reach, self.structure_radius)
        far = 0
        if len(self.shadow):
            far = int(np.abs(self.shadow).max()) + self.smooth_radius
        return max(near, far)

    @property
    def is_basic(self) -> bool:
        return (len(self.offsets) <= 1 and self.structure_radius == 0 and self.smooth_radius == 0
                and len(self.shadow) == 0 and self.add_weight == 0)

    def with_null(self, null: NullModel | None) -> ChangeModel:
        return replace(self, null=null)

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "bands": list(self.bands),
            "canonical_correlations": [round(float(v), 4) for v in self.rho],
            "no_change_fraction": round(self.no_change_fraction, 4),
            "radiometric": {"gain": [round(v, 6) for v in self.gain],
                            "offset": [round(v, 4) for v in self.offset]},
            "search_candidates": int(len(self.offsets)),
            "search_reach_px": self.search_reach,
            "search_penalty": round(self.search_penalty, 4),
            "structure_radius": self.structure_radius,
            "structure_c": round(self.structure_c, 4),
            "weight_floor": self.weight_floor,
            "structure_onset": round(self.structure_onset, 4),
            "add_weight": self.add_weight,
            "smooth_radius": self.smooth_radius,
            "shadow_steps": int(len(self.shadow)),
            "shadow_reach_px": [int(v) for v in self.shadow[-1]] if len(self.shadow) else None,
            "dark_level": round(self.dark_level + self.grey_mean, 3),
            "null": self.null.to_json_dict() if self.null else None,
            "halo_px": self.halo,
            "notes": list(self.notes),
        }


def _grey_weights(p: int) -> np.ndarray:
    return np.full(p, 1.0 / p)


def _between_levels(values: np.ndarray, q: float, levels: np.ndarray) -> float:
    """The ``q`` quantile of ``values`` moved half-way between two of the ``levels`` BEFORE's
    brightness takes: integer imagery has few distinct levels, and a threshold exactly on one
    would make float32 and float64 implementations disagree about every pixel at that level."""
    level = float(np.quantile(values, q))
    levels = np.unique(levels)
    i = int(np.searchsorted(levels, level, side="right"))
    if 0 < i < levels.size:
        return float((levels[i - 1] + levels[i]) / 2.0)
    return level


def _robust_scale(wx: np.ndarray, wy: np.ndarray, c: np.ndarray, x: np.ndarray, y: np.ndarray, *,
                  integer: bool, noise_floor: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Re-centre each MAD variate on the sample median and re-scale it by the spread of a
    typical unchanged pixel, ``sqrt(MAD^2 + floor^2)``.

    IR-MAD's own variances come from its most invariant pixels. With nearly collinear bands
    (grey tarmac in RGB, JPEG's smoothed chroma) a variate then has almost no variance and
    turns every colour fringe, JPEG block and shadow tint into a huge chi-square. The median
    absolute deviation (robust while under half the sample changed) measures the typical
    pixel instead, and the floor, ``noise_floor`` x each band's robust spread pushed through
    the variate's weights (and at least the 1-DN quantisation of integer data), keeps a variate
    from being measured against less noise than the sensor and the compression leave.
    """
    m = wx @ x + wy @ y + c[:, None]
    med = np.median(m, axis=1)
    mad = 1.4826 * np.median(np.abs(m - med[:, None]), axis=1)

    def band_spread(a: np.ndarray) -> np.ndarray:
        q25, q75 = np.percentile(a, [25, 75], axis=1)
        return np.maximum((q75 - q25) / 1.349, 1e-12)

    sx = noise_floor * band_spread(x)
    sy = noise_floor * band_spread(y)
    floor2 = (wx ** 2) @ (sx ** 2) + (wy ** 2) @ (sy ** 2)
    if integer:
        floor2 = np.maximum(floor2, ((wx ** 2).sum(axis=1) + (wy ** 2).sum(axis=1)) / 12.0)
    scale = np.sqrt(mad ** 2 + floor2)
    scale = np.maximum(scale, 1e-12)
    return wx / scale[:, None], wy / scale[:, None], (c - med) / scale


def _difference_projection(x: np.ndarray, y: np.ndarray, gain: np.ndarray, offset: np.ndarray,
                           keep: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Whitened band-to-band difference: ``d = x - (gain y + offset)`` (AFTER normalised onto
    BEFORE by the IR-MAD regression), chi2 = d' S^-1 d with S the covariance of d over the
    no-change pixels. As a projection: W = C^-1 (S = C C'), wx = W, wy = -W diag(gain),
    c = -W offset.

    Unlike the canonical MAD variates, each band is compared with the same band: when the bands
    are nearly collinear (grey tarmac, JPEG chroma) the weakly correlated canonical directions
    of the two dates are arbitrary, and an unchanged coloured object then differs along them."""
    d = x - (gain[:, None] * y + offset[:, None])
    dk = d[:, keep]
    cov = np.cov(dk) if dk.shape[0] > 1 else np.atleast_2d(dk.var())
    cov = np.atleast_2d(cov) + np.eye(d.shape[0]) * 1e-6 * max(float(np.trace(np.atleast_2d(cov))), 1e-12)
    chol = np.linalg.cholesky(cov)
    wmat = np.linalg.inv(chol)
    return wmat, -wmat * gain[None, :], -(wmat @ offset)


def fit_model(x: np.ndarray, y: np.ndarray, config: ChangeConfig, *,
              bands: tuple[str, ...] | None = None, geometry: PairGeometry | None = None,
              names: tuple[str, str] = ("BEFORE", "AFTER")) -> ChangeModel:
    """Fit the change model on pixel samples ``x`` (BEFORE) and ``y`` (AFTER), both (p, n) raw."""
    integer_data = np.issubdtype(np.asarray(x).dtype, np.integer) and \
        np.issubdtype(np.asarray(y).dtype, np.integer)
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    p = x.shape[0]
    bands = tuple(bands) if bands else tuple(f"band{i + 1}" for i in range(p))
    for arr, name in ((x, names[0]), (y, names[1])):
        if arr.shape[1] and float(arr.std(axis=1).max()) < 1e-6:
            raise InputError(f"{name} has no contrast in the common area (blank, saturated or "
                             "all cloud): nothing to compare")
    mad, w = fit_irmad(x, y)
    rho_max = float(mad.rho.max())
    if rho_max < config.checks.min_correlation:
        raise InputError(f"{names[0]} and {names[1]} share no structure (largest canonical "
                         f"correlation {rho_max:.2f} < {config.checks.min_correlation}): one date "
                         "is cloud-covered, blank, or they do not show the same place")
    keep = w > 0.9
    if keep.sum() < 100:
        keep = w >= np.quantile(w, 0.9)
    gains, offsets = [], []
    for i in range(p):
        g, o, _ = orthogonal_regression(y[i, keep], x[i, keep])
        gains.append(g)
        offsets.append(o)
    if config.projection == "irmad":
        projection = mad.projection()
    else:
        projection = _difference_projection(x, y, np.asarray(gains), np.asarray(offsets), keep)
    wx, wy, c = _robust_scale(*projection, x, y, integer=integer_data,
                              noise_floor=config.noise_floor)
    mean_x = x.mean(axis=1)
    # Weights rounded to float32 first: the kernels use them so, and the dark level must sit
    # between the brightness levels they actually compute.
    gw = _grey_weights(p).astype(np.float32).astype(np.float64)
    grey_a = gw @ x
    mean_a = float(grey_a.mean())
    ga = gw
    gb = (gw * np.asarray(gains)).astype(np.float32).astype(np.float64)
    gb_off = float(gw @ np.asarray(offsets))
    grey_b = gb @ y + gb_off
    ga0, gb0 = -mean_a, gb_off - mean_a
    levers = config.levers
    floor = config.structure.texture_floor
    std_a, std_b = float(grey_a.std()), float(grey_b.std())
    structure_c = max((floor * std_a) * (floor * std_b), 1e-6)
    notes: list[str] = []
    geometry = geometry or PairGeometry()
    shadow = planned_shadow(config, geometry)
    if levers["shadow"]:
        if None in geometry.sun:
            notes.append("shadow lever off: sun azimuth/elevation unknown for a date")
        elif not len(shadow):
            notes.append("shadow lever off: the two sun geometries move shadows by under a pixel")
    search = search_offsets(config, geometry)
    if levers["lean"]:
        if None in geometry.view:
            notes.append("lean search off: satellite azimuth/elevation unknown for a date")
        elif len(search) <= (2 * levers["search_radius"] + 1) ** 2:
            notes.append("lean search off: the two views lean objects by under a pixel")
    dark = _between_levels(np.concatenate([grey_a, grey_b]), config.shadow.dark_quantile, grey_a) - mean_a
    return ChangeModel(
        bands=bands,
        wx=wx.astype(np.float32), wy=wy.astype(np.float32), c=c.astype(np.float32),
        cx=(-(wx @ mean_x)).astype(np.float32), cy=(c + wx @ mean_x).astype(np.float32),
        rho=mad.rho.copy(),
        ga=ga.astype(np.float32), gb=gb.astype(np.float32), ga0=ga0, gb0=gb0, grey_mean=mean_a,
        gain=tuple(float(g) for g in gains), offset=tuple(float(o) for o in offsets),
        offsets=search,
        search_penalty=config.search_penalty_per_band * p,
        structure_radius=int(levers["structure_radius"]),
        structure_c=structure_c,
        weight_floor=config.structure.weight_floor,
        structure_onset=config.structure.onset_per_band * p,
        add_weight=config.structure.add_weight if levers["structure_radius"] else 0.0,
        smooth_radius=int(levers["smooth_radius"]),
        shadow=shadow, dark_level=dark, ratio_max=config.shadow.ratio_max,
        shadow_weight=config.shadow.weight,
        no_change_fraction=float((w > 0.01).mean()),
        notes=tuple(notes),
    )


def calibrate(model: ChangeModel, statistic: np.ndarray, config: ChangeConfig) -> ChangeModel:
    """Attach the null model fitted on the raw statistic of sample pixels (NaN ignored)."""
    values = np.asarray(statistic, dtype=np.float64).ravel()
    values = values[np.isfinite(values)]
    if values.size < 100:
        raise InputError("too few valid pixels shared by both dates to calibrate the change score")
    null = fit_null(values, config.calibration.low_quantile, config.calibration.high_quantile,
                    dof_hint=model.p)
    return model.with_null(null)
