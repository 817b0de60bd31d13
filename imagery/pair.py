"""Two dates of one site on one grid: :class:`ScenePair`.

The grid is the BEFORE image's pixel lattice (cropped to the AOI when one is given) or a chosen
CRS/GSD. AFTER is read onto it directly when it already lies on that lattice and through a
``WarpedVRT`` otherwise. Construction measures, on samples only (never a full read): the
overlap, a global sub-pixel shift (phase correlation, coarse to fine) and a relative
radiometric model (IR-MAD no-change pixels -> per-band orthogonal regression). Tiles are then
streamed with the shift folded into AFTER's warp and the radiometric model applied per tile.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import shapely
from affine import Affine
from rasterio.windows import Window
from shapely.geometry.base import BaseGeometry

from imagery.aoi import load_aoi, reproject_geometry
from imagery.blocks import Warmup
from imagery.coreg import (
    ShiftEstimate,
    combine_window_shifts,
    normalised_correlation,
    phase_shift,
    texture_score,
)
from imagery.crs import is_geographic, metric_crs
from imagery.errors import InputError, NoOverlapError
from imagery.geometry import apply_affine
from imagery.grid import GridSpec, TileGrid, window_polygon
from imagery.irmad import RadiometricModel, fit_radiometric_normalisation
from imagery.radiometry import sample_windows
from imagery.reader import TileData, iter_tiles
from imagery.scene import PixelModeWarning, Scene, open_scene
from imagery.sources import GridSource, SceneSource, source_on_grid

if TYPE_CHECKING:
    from imagery.config import SiteConfig

CANONICAL_BANDS = ("C", "B", "G", "Y", "R", "RE", "N", "N2", "P")


@dataclass(frozen=True)
class BandMapping:
    """Which band of each date carries the same light: 1-based indexes and shared names."""

    names: tuple[str, ...]
    before: tuple[int, ...]
    after: tuple[int, ...]


def map_bands(a: Scene, b: Scene) -> tuple[BandMapping, list[str]]:
    """Match bands by name when both name them (Maxar band ids or colour interpretation);
    otherwise 1:1 when the counts agree; otherwise fail."""
    notes: list[str] = []
    ia, ib = a.meta.data_bands, b.meta.data_bands
    na = [a.meta.band_names[i - 1] for i in ia]
    nb = [b.meta.band_names[i - 1] for i in ib]
    if na == nb:
        return BandMapping(tuple(na), ia, ib), notes
    if set(na) <= set(CANONICAL_BANDS) and set(nb) <= set(CANONICAL_BANDS):
        common = [n for n in na if n in nb]
        if not common:
            raise InputError(f"band sets cannot be mapped: {a.path} has {','.join(na)}, "
                             f"{b.path} has {','.join(nb)}")
        if len(common) < max(len(na), len(nb)):
            notes.append(f"using the {len(common)} bands both dates share: {','.join(common)}")
        return BandMapping(tuple(common), tuple(ia[na.index(n)] for n in common),
                           tuple(ib[nb.index(n)] for n in common)), notes
    if len(ia) == len(ib):
        names = tuple(n if n == m else f"band{k + 1}" for k, (n, m) in enumerate(zip(na, nb, strict=False)))
        return BandMapping(names, ia, ib), notes
    raise InputError(f"band counts differ and the bands are not named, so they cannot be mapped: "
                     f"{a.path} has {len(ia)}, {b.path} has {len(ib)}")


def _footprint(scene: Scene) -> BaseGeometry:
    m = scene.meta
    return window_polygon(Window(0, 0, m.width, m.height), m.transform).segmentize(
        max(m.width, m.height) * max(abs(m.transform.a), abs(m.transform.e)) / 16)


def _grey(data: np.ndarray) -> np.ndarray:
    return data.astype(np.float32).mean(axis=0)


@dataclass
class PairTile:
    """A tile of both dates on the pair's grid. ``after`` is on BEFORE's radiometric scale
    (float32) when the pair normalises, else raw."""

    data: TileData

    @property
    def tile(self):
        return self.data.tile

    @property
    def before(self) -> np.ndarray:
        return self.data.arrays[0]

    @property
    def after(self) -> np.ndarray:
        return self.data.arrays[1]

    @property
    def valid(self) -> np.ndarray:
        return self.data.valid


class ScenePair:
    """BEFORE and AFTER on one grid, co-registered and radiometrically matched.

    Parameters
    ----------
    before, after: scenes or paths.
    aoi: GeoJSON path, site name/path, :class:`SiteConfig` or shapely geometry (lon/lat unless
        ``aoi_crs`` says otherwise); the grid is cropped to it and tiles outside are skipped.
    crs, gsd: put both dates on a new grid in this CRS / at this GSD (metres) instead of
        BEFORE's own lattice.
    coregister: estimate and apply a global sub-pixel shift of AFTER.
    normalise: fit the radiometric model (AFTER onto BEFORE).
    min_quality: shifts measured with a lower quality are reported but not applied.
    prefetch_bytes: when > 0, a thread decodes up to this much of each date's top rows while
        the pair aligns (and whatever runs next), for a stream over the whole grid to find;
        :meth:`stop_prefetch` ends it (a stream should, before it starts).
    """

    def __init__(
        self,
        before: Scene | str | Path,
        after: Scene | str | Path,
        *,
        aoi: str | Path | BaseGeometry | SiteConfig | None = None,
        aoi_crs: str | None = "EPSG:4326",
        crs: str | None = None,
        gsd: float | None = None,
        coregister: bool = True,
        normalise: bool = True,
        min_quality: float = 0.2,
        max_shift_px: float = 64.0,
        fine_window: int = 512,
        n_windows: int = 8,
        pixel_gsd: float | None = None,
        prefetch_bytes: int = 0,
    ) -> None:
        self.warnings: list[str] = []
        self.before = before if isinstance(before, Scene) else open_scene(before, gsd=pixel_gsd)
        self.after = after if isinstance(after, Scene) else open_scene(after, gsd=pixel_gsd)
        a, b = self.before.meta, self.after.meta
        if a.georeferenced != b.georeferenced:
            geo, raw = (a, b) if a.georeferenced else (b, a)
            raise InputError(f"{raw.path} has no georeference but {geo.path} has one: "
                             "give both dates a CRS, or neither")
        self.pixel_mode = not a.georeferenced
        if self.pixel_mode:
            self._warn("neither image is georeferenced: aligning in pixel coordinates",
                       PixelModeWarning)
        self.bands, notes = map_bands(self.before, self.after)
        for n in notes:
            self._warn(n)
        self.max_shift_px = max_shift_px
        self.grid = self._choose_grid(aoi, aoi_crs, crs, gsd)
        self.overlap_fraction = self._footprint_overlap()
        self._src_a = source_on_grid(self.before, self.grid, self.bands.before)
        self._src_b0 = source_on_grid(self.after, self.grid, self.bands.after)
        self._warmup = self._start_warmup(prefetch_bytes) if prefetch_bytes > 0 else None
        self._overview = self._read_overview()
        self.shift = ShiftEstimate.zero()
        self.shift_applied = False
        if coregister:
            self.shift = self._estimate_shift(fine_window, n_windows)
            if math.hypot(self.shift.dx, self.shift.dy) > max_shift_px:
                self._warn(f"measured misregistration ({self.shift.dx:.1f}, {self.shift.dy:.1f}) px "
                           f"exceeds the search range of {max_shift_px:g} px")
            if self.shift.quality >= min_quality:
                self.shift_applied = True
            else:
                self._warn(f"co-registration is unreliable (quality {self.shift.quality:.2f}); "
                           "shift not applied")
        shift = (self.shift.dx, self.shift.dy) if self.shift_applied else (0.0, 0.0)
        self._src_b = source_on_grid(self.after, self.grid, self.bands.after, shift_px=shift)
        self.radiometry = RadiometricModel.identity(self.bands.names)
        if normalise:
            self.radiometry = self._fit_radiometry()

    # ------------------------------------------------------------------------------------
    def _warn(self, message: str, category: type[Warning] = UserWarning) -> None:
        self.warnings.append(message)
        warnings.warn(message, category, stacklevel=3)

    def _choose_grid(self, aoi: Any, aoi_crs: str | None, crs: str | None,
                     gsd: float | None) -> GridSpec:
        a = self.before.meta
        if self.pixel_mode and (crs is not None):
            raise InputError("cannot reproject images that have no georeference")
        own = GridSpec(a.crs, a.transform, a.width, a.height)
        if crs is None and gsd is None:
            grid = own
        else:
            target = crs or a.crs
            foot = reproject_geometry(_footprint(self.before), a.crs, target)
            res = gsd if gsd is not None else a.gsd_m
            if target is not None and is_geographic(target) and gsd is not None:
                raise InputError("--gsd in metres needs a projected CRS for the common grid")
            if target is not None and is_geographic(target):
                res = min(abs(a.transform.a), abs(a.transform.e)) if a.crs == target else \
                    res / 111_320.0
            grid = GridSpec.from_bounds(target, foot.bounds, res)
        self.aoi: BaseGeometry | None = None
        if aoi is not None:
            geom = load_aoi(aoi, grid.crs, crs=None if self.pixel_mode else aoi_crs)
            if not geom.intersects(grid.footprint):
                raise NoOverlapError(f"the area of interest does not overlap {a.path}")
            self.aoi = geom
            grid = crop_grid(grid, geom)
        return grid

    def _footprint_overlap(self) -> float:
        a, b = self.before.meta, self.after.meta
        fb = reproject_geometry(_footprint(self.after), b.crs, self.grid.crs)
        area = self.grid.footprint
        if self.aoi is not None:
            area = area.intersection(self.aoi)
        inter = area.intersection(fb)
        if inter.is_empty or inter.area <= 0:
            raise NoOverlapError(f"{a.path} and {b.path} do not overlap")
        return float(min(1.0, inter.area / area.area))

    def _read_overview(self, max_side: int = 1024) -> dict[str, Any]:
        g = self.grid
        f = max(1, math.ceil(max(g.width, g.height) / max_side))
        shape = (max(1, g.height // f), max(1, g.width // f))
        full = Window(0, 0, g.width, g.height)
        da, va = self._src_a.read(full, out_shape=shape)
        db, vb = self._src_b0.read(full, out_shape=shape)
        if self.aoi is not None:
            from rasterio.features import geometry_mask
            t = g.transform @ Affine.scale(g.width / shape[1], g.height / shape[0])
            inside = geometry_mask([self.aoi], out_shape=shape, transform=t, invert=True)
            va, vb = va & inside, vb & inside
        if not va.any():
            raise InputError(f"{self.before.path}: no valid pixels (all nodata) in the common area")
        if not vb.any():
            raise InputError(f"{self.after.path}: no valid pixels (all nodata) in the common area")
        both = va & vb
        if not both.any():
            raise NoOverlapError(f"{self.before.path} and {self.after.path} have no valid pixels "
                                 "in common")
        self.overlap_fraction = float(both.sum() / va.sum())
        return {"factor": f, "a": _grey(da), "b": _grey(db), "va": va, "vb": vb, "both": both}

    def _estimate_shift(self, window: int, n_windows: int) -> ShiftEstimate:
        ov = self._overview
        f = ov["factor"]
        coarse = (0, 0)
        if f > 1:
            cdx, cdy = phase_shift(ov["a"], ov["b"], ref_valid=ov["both"], mov_valid=ov["both"],
                                   upsample=1)
            coarse = (round(cdx * f), round(cdy * f))
        g = self.grid
        size = int(min(window, g.width, g.height))
        if size < 32:
            raise InputError(f"the common area ({g.width}x{g.height} px) is too small to "
                             "co-register; pass --no-coregister")
        wins = self._textured_windows(size, n_windows)
        moved = source_on_grid(self.after, g, self.bands.after, shift_px=coarse)
        results: list[tuple[float, float, float]] = []
        details: list[dict[str, float]] = []
        for w in wins:
            da, va = self._src_a.read(w)
            db, vb = moved.read(w)
            both = va & vb
            if both.mean() < 0.8:
                continue
            ga, gb = _grey(da), _grey(db)
            if ga[both].std() < 1e-6 or gb[both].std() < 1e-6:
                continue
            dx, dy = phase_shift(ga, gb, ref_valid=both, mov_valid=both)
            ncc = normalised_correlation(ga, gb, dx, dy, both)
            results.append((dx + coarse[0], dy + coarse[1], ncc))
            details.append({"col": int(w.col_off), "row": int(w.row_off), "dx": round(dx + coarse[0], 4),
                            "dy": round(dy + coarse[1], 4), "ncc": round(ncc, 4)})
        if not results:
            self._warn("no textured area shared by both dates: co-registration skipped")
            return ShiftEstimate(0.0, 0.0, 0.0, 0, coarse)
        dx, dy, q = combine_window_shifts(results)
        return ShiftEstimate(dx, dy, q, len(results), coarse, details)

    def _textured_windows(self, size: int, n: int) -> list[Window]:
        """The ``n`` most textured, non-overlapping windows where both dates have data."""
        ov = self._overview
        f = ov["factor"]
        score = texture_score(ov["a"]) * ov["both"]
        k = max(1, size // f)
        g = self.grid
        # Texture summed over a window around every overview pixel.
        from scipy.ndimage import uniform_filter
        dens = uniform_filter(score, size=k, mode="constant")
        valid_frac = uniform_filter(ov["both"].astype(np.float32), size=k, mode="constant")
        dens[valid_frac < 0.9] = 0
        # Greedy: the densest window, then the densest one clear of it, and so on. One argmax
        # per window (a Python walk down the sorted pixels spent a second skipping the
        # neighbours of each chosen window).
        chosen: list[Window] = []
        while len(chosen) < n:
            idx = int(np.argmax(dens))
            if dens.flat[idx] <= 0:
                break
            r, c = np.unravel_index(idx, dens.shape)
            col = int(np.clip(c * f - size // 2, 0, g.width - size))
            row = int(np.clip(r * f - size // 2, 0, g.height - size))
            chosen.append(Window(col, row, size, size))
            dens[max(0, r - k):r + k + 1, max(0, c - k):c + k + 1] = 0
        if not chosen:
            chosen = [Window((g.width - size) // 2, (g.height - size) // 2, size, size)]
        return chosen

    def _fit_radiometry(self, max_pixels: int = 300_000) -> RadiometricModel:
        g = self.grid
        size = int(min(256, g.width, g.height))
        xs: list[np.ndarray] = []
        ys: list[np.ndarray] = []
        for w in sample_windows(g.width, g.height, n=36, size=size, seed=1):
            da, va = self._src_a.read(w)
            db, vb = self._src_b.read(w)
            both = va & vb
            if self.aoi is not None:
                from rasterio.features import geometry_mask
                both &= geometry_mask([self.aoi], out_shape=both.shape,
                                      transform=g.window_transform(w), invert=True)
            # Compare 4x4 block means: what the radiometric model should capture is gain and
            # offset, not the sharpness lost to resampling or a residual sub-pixel shift.
            da, db, both = _block_mean(da, 4), _block_mean(db, 4), _block_all(both, 4)
            if both.any():
                xs.append(da[:, both])
                ys.append(db[:, both])
        if not xs:
            raise InputError("no pixels shared by both dates to fit the radiometric model")
        before = np.concatenate(xs, axis=1)
        after = np.concatenate(ys, axis=1)
        # Saturated or zero pixels carry no radiometric information.
        if after.shape[1] >= 1000:
            keep = np.all(after > after.min(axis=1, keepdims=True), axis=0)
            before, after = before[:, keep], after[:, keep]
        if before.shape[1] > max_pixels:
            idx = np.random.default_rng(0).choice(before.shape[1], max_pixels, replace=False)
            before, after = before[:, idx], after[:, idx]
        model, _ = fit_radiometric_normalisation(before.astype(np.float64),
                                                 after.astype(np.float64), self.bands.names)
        return model

    # ------------------------------------------------------------------------------------
    @property
    def metric_crs(self) -> str | None:
        """The projected CRS in which the two dates' objects are compared: the grid's own,
        or the UTM zone of its centre when the grid is geographic (None in pixel mode)."""
        return metric_crs(self.grid.crs, self.grid.bounds)

    @property
    def grid_gsd_m(self) -> float:
        """Ground size of a grid pixel in metres, whatever the grid's units."""
        if self.grid.crs is None:
            return self.before.meta.gsd_m
        rx, ry = self.grid.res
        if not is_geographic(self.grid.crs):
            return math.sqrt(rx * ry)
        lat = math.radians((self.grid.bounds[1] + self.grid.bounds[3]) / 2.0)
        return math.sqrt(rx * 111_320.0 * math.cos(lat) * ry * 110_574.0)

    def _start_warmup(self, max_bytes: int) -> Warmup | None:
        jobs = []
        for src in (self._src_a, self._src_b0):
            if isinstance(src, SceneSource):  # warped sources have no block cache
                dc, dr = src.offset
                jobs.append((src.cache, Window(dc, dr, self.grid.width, self.grid.height)))
        return Warmup(jobs, max_bytes) if jobs else None

    def stop_prefetch(self) -> int:
        """End the warm-up of ``prefetch_bytes``; the number of blocks it decoded."""
        warmup, self._warmup = getattr(self, "_warmup", None), None
        return warmup.stop() if warmup is not None else 0

    @property
    def sources(self) -> tuple[GridSource, GridSource]:
        """(BEFORE, AFTER) readers on the grid; AFTER with the shift applied."""
        return self._src_a, self._src_b

    def tile_grid(self, tile_size: int = 1024, overlap: int = 64) -> TileGrid:
        return TileGrid(self.grid, tile_size, overlap, aoi=self.aoi)

    def tiles(self, tile_size: int = 1024, overlap: int = 64, *, normalised: bool = True,
              workers: int = 2, prefetch: int = 4, grid: TileGrid | None = None
              ) -> Iterator[PairTile]:
        """Stream both dates tile by tile (tiles with no valid pixel in both are skipped)."""
        grid = grid or self.tile_grid(tile_size, overlap)
        for td in iter_tiles(grid, self.sources, workers=workers, prefetch=prefetch):
            if normalised and self.radiometry.method != "identity":
                after = self.radiometry.apply(td.arrays[1])
                td = TileData(td.tile, (td.arrays[0], after), td.valid)
            yield PairTile(td)

    def shift_m(self) -> tuple[float, float]:
        """The shift as a map displacement (easting, northing); pixels in pixel mode."""
        t = self.grid.transform
        dx, dy = self.shift.dx, self.shift.dy
        return (t.a * dx + t.b * dy, t.d * dx + t.e * dy)

    def to_json_dict(self) -> dict[str, Any]:
        """The ``posturewatch align --json`` object (keys documented in the README)."""
        sm = self.shift_m()
        gsd = self.before.meta.gsd_m
        return {
            "before": self.before.meta.to_json_dict(),
            "after": self.after.meta.to_json_dict(),
            "pixel_mode": self.pixel_mode,
            "grid": self.grid.to_json_dict(),
            "bands": list(self.bands.names),
            "overlap_fraction": round(self.overlap_fraction, 4),
            "shift_px": [round(self.shift.dx, 4), round(self.shift.dy, 4)],
            "shift_m": [round(sm[0] if not self.pixel_mode else sm[0] * gsd, 4),
                        round(sm[1] if not self.pixel_mode else -sm[1] * gsd, 4)],
            "quality": round(self.shift.quality, 4),
            "shift_applied": self.shift_applied,
            "shift_windows": self.shift.n_windows,
            "coarse_shift_px": list(self.shift.coarse),
            "radiometric": self.radiometry.to_json_dict(),
            "warnings": list(self.warnings),
        }


