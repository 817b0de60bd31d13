"""Change statistics inside areas: per-zone totals accumulated tile by tile while the score
streams past, and per-polygon statistics read back from a change raster (or an array) for the
object-level change that runs later.

Scores are averaged after clipping at ``score_cap`` (default 10, a 1e-10 false-alarm
probability): beyond that every pixel is "certainly changed", and one very strong pixel must
not outweigh a box full of moderate ones.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from affine import Affine
from rasterio.features import geometry_mask
from rasterio.windows import Window
from shapely.geometry import box
from shapely.geometry.base import BaseGeometry

from imagery.grid import window_bounds

SCORE_CAP = 10.0  # also in detect.change.pixel


@dataclass
class ZoneAccumulator:
    """Running totals of one zone (a polygon in the grid's CRS; ``None`` = everywhere)."""

    name: str
    geometry: BaseGeometry | None
    kind: str = "other"
    weight: float = 1.0
    n_valid: int = 0
    n_changed: int = 0
    score_sum: float = 0.0
    _prepared: bool = field(default=False, repr=False)

    def add(self, score: np.ndarray, mask: np.ndarray, transform: Affine, window: Window,
            score_cap: float = SCORE_CAP) -> None:
        """Add a tile core: ``score`` float32 (NaN nodata), ``mask`` uint8 (1/0/255)."""
        valid = mask != 255
        if self.geometry is not None:
            if not self.geometry.intersects(box(*window_bounds(window, transform))):
                return
            inside = geometry_mask([self.geometry], out_shape=score.shape,
                                   transform=transform @ Affine.translation(window.col_off,
                                                                            window.row_off),
                                   invert=True)
            valid = valid & inside
        n = int(np.count_nonzero(valid))
        if not n:
            return
        self.n_valid += n
        if n == valid.size:  # the usual tile: no copies of the valid pixels
            self.n_changed += int(np.count_nonzero(mask == 1))
            self.score_sum += float(np.minimum(score, score_cap).sum(dtype=np.float64))
            return
        self.n_changed += int(np.count_nonzero(mask[valid] == 1))
        self.score_sum += float(np.minimum(score[valid], score_cap).sum(dtype=np.float64))

    def to_json_dict(self) -> dict[str, Any]:
        frac = self.n_changed / self.n_valid if self.n_valid else None
        score = self.score_sum / self.n_valid if self.n_valid else None
        return {"name": self.name, "kind": self.kind, "weight": self.weight,
                "change_fraction": None if frac is None else round(frac, 6),
                "score": None if score is None else round(score, 4),
                "valid_pixels": self.n_valid, "changed_pixels": self.n_changed}


def zone_accumulators(zones: Sequence[tuple[str, str, float, BaseGeometry]] | None,
                      aoi: BaseGeometry | None = None) -> list[ZoneAccumulator]:
    """One accumulator per site zone, or a single zone "all" (the AOI, or everything)."""
    if not zones:
        return [ZoneAccumulator("all", None if aoi is None else aoi, "all")]
    out = [ZoneAccumulator(name, geom, kind, weight) for name, kind, weight, geom in zones]
    return out


# --------------------------------------------------------------------------------------------
# Per-polygon statistics for object-level change
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class BoxChange:
    """Change evidence inside one polygon."""

    mean_score: float  # mean of the score clipped at score_cap (NaN if no valid pixel)
    max_score: float
    changed_fraction: float  # share of valid pixels flagged as change
    n_valid: int

    def to_json_dict(self) -> dict[str, Any]:
        def r(v: float) -> float | None:
            return None if math.isnan(v) else round(v, 4)
        return {"mean_score": r(self.mean_score), "max_score": r(self.max_score),
                "changed_fraction": r(self.changed_fraction), "valid_pixels": self.n_valid}


def _stats(score: np.ndarray, changed: np.ndarray | None, inside: np.ndarray, level: float,
           score_cap: float) -> BoxChange:
    ok = inside & np.isfinite(score)
    n = int(ok.sum())
    if not n:
        return BoxChange(math.nan, math.nan, math.nan, 0)
    s = score[ok]
    flags = (changed[ok] == 1) if changed is not None else (s >= level)
    return BoxChange(float(np.minimum(s, score_cap).mean()), float(s.max()),
                     float(flags.mean()), n)


def box_change_stats(change: str | os.PathLike[str] | np.ndarray,
                     polygons: Iterable[BaseGeometry], *,
                     mask: str | os.PathLike[str] | np.ndarray | None = None,
                     transform: Affine | None = None, level: float | None = None,
                     score_cap: float = SCORE_CAP, all_touched: bool = True) -> list[BoxChange]:
    """Mean score / changed fraction inside each polygon.

    ``change`` is a ``change.tif`` path (polygons in its CRS; ``change_mask.tif`` beside it is
    used for the changed fraction when ``mask`` is not given) or a score array (polygons in
    pixel coordinates unless ``transform`` maps pixels to their coordinates). Without a mask,
    "changed" means score >= ``level`` (default: the threshold recorded in the raster's tags,
    else 3). Only the window around each polygon is read from a file.
    """
    polys = list(polygons)
    if isinstance(change, np.ndarray):
        score = change
        t = transform or Affine.identity()
        changed = np.asarray(mask) if isinstance(mask, np.ndarray) else None
        lvl = 3.0 if level is None else level
        out = []
        for poly in polys:
            win = _poly_window(poly, t, score.shape)
            if win is None:
                out.append(BoxChange(math.nan, math.nan, math.nan, 0))
                continue
            rs, cs = win
            sub_t = t @ Affine.translation(cs.start, rs.start)
            sub = score[rs, cs]
            inside = geometry_mask([poly], out_shape=sub.shape, transform=sub_t, invert=True,
                                   all_touched=all_touched)
            out.append(_stats(sub, None if changed is None else changed[rs, cs], inside, lvl,
                              score_cap))
        return out
    import rasterio

    path = Path(change)
    mask_path = Path(mask) if mask is not None else path.with_name(path.stem + "_mask" + path.suffix)
    out = []
    with rasterio.open(path) as ds:
        lvl = level
        if lvl is None:
            lvl = float(ds.tags().get("threshold", 3.0))
        mds = rasterio.open(mask_path) if mask_path.exists() else None
        try:
            for poly in polys:
                win = _poly_window(poly, ds.transform, (ds.height, ds.width))
                if win is None:
                    out.append(BoxChange(math.nan, math.nan, math.nan, 0))
                    continue
                rs, cs = win
                w = Window(cs.start, rs.start, cs.stop - cs.start, rs.stop - rs.start)
                sub = ds.read(1, window=w)
                changed = mds.read(1, window=w) if mds is not None else None
                inside = geometry_mask([poly], out_shape=sub.shape, transform=ds.window_transform(w),
                                       invert=True, all_touched=all_touched)
                out.append(_stats(sub, changed, inside, lvl, score_cap))
        finally:
            if mds is not None:
                mds.close()
    return out


def _poly_window(poly: BaseGeometry, transform: Affine, shape: tuple[int, int]
                 ) -> tuple[slice, slice] | None:
    from imagery.geometry import apply_affine

    minx, miny, maxx, maxy = poly.bounds
    cols, rows = apply_affine(~transform, np.array([minx, maxx, maxx, minx]),
                              np.array([miny, miny, maxy, maxy]))
    c0, c1 = max(0, math.floor(cols.min())), min(shape[1], math.ceil(cols.max()))
    r0, r1 = max(0, math.floor(rows.min())), min(shape[0], math.ceil(rows.max()))
    if c1 <= c0 or r1 <= r0:
        return None
    return slice(r0, r1), slice(c0, c1)


def changed_fraction_evidence(change: str | os.PathLike[str] | np.ndarray, **kwargs: Any):
    """An ``evidence(polygons) -> changed fraction per polygon`` callable (NaN where no valid
    pixel), the form :func:`detect.change.objects` takes; ``kwargs`` go to
    :func:`box_change_stats`."""

    def evidence(polygons: Sequence[BaseGeometry]) -> np.ndarray:
        return np.array([b.changed_fraction for b in box_change_stats(change, polygons, **kwargs)],
                        dtype=np.float64)

    return evidence
