"""Oriented boxes as arrays: rotated IoU, rotated NMS, envelopes and coordinate transforms.

Everything here is vectorised numpy and torch-free, so evaluation, tile merging and the change
stage can use it without a model. A box array is ``(N, 5)``: ``cx, cy, length, width, heading``
in the convention of :mod:`imagery.geometry` (heading clockwise from "up", the direction of the
nose; length along it). Pixel arrays have y pointing down (``y_up=False``), map arrays y up.

The rotated IoU is exact for convex quadrilaterals: the intersection polygon of two convex
polygons is the convex hull of (corners of A inside B) + (corners of B inside A) + (edge
crossings), so we gather those up to 24 candidate points per pair, sort them by angle around
their mean and take the shoelace area. Padding unused slots with the first sorted point adds
zero-area edges, which keeps the whole computation in fixed-shape arrays.
"""

from __future__ import annotations

import numpy as np
from affine import Affine

from imagery.geometry import obb_corners

_EPS = 1e-9
# Pairs per chunk in the IoU kernels: 24 points x 2 coords x 8 bytes x 20k = 8 MB of temporaries.
_CHUNK = 20_000


def as_boxes(boxes: np.ndarray | list) -> np.ndarray:
    """``(N, 5)`` float64 view of anything box-shaped (an empty list becomes ``(0, 5)``)."""
    b = np.asarray(boxes, dtype=np.float64)
    if b.size == 0:
        return np.zeros((0, 5))
    if b.ndim == 1:
        b = b[None]
    if b.shape[-1] != 5:
        raise ValueError(f"boxes must have 5 columns (cx, cy, length, width, heading), got {b.shape}")
    return b


def corners(boxes: np.ndarray, *, y_up: bool = False) -> np.ndarray:
    """``(N, 4, 2)`` corners in the corner order of :func:`imagery.geometry.obb_corners`."""
    b = as_boxes(boxes)
    return obb_corners(b[:, 0], b[:, 1], b[:, 2], b[:, 3], b[:, 4], y_up=y_up).reshape(-1, 4, 2)


def boxes_from_corners(quads: np.ndarray, *, y_up: bool = False) -> np.ndarray:
    """Vectorised inverse of :func:`corners` for rings in the documented corner order."""
    c = np.asarray(quads, dtype=np.float64).reshape(-1, 4, 2)
    if not y_up:
        c = c * np.array([1.0, -1.0])
    centre = c.mean(axis=1)
    axis = (c[:, 0] + c[:, 3]) / 2.0 - (c[:, 1] + c[:, 2]) / 2.0
    length = np.hypot(axis[:, 0], axis[:, 1])
    width = np.hypot(*(c[:, 3] - c[:, 0]).T)
    heading = np.mod(np.degrees(np.arctan2(axis[:, 0], axis[:, 1])), 360.0)
    cy = centre[:, 1] if y_up else -centre[:, 1]
    return np.column_stack([centre[:, 0], cy, length, width, heading])


def transform_boxes(boxes: np.ndarray, transform: Affine, *, src_y_up: bool = False) -> np.ndarray:
    """Boxes through an affine transform (pixel -> map, map -> pixel, grid -> grid), headings
    included.

    Corners are transformed and the box re-derived, so a rotated or flipped grid keeps the
    heading right (as :func:`imagery.geometry.pixel_to_map_box` does, vectorised). The output
    frame is y-up when the transform flips the input's y sense (negative determinant, as for a
    north-up raster's pixel -> map transform); see :func:`output_y_up`.
    """
    q = corners(boxes, y_up=src_y_up)
    xs, ys = transform @ (q[..., 0], q[..., 1])
    return boxes_from_corners(np.stack([xs, ys], axis=-1), y_up=output_y_up(transform, src_y_up))


def reproject_boxes(boxes: np.ndarray, src_crs: str | None, dst_crs: str | None) -> np.ndarray:
    """Map boxes (y up) from one CRS to another, both projected: the corners are reprojected
    and the box re-derived, so the heading follows the turn of grid north between the two
    projections (about a degree between neighbouring UTM zones) and the size their scale."""
    from imagery.crs import same_crs, transformer

    b = as_boxes(boxes)
    if same_crs(src_crs, dst_crs) or not len(b):
        return b.copy()
    if src_crs is None or dst_crs is None:
        raise ValueError("cannot reproject boxes between a CRS and pixel coordinates")
    q = corners(b, y_up=True)
    xs, ys = transformer(src_crs, dst_crs)(q[..., 0], q[..., 1])
    return boxes_from_corners(np.stack([xs, ys], axis=-1), y_up=True)


