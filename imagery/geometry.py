"""Oriented boxes with a full 0-360 heading: the one geometry every stage shares.

Conventions (used by the generator's truth, the detector's output and object matching):

* heading: degrees clockwise from grid north (image up in a north-up raster), the direction
  the object's nose points; always in [0, 360).
* length: extent along the heading (nose to tail); width: extent across it (span for aircraft).
* corner order: nose-left, tail-left, tail-right, nose-right, where left/right are the object's
  own. In map coordinates (y up) that ring is counter-clockwise, as RFC 7946 wants, and the last
  edge (corner 3 -> corner 0) is the nose edge, so the heading survives a round trip through a
  plain polygon.
* pixel coordinates: x = column, y = row (down), origin at the top-left corner of the top-left
  pixel; a pixel-space heading is measured clockwise from image up.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from affine import Affine

# Unit corner offsets in the object frame: (along-heading, right-of-heading) in half extents.
_ALONG = np.array([1.0, -1.0, -1.0, 1.0])
_RIGHT = np.array([-1.0, -1.0, 1.0, 1.0])


def apply_affine(transform: Affine, x: float | np.ndarray, y: float | np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Apply an affine transform to coordinates (scalars or arrays), without the deprecated
    ``transform * (x, y)`` tuple product of newer ``affine`` releases."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    t = transform
    return t.a * x + t.b * y + t.c, t.d * x + t.e * y + t.f


def wrap_heading(heading_deg: float | np.ndarray) -> float | np.ndarray:
    """Map any angle onto [0, 360)."""
    return np.mod(heading_deg, 360.0)


def heading_difference(a: float | np.ndarray, b: float | np.ndarray) -> float | np.ndarray:
    """Smallest absolute angle between two headings, in [0, 180]."""
    d = np.abs(np.mod(np.asarray(a) - np.asarray(b) + 180.0, 360.0) - 180.0)
    return d if isinstance(d, np.ndarray) and d.ndim else float(d)


def obb_corners(
    cx: float | np.ndarray,
    cy: float | np.ndarray,
    length: float | np.ndarray,
    width: float | np.ndarray,
    heading_deg: float | np.ndarray,
    *,
    y_up: bool = True,
) -> np.ndarray:
    """Corners of oriented boxes, shape (..., 4, 2).

    ``y_up=True`` for map coordinates (northing grows upward), ``False`` for pixel coordinates
    (rows grow downward). The heading is clockwise from up in both cases, so for a north-up
    raster the same heading describes the same object in both spaces.
    """
    cx, cy, length, width, heading = np.broadcast_arrays(
        *(np.asarray(v, dtype=np.float64) for v in (cx, cy, length, width, heading_deg))
    )
    t = np.deg2rad(heading)[..., None]
    # Unit vectors of the object frame in (x, y-up) terms.
    fx, fy = np.sin(t), np.cos(t)  # forward
    rx, ry = np.cos(t), -np.sin(t)  # right
    half_l = (length / 2.0)[..., None]
    half_w = (width / 2.0)[..., None]
    x = cx[..., None] + _ALONG * half_l * fx + _RIGHT * half_w * rx
    dy = _ALONG * half_l * fy + _RIGHT * half_w * ry
    y = cy[..., None] + (dy if y_up else -dy)
    return np.stack([x, y], axis=-1)


@dataclass(frozen=True)
class OrientedBox:
    """An oriented box in one coordinate space (map metres or pixels)."""

    cx: float
    cy: float
    length: float
    width: float
    heading_deg: float

    def corners(self, *, y_up: bool = True) -> np.ndarray:
        return obb_corners(self.cx, self.cy, self.length, self.width, self.heading_deg, y_up=y_up)


def box_from_corners(corners: np.ndarray, *, y_up: bool = True) -> OrientedBox:
    """Inverse of :func:`obb_corners` for a ring in the documented corner order.

    Accepts a closed ring (5 points) too. Used to read truth/detections back from GeoJSON.
    """
    c = np.asarray(corners, dtype=np.float64)
    if c.shape[0] == 5:
        c = c[:4]
    if c.shape != (4, 2):
        raise ValueError(f"an oriented box needs 4 corners, got shape {c.shape}")
    if not y_up:
        c = c * np.array([1.0, -1.0])
    centre = c.mean(axis=0)
    nose_mid = (c[0] + c[3]) / 2.0
    tail_mid = (c[1] + c[2]) / 2.0
    axis = nose_mid - tail_mid
    length = float(np.hypot(*axis))
    width = float(np.hypot(*(c[3] - c[0])))
    heading = float(np.mod(np.degrees(np.arctan2(axis[0], axis[1])), 360.0))
    cy = -centre[1] if not y_up else centre[1]
    return OrientedBox(float(centre[0]), float(cy), length, width, heading)


def pixel_to_map_box(box: OrientedBox, transform: Affine) -> OrientedBox:
    """Convert a pixel-space box to map space through an affine transform.

    Handles any north-up or rotated grid by transforming the corners, then re-deriving the box,
    so that headings stay correct when the raster is not north-up.
    """
    px = box.corners(y_up=False)
    xs, ys = apply_affine(transform, px[:, 0], px[:, 1])
    return box_from_corners(np.column_stack([xs, ys]), y_up=True)


def map_to_pixel_box(box: OrientedBox, transform: Affine) -> OrientedBox:
    """Inverse of :func:`pixel_to_map_box`."""
    mp = box.corners(y_up=True)
    cols, rows = apply_affine(~transform, mp[:, 0], mp[:, 1])
    return box_from_corners(np.column_stack([cols, rows]), y_up=False)
