"""CenterNet-style targets for oriented boxes: :func:`encode` (numpy, runs in data workers) and
:func:`decode` (torch, runs on the model's device).

The model predicts, on a grid of ``stride`` pixels:

* ``heat``  (C classes): a rotated elliptical Gaussian per object, 1 at the object's centre cell.
  Elliptical and rotated (TTFNet-style, not CenterNet's round one) because aircraft are long
  and thin at any angle: a round blob would either miss a fuselage's ends or spill onto its
  neighbours on a crowded apron.
* ``reg``   (8): sub-cell offset (dx, dy) in cells, log(length), log(width) in cells, the
  heading as (sin, cos), full 0-360 because the nose direction carries the ``nose_raised`` cue,
  and the box *axis* as (sin 2h, cos 2h). The axis pair is what makes thin boxes line up: for a
  truck or a launcher whose front and back look alike, an L1 fit of (sin h, cos h) averages the
  two readings h and h + 180 towards (0, 0), and atan2 of that is noise, axis included (the
  first shipped model, which had no axis pair, put helicopter, launcher and vehicle boxes a
  median 30-41 deg off their true orientation). The doubled angle is the same for h and
  h + 180, so it has nothing to average away; decoding takes the axis from it and only the sign
  (nose or tail) from (sin h, cos h).
* ``state`` (one logit per class that has a state, see :data:`STATE_CLASSES`).

Regression is supervised on every cell where the owning object's Gaussian is above
``reg_min`` (weights normalised so each object counts once), not only the centre cell: with
a CPU training budget of a few hours, more supervised cells per object converge faster.
Objects given only as axis-aligned boxes (real labels) carry ``oriented = 0``: their length,
width and heading are unknown, so the loss supervises the predicted box's *envelope* instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from imagery.taxonomy import CLASSES, STATES

if TYPE_CHECKING:
    import torch

STRIDE = 4
NUM_CLASSES = len(CLASSES)
# Classes with a non-nominal state, in the order of the model's state logits.
STATE_CLASSES: tuple[str, ...] = tuple(c for c in CLASSES if c in STATES)
# Per class index: which state logit it reads, or -1.
STATE_CHANNEL: tuple[int, ...] = tuple(STATE_CLASSES.index(c) if c in STATES else -1 for c in CLASSES)
NUM_STATES = len(STATE_CLASSES)
REG_CHANNELS = 8  # dx, dy, log l, log w, sin h, cos h, sin 2h, cos 2h


@dataclass(frozen=True)
class TargetConfig:
    """How objects become heat maps (the defaults are what the shipped model was trained with)."""

    stride: int = STRIDE
    sigma_scale: float = 0.54 / 6.0  # sigma = scale * extent, TTFNet's alpha = 0.54
    min_sigma: float = 0.6  # cells: small vehicles still get a 3x3 footprint
    reg_min: float = 0.3  # Gaussian value above which a cell regresses its object's box


@dataclass
class Targets:
    """Dense targets for one image at ``stride`` (all float32 unless noted)."""

    heat: np.ndarray  # (C, h, w)
    reg: np.ndarray  # (REG_CHANNELS, h, w)
    env: np.ndarray  # (2, h, w): log envelope width, height in cells (for envelope-only labels)
    reg_weight: np.ndarray  # (h, w), sums to 1 per object
    oriented: np.ndarray  # (h, w) 1 where length/width/heading are known
    state: np.ndarray  # (h, w) 0/1 target
    state_channel: np.ndarray  # (h, w) int64 state logit to train, -1 for none
    ignore: np.ndarray  # (h, w) 1 where heat negatives are not penalised (truncated/difficult)
    num_objects: int

    def as_dict(self) -> dict[str, np.ndarray]:
        return {"heat": self.heat, "reg": self.reg, "env": self.env, "reg_weight": self.reg_weight,
                "oriented": self.oriented, "state": self.state,
                "state_channel": self.state_channel, "ignore": self.ignore,
                "num_objects": np.float32(self.num_objects)}


def encode(
    boxes: np.ndarray,
    classes: np.ndarray,
    states: np.ndarray,
    shape: tuple[int, int],
    *,
    oriented: np.ndarray | None = None,
    ignore: np.ndarray | None = None,
    config: TargetConfig = TargetConfig(),
) -> Targets:
    """Targets for one image of ``shape = (rows, cols)`` pixels.

    ``boxes`` (N, 5) pixel boxes (cx, cy, length, width, heading_deg); ``classes`` indexes into
    :data:`CLASSES`; ``states`` 0/1; ``oriented`` False for envelope-only labels; ``ignore``
    True for objects that must neither be rewarded nor penalised (their footprint becomes an
    ignore region). Objects whose centre lies outside the image are treated as ignore regions
    too: their centre cell cannot be represented.
    """
    s = config.stride
    h, w = math.ceil(shape[0] / s), math.ceil(shape[1] / s)
    t = Targets(
        heat=np.zeros((NUM_CLASSES, h, w), np.float32),
        reg=np.zeros((REG_CHANNELS, h, w), np.float32),
        env=np.zeros((2, h, w), np.float32),
        reg_weight=np.zeros((h, w), np.float32),
        oriented=np.ones((h, w), np.float32),
        state=np.zeros((h, w), np.float32),
        state_channel=np.full((h, w), -1, np.int64),
        ignore=np.zeros((h, w), np.float32),
        num_objects=0,
    )
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 5)
    n = len(boxes)
    oriented = np.ones(n, bool) if oriented is None else np.asarray(oriented, bool)
    ignore = np.zeros(n, bool) if ignore is None else np.asarray(ignore, bool)
    owner_g = np.zeros((h, w), np.float32)  # Gaussian value of the object owning each cell
    # Big objects first, so small ones drawn later win the cells where both overlap.
    order = np.argsort(-(boxes[:, 2] * boxes[:, 3]), kind="stable")
    for i in order:
        cx, cy, length, width, heading = boxes[i] / np.array([s, s, s, s, 1.0])
        if length <= 0 or width <= 0:
            continue
        ci, cj = math.floor(cy), math.floor(cx)
        inside = 0 <= ci < h and 0 <= cj < w and 0 <= boxes[i, 0] < shape[1] and 0 <= boxes[i, 1] < shape[0]
        if ignore[i] or not inside:
            _fill_box(t.ignore, boxes[i] / np.array([s, s, s, s, 1.0]))
            continue
        g, (r0, r1, c0, c1) = _gaussian(ci + 0.5, cj + 0.5, length, width, heading, (h, w), config)
        if g is None:
            continue
        cls = int(classes[i])
        np.maximum(t.heat[cls, r0:r1, c0:c1], g, out=t.heat[cls, r0:r1, c0:c1])
        t.heat[cls, ci, cj] = 1.0
        own = (g >= config.reg_min) & (g >= owner_g[r0:r1, c0:c1])
        own[ci - r0, cj - c0] = True
        rr, cc = np.nonzero(own)
        rr_abs, cc_abs = rr + r0, cc + c0
        gw = g[rr, cc]
        gw = gw / gw.sum()
        owner_g[rr_abs, cc_abs] = g[rr, cc]
        theta = math.radians(heading)
        t.reg[0, rr_abs, cc_abs] = cx - (cc_abs + 0.5)
        t.reg[1, rr_abs, cc_abs] = cy - (rr_abs + 0.5)
        t.reg[2, rr_abs, cc_abs] = math.log(length)
        t.reg[3, rr_abs, cc_abs] = math.log(width)
        t.reg[4, rr_abs, cc_abs] = math.sin(theta)
        t.reg[5, rr_abs, cc_abs] = math.cos(theta)
        t.reg[6, rr_abs, cc_abs] = math.sin(2 * theta)
        t.reg[7, rr_abs, cc_abs] = math.cos(2 * theta)
        ex = abs(length * math.sin(theta)) + abs(width * math.cos(theta))
        ey = abs(length * math.cos(theta)) + abs(width * math.sin(theta))
        t.env[0, rr_abs, cc_abs] = math.log(ex)
        t.env[1, rr_abs, cc_abs] = math.log(ey)
        t.reg_weight[rr_abs, cc_abs] = gw
        t.oriented[rr_abs, cc_abs] = 1.0 if oriented[i] else 0.0
        t.state[rr_abs, cc_abs] = float(states[i] > 0)
        t.state_channel[rr_abs, cc_abs] = STATE_CHANNEL[cls]
        t.num_objects += 1
    # A cell that was re-owned by a later object keeps only that object's weight; renormalise
    # nothing: the loss divides by the number of objects, and a slightly smaller weight for a
    # half-hidden object is the right thing.
    t.ignore[t.heat.max(axis=0) >= 1.0] = 0.0
    return t


def _fill_box(grid: np.ndarray, box_cells: np.ndarray) -> None:
    """Set the cells of ``grid`` whose centre lies in the oriented box (cell units) to 1."""
    import cv2

    from detect.boxes import corners

    q = corners(box_cells[None])[0] - 0.5  # cv2 puts cell centres at integer coordinates
    cv2.fillPoly(grid, [np.round(q * 16).astype(np.int32)], 1.0, shift=4)
    ci, cj = math.floor(box_cells[1]), math.floor(box_cells[0])
    if 0 <= ci < grid.shape[0] and 0 <= cj < grid.shape[1]:
        grid[ci, cj] = 1.0


def _gaussian(ci: float, cj: float, length: float, width: float, heading: float,
              shape: tuple[int, int], config: TargetConfig):
    """Rotated Gaussian around cell position (ci, cj) (row, col; cell units), clipped to the
    grid. Returns (values, (r0, r1, c0, c1)) or (None, ...) when it misses the grid."""
    sl = max(config.sigma_scale * length, config.min_sigma)
    sw = max(config.sigma_scale * width, config.min_sigma)
    theta = math.radians(heading)
    fx, fy = math.sin(theta), -math.cos(theta)  # forward in pixel axes (y down)
    ext_x = 3 * (abs(sl * fx) + abs(sw * fy))
    ext_y = 3 * (abs(sl * fy) + abs(sw * fx))
    r0, r1 = max(0, math.floor(ci - ext_y)), min(shape[0], math.ceil(ci + ext_y) + 1)
    c0, c1 = max(0, math.floor(cj - ext_x)), min(shape[1], math.ceil(cj + ext_x) + 1)
    if r1 <= r0 or c1 <= c0:
        return None, (0, 0, 0, 0)
    yy = np.arange(r0, r1, dtype=np.float32)[:, None] + 0.5 - ci
    xx = np.arange(c0, c1, dtype=np.float32)[None, :] + 0.5 - cj
    u = xx * fx + yy * fy  # along the heading
    v = xx * (-fy) + yy * fx  # across
    g = np.exp(-(u * u / (2 * sl * sl) + v * v / (2 * sw * sw))).astype(np.float32)
    return g, (r0, r1, c0, c1)


@dataclass
class Decoded:
    """Detections of one image, in input pixel coordinates."""

    boxes: np.ndarray  # (n, 5) cx, cy, length, width, heading_deg
    scores: np.ndarray  # (n,)
    classes: np.ndarray  # (n,) int64 index into CLASSES
    state_prob: np.ndarray  # (n,) probability of the non-nominal state; NaN for classes without

    def __len__(self) -> int:
        return len(self.scores)

    def select(self, keep: np.ndarray) -> Decoded:
        return Decoded(self.boxes[keep], self.scores[keep], self.classes[keep], self.state_prob[keep])

    @staticmethod
    def concatenate(parts: list[Decoded]) -> Decoded:
        if not parts:
            return Decoded(np.zeros((0, 5)), np.zeros(0), np.zeros(0, np.int64), np.zeros(0))
        return Decoded(np.concatenate([p.boxes for p in parts]), np.concatenate([p.scores for p in parts]),
                       np.concatenate([p.classes for p in parts]),
                       np.concatenate([p.state_prob for p in parts]))


def decode_heading(sin_h: torch.Tensor, cos_h: torch.Tensor, sin_2h: torch.Tensor,
                   cos_2h: torch.Tensor) -> torch.Tensor:
    """Heading in degrees [0, 360): the axis from the doubled angle, the nose end from the
    direction pair (whichever of axis and axis + 180 points the way (sin h, cos h) does)."""
    import torch

    axis = 0.5 * torch.atan2(sin_2h, cos_2h)
    flip = (torch.sin(axis) * sin_h + torch.cos(axis) * cos_h) < 0
    return torch.rad2deg(axis + flip.to(axis.dtype) * math.pi) % 360.0


def decode(out: dict[str, torch.Tensor], *, stride: int = STRIDE, max_objects: int = 200,
           score_threshold: float = 0.05) -> list[Decoded]:
    """Peaks of the class-agnostic heat map -> boxes, for every image of a batch.

    Peaks are taken on the maximum over classes (class = argmax), so one object never comes out
    twice under two class names and no within-tile NMS is needed: a 3x3 max-pool keeps local
    maxima, then the top ``max_objects`` above ``score_threshold``.
    """
    import torch
    import torch.nn.functional as F  # noqa: N812

    heat = out["heat"].float().sigmoid()
    score, cls = heat.max(dim=1)  # (B, h, w)
    peak = F.max_pool2d(score[:, None], 3, stride=1, padding=1)[:, 0]
    score = torch.where(peak == score, score, torch.zeros_like(score))
    b, h, w = score.shape
    k = min(max_objects, h * w)
    top, idx = score.reshape(b, -1).topk(k, dim=1)
    reg = out["reg"].float().reshape(b, REG_CHANNELS, -1)
    state = out["state"].float().sigmoid().reshape(b, NUM_STATES, -1)
    cls = cls.reshape(b, -1)
    chan = torch.as_tensor(STATE_CHANNEL, device=cls.device)
    results = []
    for i in range(b):
        keep = top[i] > score_threshold
        ind = idx[i][keep]
        r = reg[i][:, ind]
        row = torch.div(ind, w, rounding_mode="floor").float()
        col = (ind % w).float()
        c = cls[i][ind]
        cx = (col + 0.5 + r[0]) * stride
        cy = (row + 0.5 + r[1]) * stride
        length = r[2].clamp(-4.0, 6.0).exp() * stride
        width = r[3].clamp(-4.0, 6.0).exp() * stride
        heading = decode_heading(r[4], r[5], r[6], r[7])
        sc = chan[c]
        sp = state[i][sc.clamp(min=0), ind]
        sp = torch.where(sc >= 0, sp, torch.full_like(sp, float("nan")))
        boxes = torch.stack([cx, cy, length, width, heading], dim=1)
        results.append(Decoded(boxes.cpu().double().numpy(), top[i][keep].cpu().double().numpy(),
                               c.cpu().numpy().astype(np.int64), sp.cpu().double().numpy()))
    return results