def output_y_up(transform: Affine, src_y_up: bool = False) -> bool:
    """Whether coordinates after ``transform`` have y pointing up."""
    return src_y_up != (transform.determinant < 0)


def envelopes(boxes: np.ndarray) -> np.ndarray:
    """Axis-aligned envelopes ``(N, 4)``: xmin, ymin, xmax, ymax (valid in either y sense)."""
    b = as_boxes(boxes)
    t = np.deg2rad(b[:, 4])
    hx = np.abs(b[:, 2] / 2 * np.sin(t)) + np.abs(b[:, 3] / 2 * np.cos(t))
    hy = np.abs(b[:, 2] / 2 * np.cos(t)) + np.abs(b[:, 3] / 2 * np.sin(t))
    return np.column_stack([b[:, 0] - hx, b[:, 1] - hy, b[:, 0] + hx, b[:, 1] + hy])


def polygon_area(points: np.ndarray) -> np.ndarray:
    """Signed shoelace area of polygons ``(..., n, 2)`` (positive when counter-clockwise in a
    y-up frame)."""
    x, y = points[..., 0], points[..., 1]
    return 0.5 * np.sum(x * np.roll(y, -1, axis=-1) - np.roll(x, -1, axis=-1) * y, axis=-1)


def aabb_iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of axis-aligned boxes ``(N, 4)`` x ``(M, 4)`` (xmin, ymin, xmax, ymax)."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    iw = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    ih = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = iw * ih
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, _EPS), 0.0)


def _inside(points: np.ndarray, quads: np.ndarray) -> np.ndarray:
    """Which of ``points (P, k, 2)`` lie inside (or on) the convex CCW ``quads (P, 4, 2)``."""
    e0 = quads
    e1 = np.roll(quads, -1, axis=1)
    d = e1 - e0  # (P, 4, 2)
    rel = points[:, :, None, :] - e0[:, None, :, :]  # (P, k, 4, 2)
    cross = d[:, None, :, 0] * rel[..., 1] - d[:, None, :, 1] * rel[..., 0]
    scale = np.abs(d).sum(axis=-1)[:, None, :] + 1.0
    return np.all(cross >= -1e-9 * scale * scale, axis=-1)


