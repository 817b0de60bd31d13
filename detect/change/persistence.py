"""Is the object still there? Appearance persistence of a box between the two dates.

The changed fraction of a box (``detect.change.stats``) cannot tell a departed aircraft from a
parked one: shadows swing with the sun and tall parts lean with the view, so on a steady pair
40-75% of every aircraft's box is flagged as changed. The *pattern* inside the box survives
those differences, though: the normalised cross-correlation (NCC) of the grey levels inside
the box, before against after, is 0.8-0.9 for parked fighters and transports and 0.5-0.65 even
across the demo pair's larger sun and view change, while a box whose aircraft has left holds
bare pavement on one date and correlates at 0.2-0.4 (synthetic Khmeimim pairs). NCC ignores
gain and offset, so it needs no radiometric model, but the pair's is applied anyway.

Lean moves the box's content between dates (a fuselage and wings 4 m up shift 2.5 m between
views 7 and 30 deg off nadir), which pulls the NCC of a parked wide-body down to 0.18, the level
of an empty box (synthetic steady pair, seed 13). So the after window is searched over whole-
pixel shifts up to the relative lean of that height between the two views
(:func:`lean_search_m`, from the acquisition metadata) and the best correlation is kept: a
parked aircraft realigns, bare pavement has no pattern to realign with (the departed fighters
of the withdrawal pairs, seeds 0 and 1, stay at 0.14-0.40 against the 0.45 threshold).

Taller things move further: a tree's crown or a roof leans metres, and the shadow a tree casts
swings with the sun, so a grove whose crowns and shadows lined up into an aircraft-like blob on
one date was "a Su-25 arrived" (synthetic steady pair, seed 23: NCC 0.44 within the 4 m disc,
0.61 at the shift its 8 m crowns' lean and shadows predict). For the presence check the search
also walks the two lines the acquisition geometry gives (:func:`geometry_lines`): where the
image of a point ``h`` metres up moves between the views, and where its shadow moves between
the suns, for heights up to a cap. A line is one-dimensional, so it adds few chances for bare
pavement to correlate by luck (departed fighters of withdrawal seeds 0-15: best 0.41 with the
lines to 12 m, 0.42 without).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from rasterio.features import geometry_mask
from rasterio.windows import Window
from shapely.geometry.base import BaseGeometry

from imagery.coreg import pearson

MIN_PIXELS = 12  # fewer pixels than this inside the grid: no figure (NaN)


def _lean_per_metre(scene: Any) -> tuple[float, float] | None:
    """Where a point 1 m up appears, relative to its foot (east, north, metres):
    ``tan(view zenith)`` away from the satellite's azimuth; None without the view angles."""
    meta = scene.meta.maxar
    if meta is None or meta.view_zenith is None or meta.sat_azimuth is None:
        return None
    t = math.tan(math.radians(meta.view_zenith))
    az = math.radians(meta.sat_azimuth)
    return -t * math.sin(az), -t * math.cos(az)


def _shadow_per_metre(scene: Any) -> tuple[float, float] | None:
    """Where the shadow of a point 1 m up falls, relative to its foot (east, north, metres):
    ``1 / tan(sun elevation)`` away from the sun; None without the sun angles."""
    az, el = scene.meta.sun_azimuth, scene.meta.sun_elevation
    if az is None or el is None:
        return None
    t = 1.0 / math.tan(math.radians(min(max(el, 5.0), 85.0)))
    return -t * math.sin(math.radians(az)), -t * math.cos(math.radians(az))


def lean_search_m(pair: Any, height_m: float, *, fallback_m: float, floor_m: float = 1.0,
                  cap_m: float = 4.0) -> float:
    """How far a point ``height_m`` above the ground moves between the two views: the
    difference of the dates' lean vectors (``height x tan(view zenith)``, away from the
    satellite's azimuth), kept within [``floor_m``, ``cap_m``]; ``fallback_m`` when either
    date lacks its view angles."""
    a, b = _lean_per_metre(pair.before), _lean_per_metre(pair.after)
    if a is None or b is None:
        return fallback_m
    return min(max(height_m * math.dist(a, b), floor_m), cap_m)


