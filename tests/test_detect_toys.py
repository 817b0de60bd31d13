"""Hand-drawn toy chips for the detector's unit tests (no scene generator: a few cv2 polygons).

Each object is a cross-shaped "aircraft" (fuselage, wings, tailplane) with a dark nose mark so
its heading is visible; class sets size and colour; the state (nose_raised / dismantled /
packed) adds or removes a part. Other detector tests import :func:`toy_chip` from here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from imagery.geometry import obb_corners
from imagery.taxonomy import CLASSES

# length, width (px at 0.5 m), grey level per class
TOY_SHAPES = {
    "transport": (64.0, 70.0, 215),
    "fighter": (40.0, 28.0, 150),
    "helicopter": (34.0, 34.0, 110),
    "sam": (24.0, 10.0, 90),
    "vehicle": (16.0, 7.0, 240),
    "airliner": (76.0, 70.0, 250),
}


@dataclass
class ToyChip:
    image: np.ndarray
    boxes: np.ndarray
    classes: np.ndarray
    states: np.ndarray
    gsd: float = 0.5
    types: list[str] = field(default_factory=list)


def _part(img: np.ndarray, cx: float, cy: float, heading: float, along: float, across: float,
          length: float, width: float, value: int | tuple) -> None:
    t = math.radians(heading)
    fx, fy = math.sin(t), -math.cos(t)  # forward in pixel axes
    rx, ry = math.cos(t), math.sin(t)  # right in pixel axes
    px, py = cx + along * fx + across * rx, cy + along * fy + across * ry
    quad = obb_corners(px, py, length, width, heading, y_up=False).reshape(4, 2)
    colour = value if isinstance(value, tuple) else (value, value, value)
    # cv2 puts pixel centres at integer coordinates; ours are at +0.5 (origin at the corner).
    cv2.fillPoly(img, [np.round((quad - 0.5) * 16).astype(np.int32)], colour, lineType=cv2.LINE_AA, shift=4)


def draw_object(img: np.ndarray, cls: str, cx: float, cy: float, heading: float, state: int,
                scale: float = 1.0) -> tuple[float, float]:
    length, width, grey = TOY_SHAPES[cls]
    length, width = length * scale, width * scale
    if cls in ("sam", "vehicle"):
        _part(img, cx, cy, heading, 0, 0, length, width, grey)
        _part(img, cx, cy, heading, length * 0.35, 0, length * 0.25, width, 40)  # cab
        if cls == "sam" and not state:  # deployed: raised launcher block
            _part(img, cx, cy, heading, -length * 0.1, 0, length * 0.4, width * 0.6, 255)
        return length, width
    if cls == "helicopter":
        _part(img, cx, cy, heading, 0, 0, length * 0.55, width * 0.2, grey)
        _part(img, cx, cy, heading, -length * 0.35, 0, length * 0.3, width * 0.06, grey)
        if not state:  # rotor disc present
            cv2.circle(img, (round((cx - 0.5) * 16), round((cy - 0.5) * 16)), round(width / 2 * 16),
                       (170, 170, 170), 2, cv2.LINE_AA, shift=4)
            _part(img, cx, cy, heading, 0, 0, length, width * 0.05, 170)
            _part(img, cx, cy, heading + 90, 0, 0, width, length * 0.05, 170)
        else:  # blades laid beside it
            _part(img, cx, cy, heading, 0, width * 0.4, length * 0.8, width * 0.05, 170)
        _part(img, cx, cy, heading, length * 0.22, 0, length * 0.1, width * 0.15, 30)
        return length, width
    _part(img, cx, cy, heading, 0, 0, length, width * 0.14, grey)  # fuselage
    _part(img, cx, cy, heading, length * 0.05, 0, length * 0.2, width, grey)  # wings
    _part(img, cx, cy, heading, -length * 0.42, 0, length * 0.12, width * 0.4, grey)  # tailplane
    _part(img, cx, cy, heading, length * 0.44, 0, length * 0.1, width * 0.1, 30)  # nose mark
    if cls == "transport" and state:  # raised visor: a dark hold mouth and a bright visor
        _part(img, cx, cy, heading, length * 0.42, 0, length * 0.14, width * 0.16, 5)
        _part(img, cx, cy, heading, length * 0.52, width * 0.12, length * 0.12, width * 0.1, 255)
    return length, width


def toy_chip(index: int, size: int = 256, n_objects: tuple[int, int] = (2, 6),
             classes: tuple[str, ...] = CLASSES) -> ToyChip:
    """A deterministic toy chip: grey noisy ground and a few non-overlapping objects."""
    rng = np.random.default_rng((12345, index))
    img = np.full((size, size, 3), int(rng.integers(90, 140)), np.uint8)
    img = np.clip(img + rng.normal(0, 6, img.shape), 0, 255).astype(np.uint8)
    boxes, cls_idx, states = [], [], []
    placed: list[tuple[float, float, float]] = []
    for _ in range(int(rng.integers(*n_objects)) * 4):
        if len(boxes) >= n_objects[1]:
            break
        cls = classes[int(rng.integers(len(classes)))]
        length, width, _ = TOY_SHAPES[cls]
        r = math.hypot(length, width) / 2
        cx, cy = rng.uniform(r * 0.3, size - r * 0.3, size=2)
        if any(math.hypot(cx - x, cy - y) < r + rr + 2 for x, y, rr in placed):
            continue
        heading = float(rng.uniform(0, 360))
        state = int(rng.random() < 0.5) if cls in ("transport", "helicopter", "sam") else 0
        length, width = draw_object(img, cls, cx, cy, heading, state)
        placed.append((cx, cy, r))
        boxes.append((cx, cy, length, width, heading))
        cls_idx.append(CLASSES.index(cls))
        states.append(state)
    return ToyChip(img, np.asarray(boxes, np.float32).reshape(-1, 5), np.asarray(cls_idx, np.int64),
                   np.asarray(states, np.int64), 0.5, [CLASSES[c] for c in cls_idx])


def test_toy_chips_are_deterministic_and_inside():
    a, b = toy_chip(3), toy_chip(3)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.boxes, b.boxes)
    assert len(a.boxes) >= 1
    assert ((a.boxes[:, :2] >= 0) & (a.boxes[:, :2] < 256)).all()


def test_toy_object_is_drawn_where_its_box_says():
    img = np.zeros((128, 128, 3), np.uint8)
    draw_object(img, "fighter", 64, 64, 90.0, 0)  # nose pointing right (east)
    ys, xs = np.nonzero(img[..., 0] > 0)
    assert abs(xs.mean() - 64) < 4 and abs(ys.mean() - 64) < 4
    # the dark nose mark (grey level 30) sits at the right-hand (east) end
    dark = np.nonzero(img[..., 0] == 30)
    assert np.median(dark[1]) > 75 and abs(np.median(dark[0]) - 64) < 3
