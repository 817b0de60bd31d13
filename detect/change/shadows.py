"""Does something tall stand in the box? The shadow of an object's tall parts on each date.

An S-400 launcher with its canisters erect stands 11 m tall, a 92N6E with its array up 9 m, a
91N6E 7.4 m; packed for the road, every air-defence element is a truck at most ~4.2 m tall. So a
strip of ground that only a part taller than ``low_m`` can shade (the box swept along the
shadow direction from ``low_m / tan(sun elevation)`` to ``high_m / tan(sun elevation)``) holds
no shadow of a packed element on that date. This is sun geometry from the acquisition metadata,
independent of the state classifier, whose reading of a launcher swings with the view: on the
synthetic Khmeimim pairs the false "packed" events of steady pairs sat on launchers whose tall
shadow was there on both dates (10-24 m^2), while every true packing left at most 1 m^2. The
other way round, a tall shadow that went away (or came) backs a packing (or deployment) that
the classifier reads only weakly (``configs/posture.yaml`` ``paired_states``).

The area counts pixels darker than ``dark_ratio`` x the median grey of a ring of ground around
the box and its shadow, so it needs no radiometric model and works on any bit depth.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import shapely
from rasterio.features import geometry_mask
from shapely import affinity
from shapely.geometry.base import BaseGeometry

RING_M = (3.0, 20.0)  # background ring: this far beyond the box and its shadow strip
MIN_RING_PIXELS = 50
# Below this the strip runs over 40 m from the box and gathers other objects' shadows; above
# the upper limit it is under 1.2 m long at 0.5 m GSD: too short to measure (NaN either way).
SUN_ELEVATION_RANGE = (15.0, 80.0)


def shadow_strip(poly: BaseGeometry, sun_azimuth: float, sun_elevation: float, low_m: float,
                 high_m: float, unit: float = 1.0) -> tuple[BaseGeometry, BaseGeometry]:
    """(strip, near): the ground only parts between ``low_m`` and ``high_m`` tall can shade,
    and the box swept up to ``low_m`` (map coordinates with y up; ``unit`` CRS units per metre)."""
    t = unit / math.tan(math.radians(min(max(sun_elevation, 5.0), 85.0)))
    dx, dy = -math.sin(math.radians(sun_azimuth)), -math.cos(math.radians(sun_azimuth))

    def sweep(a: float, b: float) -> BaseGeometry:
        return shapely.convex_hull(shapely.union(affinity.translate(poly, dx * a * t, dy * a * t),
                                                 affinity.translate(poly, dx * b * t, dy * b * t)))

    near = sweep(0.0, low_m)
    return sweep(low_m, high_m).difference(near), near


def tall_shadow_areas(pair: Any, polygons: Sequence[BaseGeometry], *, low_m: float = 5.0,
                      high_m: float = 11.5, dark_ratio: float = 0.65) -> np.ndarray:
    """(N, 2) shadow area in m^2 inside each polygon's tall-shadow strip (grid CRS) on the
    before and the after date; NaN where a date lacks its sun angles or the ring has too few
    valid pixels, or the sun stands outside ``SUN_ELEVATION_RANGE``."""
    out = np.full((len(polygons), 2), np.nan)
    grid = pair.grid
    unit = abs(grid.transform.a) / pair.grid_gsd_m
    pixel_m2 = pair.grid_gsd_m ** 2
    for d, (scene, src) in enumerate(zip((pair.before, pair.after), pair.sources, strict=True)):
        az, el = scene.meta.sun_azimuth, scene.meta.sun_elevation
        if az is None or el is None or not SUN_ELEVATION_RANGE[0] <= el <= SUN_ELEVATION_RANGE[1]:
            continue
        for k, poly in enumerate(polygons):
            strip, near = shadow_strip(poly, az, el, low_m, high_m, unit)
            both = near.union(strip)
            ring = both.buffer(RING_M[1] * unit).difference(both.buffer(RING_M[0] * unit))
            window = grid.window_around(ring.bounds)
            if window is None:
                continue
            data, valid = src.read(window)
            grey = data[:3].astype(np.float64).mean(axis=0)
            transform = grid.window_transform(window)
            shape = grey.shape
            in_ring = geometry_mask([ring], out_shape=shape, transform=transform, invert=True) & valid
            in_strip = geometry_mask([strip], out_shape=shape, transform=transform, invert=True) & valid
            if in_ring.sum() < MIN_RING_PIXELS:
                continue
            background = float(np.median(grey[in_ring]))
            out[k, d] = float((grey[in_strip] < dark_ratio * background).sum()) * pixel_m2
    return out
