"""Tiles defined in map coordinates: :class:`GridSpec` (a pixel lattice in a CRS) and
:class:`TileGrid` (tiles with overlap and core windows over it).

Each pixel of the grid belongs to exactly one tile's *core*; the tile's read *window* is the core
grown by ``overlap`` on every side, always ``tile_size`` square, so models and kernels see a
constant shape and the context they need at tile borders. Edge tiles hang over the grid and are
padded (never dropped, never shrunk). Both dates of a pair are read through the same grid, which
is what makes per-pixel comparison meaningful.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import shapely
from affine import Affine
from rasterio.windows import Window
from shapely.geometry import box
from shapely.geometry.base import BaseGeometry

from imagery.errors import InputError, NoOverlapError
from imagery.geometry import apply_affine


@dataclass(frozen=True)
class GridSpec:
    """A north-up (or any affine) pixel lattice: CRS + transform + size."""

    crs: str | None
    transform: Affine
    width: int
    height: int

    @property
    def res(self) -> tuple[float, float]:
        return (math.hypot(self.transform.a, self.transform.d),
                math.hypot(self.transform.b, self.transform.e))

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        return window_bounds(Window(0, 0, self.width, self.height), self.transform)

    @property
    def footprint(self) -> BaseGeometry:
        return window_polygon(Window(0, 0, self.width, self.height), self.transform)

    def window_transform(self, window: Window) -> Affine:
        return self.transform @ Affine.translation(window.col_off, window.row_off)

    def window_around(self, bounds: tuple[float, float, float, float], pad: int = 0) -> Window | None:
        """The pixel window covering map ``bounds`` (left, bottom, right, top) plus ``pad``
        pixels, clipped to the grid; None when less than 2 x 2 pixels remain."""
        minx, miny, maxx, maxy = bounds
        inv = ~self.transform
        cols, rows = zip(*(inv @ (x, y) for x in (minx, maxx) for y in (miny, maxy)), strict=True)
        c0, r0 = max(math.floor(min(cols)) - pad, 0), max(math.floor(min(rows)) - pad, 0)
        c1, r1 = min(math.ceil(max(cols)) + pad, self.width), min(math.ceil(max(rows)) + pad, self.height)
        if c1 - c0 < 2 or r1 - r0 < 2:
            return None
        return Window(c0, r0, c1 - c0, r1 - r0)

    def same_lattice(self, other: GridSpec, tol: float = 1e-6) -> tuple[int, int] | None:
        """If ``other`` is this lattice shifted by whole pixels, return (dcol, drow) such that
        pixel (c, r) here is pixel (c + dcol, r + drow) there; else ``None``."""
        if self.crs != other.crs:
            return None
        a, b = self.transform, other.transform
        pairs = zip(a[:2] + a[3:5], b[:2] + b[3:5], strict=True)
        if any(abs(x - y) > tol * max(1.0, abs(x)) for x, y in pairs):
            return None
        col, row = apply_affine(~b, a.c, a.f)
        if abs(col - round(col)) > 1e-3 or abs(row - round(row)) > 1e-3:
            return None
        return round(col), round(row)

    def to_json_dict(self) -> dict[str, object]:
        return {"crs": self.crs, "transform": list(self.transform)[:6], "width": self.width,
                "height": self.height, "res": list(self.res), "bounds": list(self.bounds)}

    @classmethod
    def from_bounds(cls, crs: str | None, bounds: tuple[float, float, float, float],
                    res: float) -> GridSpec:
        """A north-up grid of square ``res`` pixels covering ``bounds`` (left, bottom, right, top)."""
        left, bottom, right, top = bounds
        width = max(1, math.ceil((right - left) / res - 1e-9))
        height = max(1, math.ceil((top - bottom) / res - 1e-9))
        return cls(crs, Affine(res, 0.0, left, 0.0, -res, top), width, height)


def window_bounds(window: Window, transform: Affine) -> tuple[float, float, float, float]:
    c0, r0 = window.col_off, window.row_off
    c1, r1 = c0 + window.width, r0 + window.height
    xs, ys = apply_affine(transform, np.array([c0, c1, c1, c0]), np.array([r0, r0, r1, r1]))
    return float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max())


def window_polygon(window: Window, transform: Affine) -> BaseGeometry:
    c0, r0 = window.col_off, window.row_off
    c1, r1 = c0 + window.width, r0 + window.height
    xs, ys = apply_affine(transform, np.array([c0, c1, c1, c0]), np.array([r0, r0, r1, r1]))
    return shapely.Polygon(np.column_stack([xs, ys]))


@dataclass(frozen=True)
class Tile:
    """One tile: the ``window`` to read (grid pixels, may hang over the edge) and its ``core``."""

    index: int
    row: int
    col: int
    window: Window
    core: Window
    transform: Affine  # map transform of the window's top-left pixel

    @property
    def core_slices(self) -> tuple[slice, slice]:
        """Row/col slices of the core inside an array read for ``window``."""
        r0 = int(self.core.row_off - self.window.row_off)
        c0 = int(self.core.col_off - self.window.col_off)
        return slice(r0, r0 + int(self.core.height)), slice(c0, c0 + int(self.core.width))

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.window.height), int(self.window.width)


class TileGrid:
    """Square tiles of ``tile_size`` pixels with ``overlap`` pixels of context on each side.

    ``aoi`` (a shapely geometry in the grid's CRS) keeps only tiles whose core meets it;
    :meth:`aoi_mask` gives the per-pixel AOI mask of a tile for stages that need it.
    """

    def __init__(self, grid: GridSpec, tile_size: int = 1024, overlap: int = 64,
                 aoi: BaseGeometry | None = None) -> None:
        if tile_size <= 0 or overlap < 0:
            raise InputError(f"tile size must be > 0 and overlap >= 0 (got {tile_size}, {overlap})")
        if tile_size - 2 * overlap < 16:
            raise InputError(f"overlap {overlap} leaves no core in a {tile_size} px tile")
        self.grid = grid
        self.tile_size = tile_size
        self.overlap = overlap
        self.core_size = tile_size - 2 * overlap
        self.aoi = aoi
        self.n_rows = math.ceil(grid.height / self.core_size)
        self.n_cols = math.ceil(grid.width / self.core_size)
        if aoi is not None and (aoi.is_empty or not aoi.intersects(grid.footprint)):
            raise NoOverlapError("the area of interest does not overlap the image")
        self._tiles = list(self._build())
        if not self._tiles:
            raise NoOverlapError("no tile of the grid meets the area of interest")

    def _build(self) -> Iterator[Tile]:
        cs, ov, g = self.core_size, self.overlap, self.grid
        prepared = None
        if self.aoi is not None:
            prepared = self.aoi
            shapely.prepare(prepared)
        index = 0
        for r in range(self.n_rows):
            for c in range(self.n_cols):
                core = Window(c * cs, r * cs, min(cs, g.width - c * cs), min(cs, g.height - r * cs))
                if prepared is not None and not prepared.intersects(window_polygon(core, g.transform)):
                    continue
                window = Window(core.col_off - ov, core.row_off - ov, self.tile_size, self.tile_size)
                yield Tile(index, r, c, window, core, g.window_transform(window))
                index += 1

    def __len__(self) -> int:
        return len(self._tiles)

    def __iter__(self) -> Iterator[Tile]:
        return iter(self._tiles)

    def __getitem__(self, i: int) -> Tile:
        return self._tiles[i]

    def aoi_mask(self, tile: Tile) -> np.ndarray:
        """True where a pixel of the tile's window lies inside the AOI (all True without one)."""
        if self.aoi is None:
            return np.ones(tile.shape, dtype=bool)
        from rasterio.features import geometry_mask

        return geometry_mask([self.aoi], out_shape=tile.shape, transform=tile.transform,
                             invert=True, all_touched=False)

    def core_coverage(self) -> np.ndarray:
        """How many cores claim each grid pixel (a test/diagnostic: must be all ones without AOI)."""
        cover = np.zeros((self.grid.height, self.grid.width), dtype=np.uint16)
        for t in self:
            cover[int(t.core.row_off):int(t.core.row_off + t.core.height),
                  int(t.core.col_off):int(t.core.col_off + t.core.width)] += 1
        return cover

    @property
    def core_bounds_polygon(self) -> BaseGeometry:
        return box(*self.grid.bounds)
