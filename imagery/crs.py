"""Coordinate reference systems: comparing them, and the metric frame a pair is compared in.

Two dates of one site do not always come in one CRS (a UTM product beside a geographic one, or
two UTM zones either side of a zone edge: Khmeimim, at 35.9 E, is 0.1 degree from the 36/37
boundary). Everything that measures in metres across the dates (object matching, box reading)
therefore works in one projected CRS, and anything read from a raster is first brought into
that raster's own CRS.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np


def same_crs(a: str | None, b: str | None) -> bool:
    """Whether two CRSs (EPSG strings, WKT, None for pixel mode) are the same system."""
    if a is None or b is None:
        return a is None and b is None
    if a == b:
        return True
    from pyproj import CRS

    return CRS.from_user_input(a) == CRS.from_user_input(b)


def is_geographic(crs: str | None) -> bool:
    if crs is None:
        return False
    from pyproj import CRS

    return CRS.from_user_input(crs).is_geographic


def utm_crs(lon: float, lat: float) -> str:
    """The WGS84 UTM zone (EPSG code) of a lon/lat point."""
    zone = int(math.floor((lon + 180.0) / 6.0)) % 60 + 1
    return f"EPSG:{(32600 if lat >= 0 else 32700) + zone}"


def metric_crs(crs: str | None, bounds: tuple[float, float, float, float]) -> str | None:
    """``crs`` itself when it is projected (or None: pixel mode); for a geographic CRS the
    UTM zone of the centre of ``bounds`` (given in that CRS)."""
    if crs is None or not is_geographic(crs):
        return crs
    left, bottom, right, top = bounds
    return utm_crs((left + right) / 2.0, (bottom + top) / 2.0)


def transformer(src: str, dst: str) -> Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """``f(xs, ys) -> (xs, ys)`` from ``src`` to ``dst`` (x/y order = lon/lat when geographic)."""
    from pyproj import CRS, Transformer

    tr = Transformer.from_crs(CRS.from_user_input(src), CRS.from_user_input(dst), always_xy=True)

    def f(xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x, y = tr.transform(np.asarray(xs, np.float64), np.asarray(ys, np.float64))
        return np.asarray(x, np.float64), np.asarray(y, np.float64)

    return f