def geometry_lines(pair: Any) -> list[tuple[float, float]]:
    """Per metre of height, how far (east, north, in metres) a point's image moves from BEFORE
    to AFTER (the change of lean) and how far its shadow's tip moves (the change of the sun).
    Empty when either date lacks the angles, or in pixel mode (no map north to turn them into
    pixels)."""
    if pair.pixel_mode:
        return []
    ends = [f(scene) for f in (_lean_per_metre, _shadow_per_metre)
            for scene in (pair.before, pair.after)]
    if any(e is None for e in ends):
        return []
    lean_a, lean_b, shadow_a, shadow_b = ends
    return [(lean_b[0] - lean_a[0], lean_b[1] - lean_a[1]),
            (shadow_b[0] - shadow_a[0], shadow_b[1] - shadow_a[1])]


def _shifts(pair: Any, search_m: float, lines: Sequence[tuple[float, float]],
            height_m: float) -> list[tuple[int, int]]:
    """Whole-pixel (column, row) shifts of the after window: the square of ``search_m`` plus
    each line walked from height 0 to ``height_m`` in steps of at most a pixel."""
    gsd = pair.grid_gsd_m
    s = int(round(search_m / gsd)) if search_m > 0 else 0
    shifts = {(dx, dy) for dy in range(-s, s + 1) for dx in range(-s, s + 1)}
    if height_m > 0:
        # (east, north) metres -> (column, row) pixels through the grid's orientation
        inv = ~pair.grid.transform
        unit = abs(pair.grid.transform.a) / gsd
        for east, north in lines:
            n = int(math.ceil(height_m * math.hypot(east, north) / gsd))
            for k in range(1, n + 1):
                h = height_m * k / n * unit
                dc = inv.a * east * h + inv.b * north * h
                dr = inv.d * east * h + inv.e * north * h
                shifts.add((int(round(dc)), int(round(dr))))
    return sorted(shifts)


def box_similarity(pair: Any, polygons: Sequence[BaseGeometry], search_m: float = 0.0, *,
                   lines: Sequence[tuple[float, float]] = (), line_height_m: float = 0.0
                   ) -> np.ndarray:
    """Best NCC between the dates inside each polygon (grid CRS) over after-date shifts of up
    to ``search_m``, and along ``lines`` (:func:`geometry_lines`) up to ``line_height_m``, on
    the pair's common grid with its shift and radiometric normalisation applied; NaN where the
    polygon has too few valid pixels."""
    grid = pair.grid
    src_a, src_b = pair.sources
    radiometry = pair.radiometry
    shifts = _shifts(pair, search_m, lines, line_height_m)
    s = max(max(abs(dx), abs(dy)) for dx, dy in shifts)
    out = np.full(len(polygons), np.nan)
    for k, poly in enumerate(polygons):
        window = grid.window_around(poly.bounds, pad=1)
        if window is None:
            continue
        c0, r0 = int(window.col_off), int(window.row_off)
        c1, r1 = c0 + int(window.width), r0 + int(window.height)
        a, valid_a = src_a.read(window)
        # the after window, grown by the search radius where the grid allows
        b0c, b0r = max(c0 - s, 0), max(r0 - s, 0)
        b1c, b1r = min(c1 + s, grid.width), min(r1 + s, grid.height)
        b, valid_b = src_b.read(Window(b0c, b0r, b1c - b0c, b1r - b0r))
        if radiometry.method != "identity":
            b = radiometry.apply(b)
        inside = geometry_mask([poly], out_shape=(window.height, window.width), invert=True,
                               transform=grid.window_transform(window))
        keep = inside & valid_a
        grey_a = a.astype(np.float64).mean(axis=0)
        grey_b = b.astype(np.float64).mean(axis=0)
        h, w = window.height, window.width
        scores = []
        for dx, dy in shifts:
            rb, cb = r0 + dy - b0r, c0 + dx - b0c
            if rb < 0 or cb < 0 or rb + h > grey_b.shape[0] or cb + w > grey_b.shape[1]:
                continue
            m = keep & valid_b[rb:rb + h, cb:cb + w]
            if m.sum() >= MIN_PIXELS:
                scores.append(pearson(grey_a[m], grey_b[rb:rb + h, cb:cb + w][m]))
        scores = [r for r in scores if not np.isnan(r)]
        if scores:
            out[k] = max(scores)
    return out
