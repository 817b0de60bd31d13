"""Small simulated two-date apron scenes with exactly known change, for the tests and the
accuracy benchmark of the pixel change score.

Not the synthetic scene generator (``imagery.synth`` renders airbases): this makes only what
stresses a per-pixel score on this mission, each switchable so its effect can be measured:
objects with cast shadows that move with the sun, a seasonal tint (per-band gain/offset), the
system blur, a residual sub-pixel misregistration, sensor noise and JPEG compression. The truth mask marks the
footprints of objects that left or arrived; the shadows of those objects are "ignore" (their
pixels do change, but no label set marks them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from detect.change.model import SunGeometry


@dataclass(frozen=True)
class SimSettings:
    size: int = 384
    gsd_m: float = 0.5
    n_objects: int = 14
    changed_fraction: float = 0.3  # share of objects that leave (and as many arrive)
    sun_before: SunGeometry = field(default_factory=lambda: SunGeometry(150.0, 35.0))
    sun_after: SunGeometry = field(default_factory=lambda: SunGeometry(205.0, 28.0))
    gain: tuple[float, float, float] = (0.92, 0.97, 1.06)  # seasonal tint, AFTER = gain * BEFORE + offset
    offset: tuple[float, float, float] = (8.0, 4.0, -3.0)
    shift_px: tuple[float, float] = (0.6, -0.4)  # residual misregistration of AFTER
    blur_px: float = 0.6  # Gaussian system MTF (sigma in pixels; 0.6 px ~ MTF 0.17 at Nyquist)
    noise: float = 2.0  # DN, per date
    jpeg_quality: int | None = 85
    shadow_depth: float = 0.45  # shadowed ground keeps this share of its light


@dataclass
class SimPair:
    before: np.ndarray  # (3, H, W) uint8
    after: np.ndarray
    truth: np.ndarray  # (H, W) uint8: 1 changed object, 0 unchanged, 255 ignore
    sun: tuple[SunGeometry, SunGeometry]
    gsd_m: float
    objects: list[dict] = field(default_factory=list)


def _ground(size: int, rng: np.random.Generator) -> np.ndarray:
    from imagery.samples import textured_field

    f = textured_field(size, size, seed=int(rng.integers(1 << 30)), bands=1)[0]
    grey = 95 + 70 * f
    # Apron markings: a few bright painted lines.
    for _ in range(4):
        r = int(rng.integers(0, size))
        grey[r:r + 2, :] = 200
    tint = np.array([1.0, 1.0, 0.97])[:, None, None]
    return grey[None] * tint


def _object_mask(size: int, cx: float, cy: float, length: float, span: float, heading: float
                 ) -> np.ndarray:
    """Plan view of a small aircraft: fuselage + wings + tail, as a boolean mask."""
    import cv2

    mask = np.zeros((size, size), np.uint8)
    h = math.radians(heading)
    fwd = np.array([math.sin(h), -math.cos(h)])
    right = np.array([math.cos(h), math.sin(h)])
    c = np.array([cx, cy])

    def quad(center: np.ndarray, half_len: float, half_wid: float) -> None:
        pts = [center + fwd * half_len + right * half_wid, center - fwd * half_len + right * half_wid,
               center - fwd * half_len - right * half_wid, center + fwd * half_len - right * half_wid]
        cv2.fillPoly(mask, [np.round(np.array(pts)).astype(np.int32)], 1)

    quad(c, length / 2, length * 0.07)
    quad(c + fwd * length * 0.05, length * 0.09, span / 2)
    quad(c - fwd * length * 0.42, length * 0.05, span * 0.18)
    return mask.astype(bool)


def _shadow(mask: np.ndarray, height_m: float, sun: SunGeometry, gsd_m: float) -> np.ndarray:
    """Ground shadow of an object of that plan and height (swept footprint, minus the object)."""
    az = math.radians(sun.azimuth)
    length = height_m / math.tan(math.radians(sun.elevation)) / gsd_m
    d = np.array([-math.sin(az), math.cos(az)])  # away from the sun, (col, row)
    out = np.zeros_like(mask)
    steps = max(1, int(math.ceil(length)))
    ys, xs = np.nonzero(mask)
    h, w = mask.shape
    for k in range(1, steps + 1):
        t = length * k / steps
        c = np.clip(np.round(xs + d[0] * t).astype(int), 0, w - 1)
        r = np.clip(np.round(ys + d[1] * t).astype(int), 0, h - 1)
        out[r, c] = True
    return out & ~mask


def _render(ground: np.ndarray, objs: list[dict], sun: SunGeometry, gsd_m: float, depth: float
            ) -> np.ndarray:
    img = ground.copy()
    shade = np.zeros(ground.shape[1:], bool)
    for o in objs:
        shade |= _shadow(o["mask"], o["height"], sun, gsd_m)
    img[:, shade] *= np.array([depth, depth * 1.02, depth * 1.12])[:, None]
    for o in objs:
        img[:, o["mask"]] = np.asarray(o["colour"])[:, None]
    return img


def _jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    import cv2

    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(img.transpose(1, 2, 0)),
                           [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return cv2.imdecode(buf, cv2.IMREAD_UNCHANGED).transpose(2, 0, 1)


def _shift(img: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """Content moves by (dx, dy) pixels (bicubic, edges replicated)."""
    import cv2

    m = np.float32([[1, 0, dx], [0, 1, dy]])
    out = [cv2.warpAffine(b.astype(np.float32), m, (b.shape[1], b.shape[0]), flags=cv2.INTER_CUBIC,
                          borderMode=cv2.BORDER_REPLICATE) for b in img]
    return np.stack(out)


def simulate_pair(seed: int = 0, settings: SimSettings | None = None, *, steady: bool = False
                  ) -> SimPair:
    """A before/after apron pair. ``steady`` keeps every object in place (only sun, tint,
    misregistration, noise and compression differ): every flagged pixel is a false alarm."""
    s = settings or SimSettings()
    rng = np.random.default_rng(seed)
    n = s.size
    ground = _ground(n, rng)
    objs = []
    for _ in range(s.n_objects * 2):
        length = float(rng.uniform(18, 60))
        o = {"mask": _object_mask(n, float(rng.uniform(40, n - 40)), float(rng.uniform(40, n - 40)),
                                  length, length * float(rng.uniform(0.8, 1.1)),
                                  float(rng.uniform(0, 360))),
             "height": float(rng.uniform(2.5, 8.0)),
             "colour": tuple(float(v) for v in (rng.choice([215, 185, 120]) + rng.normal(0, 6, 3)))}
        if any((o["mask"] & p["mask"]).any() for p in objs):
            continue
        objs.append(o)
        if len(objs) >= s.n_objects:
            break
    k = 0 if steady else max(1, round(s.changed_fraction * len(objs) / 2))
    order = rng.permutation(len(objs))
    leave = [objs[i] for i in order[:k]]
    arrive = [objs[i] for i in order[k:2 * k]]
    stay = [objs[i] for i in order[2 * k:]]
    before_objs, after_objs = stay + leave, stay + arrive
    img_a = _render(ground, before_objs, s.sun_before, s.gsd_m, s.shadow_depth)
    img_b = _render(ground, after_objs, s.sun_after, s.gsd_m, s.shadow_depth)
    gain = np.asarray(s.gain)[:, None, None]
    offset = np.asarray(s.offset)[:, None, None]
    img_b = img_b * gain + offset
    if s.blur_px > 0:
        from scipy.ndimage import gaussian_filter

        img_a = gaussian_filter(img_a, (0, s.blur_px, s.blur_px))
        img_b = gaussian_filter(img_b, (0, s.blur_px, s.blur_px))
    if s.shift_px != (0.0, 0.0):
        img_b = _shift(img_b, *s.shift_px)
    img_a = img_a + rng.normal(0, s.noise, img_a.shape)
    img_b = img_b + rng.normal(0, s.noise, img_b.shape)
    a = np.clip(np.round(img_a), 0, 255).astype(np.uint8)
    b = np.clip(np.round(img_b), 0, 255).astype(np.uint8)
    if s.jpeg_quality:
        a, b = _jpeg(a, s.jpeg_quality), _jpeg(b, s.jpeg_quality)
    truth = np.zeros((n, n), np.uint8)
    for o in leave + arrive:
        truth[o["mask"]] = 1
    ignore = np.zeros((n, n), bool)
    for o in leave + arrive:
        ignore |= _shadow(o["mask"], o["height"], s.sun_before, s.gsd_m)
        ignore |= _shadow(o["mask"], o["height"], s.sun_after, s.gsd_m)
    truth[ignore & (truth == 0)] = 255
    changed = {id(o) for o in leave + arrive}
    return SimPair(a, b, truth, (s.sun_before, s.sun_after), s.gsd_m,
                   [{"height": o["height"], "changed": id(o) in changed} for o in objs])