def _edge_crossings(pa: np.ndarray, pb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Intersections of every edge of ``pa (P, 4, 2)`` with every edge of ``pb``: points
    ``(P, 16, 2)`` and a validity mask ``(P, 16)``."""
    a0 = pa[:, :, None, :]
    a1 = np.roll(pa, -1, axis=1)[:, :, None, :]
    b0 = pb[:, None, :, :]
    b1 = np.roll(pb, -1, axis=1)[:, None, :, :]
    da, db = a1 - a0, b1 - b0
    denom = da[..., 0] * db[..., 1] - da[..., 1] * db[..., 0]
    diff = b0 - a0
    ok = np.abs(denom) > _EPS
    safe = np.where(ok, denom, 1.0)
    t = (diff[..., 0] * db[..., 1] - diff[..., 1] * db[..., 0]) / safe
    u = (diff[..., 0] * da[..., 1] - diff[..., 1] * da[..., 0]) / safe
    valid = ok & (t >= 0) & (t <= 1) & (u >= 0) & (u <= 1)
    pts = a0 + t[..., None] * da
    return pts.reshape(len(pa), 16, 2), valid.reshape(len(pa), 16)


def _ccw(quads: np.ndarray) -> np.ndarray:
    """Make every quad counter-clockwise (pixel-space rings are clockwise)."""
    flip = polygon_area(quads) < 0
    if flip.any():
        quads = quads.copy()
        quads[flip] = quads[flip][:, ::-1]
    return quads


def quad_intersection_area(pa: np.ndarray, pb: np.ndarray) -> np.ndarray:
    """Exact intersection areas of convex quadrilaterals paired row by row: ``(P, 4, 2)`` each."""
    pa = _ccw(np.asarray(pa, dtype=np.float64))
    pb = _ccw(np.asarray(pb, dtype=np.float64))
    out = np.zeros(len(pa))
    for s in range(0, len(pa), _CHUNK):
        a, b = pa[s:s + _CHUNK], pb[s:s + _CHUNK]
        cross, cross_ok = _edge_crossings(a, b)
        pts = np.concatenate([a, b, cross], axis=1)  # (P, 24, 2)
        ok = np.concatenate([_inside(a, b), _inside(b, a), cross_ok], axis=1)
        n = ok.sum(axis=1)
        centre = (pts * ok[..., None]).sum(axis=1) / np.maximum(n, 1)[:, None]
        ang = np.arctan2(pts[..., 1] - centre[:, None, 1], pts[..., 0] - centre[:, None, 0])
        ang = np.where(ok, ang, np.inf)
        order = np.argsort(ang, axis=1)
        sorted_pts = np.take_along_axis(pts, order[..., None], axis=1)
        sorted_ok = np.take_along_axis(ok, order, axis=1)
        sorted_pts = np.where(sorted_ok[..., None], sorted_pts, sorted_pts[:, :1, :])
        area = polygon_area(sorted_pts)
        out[s:s + _CHUNK] = np.where(n >= 3, np.abs(area), 0.0)
    return out


def rotated_iou_pairs(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of oriented boxes paired row by row (``a[i]`` with ``b[i]``)."""
    a, b = as_boxes(a), as_boxes(b)
    inter = quad_intersection_area(corners(a), corners(b))
    union = a[:, 2] * a[:, 3] + b[:, 2] * b[:, 3] - inter
    return np.clip(np.where(union > 0, inter / np.maximum(union, _EPS), 0.0), 0.0, 1.0)


def rotated_iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix ``(N, M)`` of oriented boxes; pairs whose circumcircles miss are skipped."""
    a, b = as_boxes(a), as_boxes(b)
    out = np.zeros((len(a), len(b)))
    if not len(a) or not len(b):
        return out
    ra = np.hypot(a[:, 2], a[:, 3]) / 2
    rb = np.hypot(b[:, 2], b[:, 3]) / 2
    dist = np.hypot(a[:, None, 0] - b[None, :, 0], a[:, None, 1] - b[None, :, 1])
    ii, jj = np.nonzero(dist < ra[:, None] + rb[None, :])
    if len(ii):
        out[ii, jj] = rotated_iou_pairs(a[ii], b[jj])
    return out


def rotated_nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Greedy NMS on oriented boxes; returns kept indices, best score first.

    Candidate pairs come from a k-d tree on the centres (boxes whose circumcircles cannot
    meet are never compared), so a whole scene's detections cost O(n log n), not O(n^2).
    """
    from scipy.spatial import cKDTree

    b = as_boxes(boxes)
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    if len(order) <= 1:
        return order
    b = b[order]
    radius = np.hypot(b[:, 2], b[:, 3]) / 2
    pairs = cKDTree(b[:, :2]).query_pairs(2 * float(radius.max()), output_type="ndarray")
    if len(pairs):
        i, j = np.minimum(pairs[:, 0], pairs[:, 1]), np.maximum(pairs[:, 0], pairs[:, 1])
        near = np.hypot(*(b[i, :2] - b[j, :2]).T) < radius[i] + radius[j]
        i, j = i[near], j[near]
        over = rotated_iou_pairs(b[i], b[j]) > iou_threshold
        i, j = i[over], j[over]
    else:
        i = j = np.zeros(0, np.int64)
    by_first = np.argsort(i, kind="stable")
    i, j = i[by_first], j[by_first]
    starts = np.searchsorted(i, np.arange(len(b) + 1))
    suppressed = np.zeros(len(b), dtype=bool)
    keep = []
    for k in range(len(b)):
        if suppressed[k]:
            continue
        keep.append(k)
        suppressed[j[starts[k]:starts[k + 1]]] = True
    return order[np.asarray(keep, dtype=np.int64)]


def rotate_boxes_px(boxes: np.ndarray, k: int, size: tuple[int, int]) -> np.ndarray:
    """Pixel boxes after ``np.rot90(image, k)`` of an image of ``size = (rows, cols)``.

    One counter-clockwise quarter turn sends pixel (x, y) to (y, cols - x) and turns every
    heading 90 degrees anticlockwise.
    """
    b = as_boxes(boxes).copy()
    rows, cols = size
    for _ in range(k % 4):
        x, y = b[:, 0].copy(), b[:, 1].copy()
        b[:, 0], b[:, 1] = y, cols - x
        b[:, 4] = np.mod(b[:, 4] - 90.0, 360.0)
        rows, cols = cols, rows
    return b


def flip_boxes_px(boxes: np.ndarray, size: tuple[int, int], *, horizontal: bool) -> np.ndarray:
    """Pixel boxes after a left-right (``horizontal``) or up-down flip of the image."""
    b = as_boxes(boxes).copy()
    rows, cols = size
    if horizontal:
        b[:, 0] = cols - b[:, 0]
        b[:, 4] = np.mod(360.0 - b[:, 4], 360.0)
    else:
        b[:, 1] = rows - b[:, 1]
        b[:, 4] = np.mod(180.0 - b[:, 4], 360.0)
    return b
