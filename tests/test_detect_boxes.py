"""Oriented-box geometry: rotated IoU against shapely, NMS, envelopes, transforms, augmentation."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from affine import Affine
from hypothesis import given, settings
from hypothesis import strategies as st

from detect.boxes import (
    aabb_iou_matrix,
    boxes_from_corners,
    corners,
    envelopes,
    flip_boxes_px,
    rotate_boxes_px,
    rotated_iou_matrix,
    rotated_iou_pairs,
    rotated_nms,
    transform_boxes,
)
from imagery.geometry import OrientedBox, pixel_to_map_box


def _shapely_iou(a: np.ndarray, b: np.ndarray) -> float:
    pa, pb = shapely.Polygon(corners(a)[0]), shapely.Polygon(corners(b)[0])
    union = pa.union(pb).area
    return pa.intersection(pb).area / union if union else 0.0


box_strategy = st.tuples(
    st.floats(-50, 50), st.floats(-50, 50), st.floats(0.5, 80), st.floats(0.5, 40), st.floats(0, 360))


@settings(max_examples=300, deadline=None)
@given(box_strategy, box_strategy)
def test_rotated_iou_matches_shapely(a, b):
    a, b = np.array([a]), np.array([b])
    assert rotated_iou_pairs(a, b)[0] == pytest.approx(_shapely_iou(a, b), abs=1e-6)


def test_rotated_iou_special_cases():
    a = np.array([[10.0, 10.0, 20.0, 6.0, 30.0]])
    assert rotated_iou_pairs(a, a)[0] == pytest.approx(1.0)
    flipped = a.copy()
    flipped[0, 4] += 180.0  # same footprint, opposite heading
    assert rotated_iou_pairs(a, flipped)[0] == pytest.approx(1.0)
    cross = a.copy()
    cross[0, 4] += 90.0  # a 20x6 cross: intersection 6x6
    assert rotated_iou_pairs(a, cross)[0] == pytest.approx(36 / (240 - 36))
    far = a.copy()
    far[0, 0] += 100
    assert rotated_iou_pairs(a, far)[0] == 0.0


def test_rotated_iou_matrix_matches_pairs():
    rng = np.random.default_rng(0)
    a = np.column_stack([rng.uniform(0, 60, 40), rng.uniform(0, 60, 40), rng.uniform(2, 30, 40),
                         rng.uniform(2, 15, 40), rng.uniform(0, 360, 40)])
    b = a[::-1].copy() + np.array([1.0, -1.0, 0, 0, 10])
    m = rotated_iou_matrix(a, b)
    ref = np.array([[_shapely_iou(x[None], y[None]) for y in b] for x in a])
    assert np.allclose(m, ref, atol=1e-9)
    assert rotated_iou_matrix(a[:0], b).shape == (0, len(b))


def test_nms_keeps_the_best_of_overlapping_boxes():
    boxes = np.array([[0, 0, 20, 10, 0], [1, 0, 20, 10, 5], [40, 40, 20, 10, 0], [0, 0, 20, 10, 90]], float)
    scores = np.array([0.6, 0.9, 0.5, 0.8])
    keep = rotated_nms(boxes, scores, 0.5)
    assert list(keep) == [1, 3, 2]  # box 0 overlaps box 1 (IoU ~0.9); the cross (IoU 1/3) stays


def test_envelopes_and_aabb_iou():
    b = np.array([[10.0, 20.0, 10.0, 4.0, 90.0]])  # pointing east: 10 wide, 4 high
    assert np.allclose(envelopes(b), [[5, 18, 15, 22]])
    assert aabb_iou_matrix([[0, 0, 2, 2]], [[1, 1, 3, 3]])[0, 0] == pytest.approx(1 / 7)


def test_boxes_from_corners_round_trip():
    rng = np.random.default_rng(1)
    b = np.column_stack([rng.uniform(-9, 9, 20), rng.uniform(-9, 9, 20), rng.uniform(1, 9, 20),
                         rng.uniform(1, 9, 20), rng.uniform(0, 360, 20)])
    for y_up in (False, True):
        assert np.allclose(boxes_from_corners(corners(b, y_up=y_up), y_up=y_up), b)


def test_transform_boxes_matches_imagery_geometry():
    t = Affine(0.5, 0.0, 767000.0, 0.0, -0.5, 3923000.0)
    px = np.array([[100.0, 40.0, 60.0, 30.0, 75.0]])
    mapped = transform_boxes(px, t)[0]
    ref = pixel_to_map_box(OrientedBox(*px[0]), t)
    assert np.allclose(mapped, [ref.cx, ref.cy, ref.length, ref.width, ref.heading_deg])
    assert mapped[4] == pytest.approx(75.0)  # north-up: heading unchanged
    back = transform_boxes(mapped[None], ~t, src_y_up=True)[0]
    assert np.allclose(back, px[0])


def _mask_of(boxes: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    import cv2

    img = np.zeros(shape, np.uint8)
    for q in corners(boxes):
        cv2.fillPoly(img, [np.round((q - 0.5) * 16).astype(np.int32)], 1, shift=4)
    return img


def test_quarter_turns_and_flips_move_boxes_with_the_image():
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from test_detect_toys import draw_object

    shape = (96, 128)
    img = np.zeros((*shape, 3), np.uint8)
    box = np.array([[40.0, 30.0, 40.0, 28.0, 20.0]])
    draw_object(img, "fighter", *box[0, :2], box[0, 4], 0)
    for k in range(1, 4):
        rot_img = np.ascontiguousarray(np.rot90(img, k))
        rb = rotate_boxes_px(box, k, shape)
        redrawn = np.zeros_like(rot_img)
        draw_object(redrawn, "fighter", *rb[0, :2], rb[0, 4], 0)
        assert np.abs(rot_img.astype(int) - redrawn).mean() < 1.0, k
    for horizontal in (True, False):
        flipped = np.ascontiguousarray(img[:, ::-1] if horizontal else img[::-1])
        fb = flip_boxes_px(box, shape, horizontal=horizontal)
        mask = _mask_of(fb, shape)
        assert (flipped[..., 0] > 0)[mask == 0].mean() < 0.01  # drawn pixels inside the new box
        # a flip mirrors the object: its nose mark is where the new heading points
        redrawn = np.zeros_like(flipped)
        draw_object(redrawn, "fighter", *fb[0, :2], fb[0, 4], 0)
        nose_a = np.median(np.argwhere(flipped[..., 0] == 30), axis=0)
        nose_b = np.median(np.argwhere(redrawn[..., 0] == 30), axis=0)
        assert np.hypot(*(nose_a - nose_b)) < 2.0