def _block_mean(data: np.ndarray, k: int) -> np.ndarray:
    b, h, w = data.shape
    h2, w2 = h // k, w // k
    return data[:, :h2 * k, :w2 * k].reshape(b, h2, k, w2, k).mean(axis=(2, 4))


def _block_all(mask: np.ndarray, k: int) -> np.ndarray:
    h2, w2 = mask.shape[0] // k, mask.shape[1] // k
    return mask[:h2 * k, :w2 * k].reshape(h2, k, w2, k).all(axis=(1, 3))


def crop_grid(grid: GridSpec, geom: BaseGeometry, align: int = 1) -> GridSpec:
    """The part of ``grid``'s lattice covering ``geom`` (whole pixels, inside the grid).

    ``align``: the crop's first row and column are moved back to a multiple of this (a
    strided network's coarsest stride), so that an object falls at the same phase of the
    network's subsampling whatever area of interest is drawn around it; a detector without
    anti-aliasing scores an object differently 8 px apart (benchmarks/detector_shift.py)."""
    inv = ~grid.transform
    minx, miny, maxx, maxy = geom.bounds
    cols, rows = apply_affine(inv, np.array([minx, maxx, maxx, minx]),
                              np.array([miny, miny, maxy, maxy]))
    c0 = max(0, math.floor(cols.min()))
    r0 = max(0, math.floor(rows.min()))
    c1 = min(grid.width, math.ceil(cols.max()))
    r1 = min(grid.height, math.ceil(rows.max()))
    if c1 <= c0 or r1 <= r0:
        raise NoOverlapError("the area of interest does not overlap the image")
    c0, r0 = c0 - c0 % align, r0 - r0 % align
    return GridSpec(grid.crs, grid.transform @ Affine.translation(c0, r0), c1 - c0, r1 - r0)


__all__ = ["BandMapping", "PairTile", "ScenePair", "crop_grid", "map_bands", "shapely"]
