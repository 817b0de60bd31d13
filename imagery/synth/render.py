"""Rasterise a world of 2.5D objects on textured ground for one window of an image.

One implementation serves the scene writer (8192 px images, rendered as tiles) and the training
chips (512 px windows), so what the detector trains on is what the demo shows.

Pipeline for a window (``View``):

1. ground materials are painted at ``ss`` x supersampling into a uint8 material map
   (:mod:`imagery.synth.ground`);
2. every object's ground shadow (convex hull of each caster swept along the sun-opposite
   azimuth) is filled into a shadow mask;
3. every object's facets are filled, in height order, into a local palette-index canvas; for
   each height level the shadows of higher parts are filled and kept where that level shows
   (self-shadowing); the canvas is pasted into the window's index map;
4. a fused numba kernel turns (material, palette index, shadow bits, textures) into radiance
   per band and integrates the ``ss x ss`` sub-pixels into one output pixel (box detector
   footprint).

The sensor (MTF blur, noise, quantisation, DRA, JPEG) is applied afterwards by
:mod:`imagery.synth.sensor`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np
from numba import njit

from imagery.synth.model import CompiledModel
from imagery.synth.paint import Scheme

SHIFT = 3  # fixed-point bits for cv2.fillPoly: 1/8 px vertex precision
SELF_SHADOW = 1 << 15  # bit of Canvas.ids: this object pixel is in the shadow of another part
CAST_SHADOW = 1 << 7  # bit of the material map: this ground pixel is in a cast shadow
MAX_PALETTE = SELF_SHADOW - 1
_ONE = float(1 << SHIFT)


@dataclass(frozen=True)
class Illumination:
    """Sun and sky. ``direct``/``diffuse`` are per-band irradiances (relative units): the sky is
    blue, so shadows are bluer and darker in red/NIR."""

    sun_azimuth: float
    sun_elevation: float
    direct: tuple[float, ...] = (1.0, 1.0, 1.0, 1.0)
    diffuse: tuple[float, ...] = (0.45, 0.36, 0.28, 0.18)


@dataclass(frozen=True)
class View:
    """A window of an image: top-left corner (map metres), GSD, size, supersampling and the
    viewing geometry (satellite azimuth and view zenith at the target)."""

    x0: float
    y0: float
    gsd: float
    width: int
    height: int
    ss: int = 2
    sat_azimuth: float = 0.0
    view_zenith: float = 0.0

    @property
    def scale(self) -> float:
        """Supersampled pixels per metre."""
        return self.ss / self.gsd

    def lean(self) -> tuple[float, float]:
        """Map displacement (E, N) of a point per metre of height: away from the satellite."""
        t = math.tan(math.radians(self.view_zenith))
        a = math.radians(self.sat_azimuth)
        return -math.sin(a) * t, -math.cos(a) * t

    def to_satellite(self) -> np.ndarray:
        a, z = math.radians(self.sat_azimuth), math.radians(self.view_zenith)
        return np.array([math.sin(a) * math.sin(z), math.cos(a) * math.sin(z), math.cos(z)])

    def bounds(self) -> tuple[float, float, float, float]:
        return (self.x0, self.y0 - self.height * self.gsd, self.x0 + self.width * self.gsd, self.y0)


def shadow_vector(sun_azimuth: float, sun_elevation: float) -> tuple[float, float]:
    """Ground displacement (E, N) of a shadow per metre of height: h / tan(elevation) metres
    towards the azimuth opposite the sun."""
    k = 1.0 / math.tan(math.radians(max(sun_elevation, 1.0)))
    a = math.radians(sun_azimuth)
    return -math.sin(a) * k, -math.cos(a) * k


def sun_vector(sun_azimuth: float, sun_elevation: float) -> np.ndarray:
    a, e = math.radians(sun_azimuth), math.radians(sun_elevation)
    return np.array([math.sin(a) * math.cos(e), math.cos(a) * math.cos(e), math.sin(e)])


@dataclass
class Placed:
    """An object instance in the world (map metres): model, paint, pose."""

    model: CompiledModel
    scheme: Scheme
    x: float
    y: float
    heading: float
    self_shadow: bool = True  # False: skip the (costly) shadows of its parts on its other parts


@dataclass
class Canvas:
    """The supersampled maps of one window plus the object palette built while drawing."""

    view: View
    bands: tuple[int, ...]  # which of the B, G, R, N bands to render, in output order
    ids: np.ndarray = field(init=False)  # palette index | SELF_SHADOW bit
    gmat: np.ndarray = field(init=False)  # ground material (| CAST_SHADOW bit once composed)
    gshadow: np.ndarray = field(init=False)  # CAST_SHADOW where a cast shadow falls
    pal_objects: list[Placed] = field(default_factory=list)  # in palette order
    n_pal: int = 1  # entry 0 is "ground"

    def __post_init__(self) -> None:
        h, w = self.view.height * self.view.ss, self.view.width * self.view.ss
        self.ids = np.zeros((h, w), np.uint16)
        self.gmat = np.zeros((h, w), np.uint8)
        self.gshadow = np.zeros((h, w), np.uint8)

    def map_to_px(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Map metres -> supersampled pixel coordinates (x = column)."""
        s = self.view.scale
        return (x - self.view.x0) * s, (self.view.y0 - y) * s


def _fixed(pts: np.ndarray) -> np.ndarray:
    return np.round(pts * _ONE).astype(np.int32)


def _place(
    model_pts: np.ndarray,
    obj: Placed,
    canvas: Canvas,
    zvec: tuple[float, float],
    zoff: np.ndarray | float = 0.0,
) -> np.ndarray:
    """Object-frame points (n, 3) -> supersampled pixel (n, 2). ``zvec`` is the map displacement
    per metre of (z - zoff): the lean for facets, the shadow vector for casters."""
    h = math.radians(obj.heading)
    sh, ch = math.sin(h), math.cos(h)
    f, r, z = model_pts[:, 0], model_pts[:, 1], model_pts[:, 2] - zoff
    e = obj.x + f * sh + r * ch + z * zvec[0]
    n = obj.y + f * ch - r * sh + z * zvec[1]
    cx, cy = canvas.map_to_px(e, n)
    return np.column_stack([cx, cy])


def draw_shadows(canvas: Canvas, objects: list[Placed], illum: Illumination) -> None:
    """Fill every caster's ground shadow into ``canvas.gshadow``."""
    d = shadow_vector(illum.sun_azimuth, illum.sun_elevation)
    hulls = []
    for obj in objects:
        m = obj.model
        if len(m.cstart) < 2:
            continue
        px = _place(m.cverts, obj, canvas, d)
        fx = _fixed(px)
        for i in range(len(m.cstart) - 1):
            hulls.append(cv2.convexHull(fx[m.cstart[i] : m.cstart[i + 1]]))
    if hulls:
        cv2.fillPoly(canvas.gshadow, hulls, CAST_SHADOW, lineType=cv2.LINE_8, shift=SHIFT)


def draw_objects(canvas: Canvas, objects: list[Placed], illum: Illumination) -> None:
    """Fill each object's facets and self-shadows into the canvas (painter's order: objects
    sorted by their height so a tall aircraft's leaned fin covers a tug beside it)."""
    lean = canvas.view.lean()
    d = shadow_vector(illum.sun_azimuth, illum.sun_elevation)
    H, W = canvas.ids.shape
    for obj in sorted(objects, key=lambda o: o.model.top):
        m = obj.model
        nf = len(m.fstart) - 1
        if nf == 0:
            continue
        px = _place(m.fverts, obj, canvas, lean)
        c0 = int(math.floor(px[:, 0].min())) - 1
        r0 = int(math.floor(px[:, 1].min())) - 1
        c1 = int(math.ceil(px[:, 0].max())) + 2
        r1 = int(math.ceil(px[:, 1].max())) + 2
        if c1 <= 0 or r1 <= 0 or c0 >= W or r0 >= H:
            continue
        cc0, rr0, cc1, rr1 = max(c0, 0), max(r0, 0), min(c1, W), min(r1, H)
        if not (obj.self_shadow and len(m.ctop) and m.radius > 6.0):
            # small things (vehicles, crates, masts): their self-shadow is a pixel or two, so
            # their facets go straight into the window's index map
            base = canvas.n_pal
            _add_palette(canvas, obj, illum)
            fx = _fixed(px)
            ids_img = canvas.ids
            for i, (a, b) in enumerate(m.fslices):
                cv2.fillPoly(ids_img, [fx[a:b]], base + i, lineType=cv2.LINE_8, shift=SHIFT)
            continue
        local = np.zeros((r1 - r0, c1 - c0), np.uint16)
        fx = _fixed(px - (c0, r0))
        for i, (a, b) in enumerate(m.fslices, start=1):
            cv2.fillPoly(local, [fx[a:b]], i, lineType=cv2.LINE_8, shift=SHIFT)
        mask = local > 0
        if not mask.any():
            continue
        # self-shadow: per receiving level, the shadows of casters that reach above it
        lsh = np.zeros(local.shape, np.uint8)
        if local.size > 64:
            # level index per pixel (uint8), then per level only the box its shadows touch
            level_idx = np.concatenate([[255], np.searchsorted(m.levels, m.flevel)]).astype(np.uint8)
            lev_map = level_idx[local]
            base = _place(
                np.column_stack([m.cverts[:, :2], np.zeros(len(m.cverts))]), obj, canvas, (0.0, 0.0)
            )
            base -= (c0, r0)
            sc = canvas.view.scale
            dpx = np.array([d[0] * sc, -d[1] * sc])
            lpx = np.array([lean[0] * sc, -lean[1] * sc])
            z = m.cverts[:, 2]
            lh, lw = local.shape
            for k, lvl in enumerate(m.levels):
                casting = np.nonzero(m.ctop > lvl + 0.05)[0]
                if len(casting) == 0:
                    continue
                # shadow on the plane at height lvl (points below it do not move), seen with
                # the lean of that plane
                pts = base + np.maximum(z - lvl, 0.0)[:, None] * dpx + lvl * lpx
                sel = np.concatenate([np.arange(m.cstart[ci], m.cstart[ci + 1]) for ci in casting])
                bx0 = max(int(pts[sel, 0].min()) - 1, 0)
                by0 = max(int(pts[sel, 1].min()) - 1, 0)
                bx1 = min(int(pts[sel, 0].max()) + 2, lw)
                by1 = min(int(pts[sel, 1].max()) + 2, lh)
                if bx1 <= bx0 or by1 <= by0:
                    continue
                fx = _fixed(pts - (bx0, by0))
                cov = np.zeros((by1 - by0, bx1 - bx0), np.uint8)
                hulls = [cv2.convexHull(fx[m.cstart[ci] : m.cstart[ci + 1]]) for ci in casting]
                cv2.fillPoly(cov, hulls, 1, lineType=cv2.LINE_8, shift=SHIFT)
                lsh[by0:by1, bx0:bx1] |= cov & (lev_map[by0:by1, bx0:bx1] == k)
        # palette entries for this object's facets
        base = canvas.n_pal
        _add_palette(canvas, obj, illum)
        sub_l = local[rr0 - r0 : rr1 - r0, cc0 - c0 : cc1 - c0]
        sub_m = sub_l > 0
        ids = canvas.ids[rr0:rr1, cc0:cc1]
        shadow_bit = lsh[rr0 - r0 : rr1 - r0, cc0 - c0 : cc1 - c0][sub_m].astype(np.int64) * SELF_SHADOW
        ids[sub_m] = (sub_l[sub_m].astype(np.int64) + (base - 1)) | shadow_bit


def _add_palette(canvas: Canvas, obj: Placed, illum: Illumination) -> None:
    """Reserve palette entries for an object's facets (colours and normals are worked out for
    all objects at once in :func:`palette_radiance`)."""
    canvas.pal_objects.append(obj)
    canvas.n_pal += len(obj.model.frole)
    if canvas.n_pal >= MAX_PALETTE:
        raise OverflowError("too many facets in one window; render smaller tiles")


def _palette_arrays(
    canvas: Canvas, illum: Illumination
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Colours (a, b), pattern kinds and map-frame normals of all palette entries, entry 0
    (ground) first; vectorised over every facet of every object drawn."""
    b = list(canvas.bands)
    objs = canvas.pal_objects
    nb = len(b)
    if not objs:
        return np.zeros((1, nb)), np.zeros((1, nb)), np.zeros(1, np.int64), np.array([[0.0, 0.0, 1.0]])
    counts = [len(o.model.frole) for o in objs]
    a = np.concatenate([np.zeros((1, 4))] + [o.scheme.a[o.model.frole] for o in objs])[:, b]
    bb = np.concatenate([np.zeros((1, 4))] + [o.scheme.b[o.model.frole] for o in objs])[:, b]
    kind = np.concatenate([np.zeros(1, np.int64)] + [o.scheme.kind[o.model.frole] for o in objs])
    n = np.concatenate([np.array([[0.0, 0.0, 1.0]])] + [o.model.fnormal for o in objs])
    two = np.concatenate([np.zeros(1, bool)] + [o.model.ftwo for o in objs])
    h = np.radians(np.repeat([0.0] + [o.heading for o in objs], [1, *counts]))
    sh, ch = np.sin(h), np.cos(h)
    normal = np.column_stack([n[:, 0] * sh + n[:, 1] * ch, n[:, 0] * ch - n[:, 1] * sh, n[:, 2]])
    if two.any():
        v = canvas.view.to_satellite()
        s = sun_vector(illum.sun_azimuth, illum.sun_elevation)
        facing = normal @ v
        # at nadir a vertical plate shows no side: light the sunward side of what little shows
        flip = two & ((facing < -1e-6) | ((np.abs(facing) <= 1e-6) & (normal @ s < 0)))
        normal[flip, :2] *= -1
    return a, bb, kind, normal


def palette_radiance(canvas: Canvas, illum: Illumination) -> tuple[np.ndarray, ...]:
    """Lit and shadowed radiance of every palette entry, for both pattern colours."""
    a, bb, kind, normal = _palette_arrays(canvas, illum)
    s = sun_vector(illum.sun_azimuth, illum.sun_elevation)
    cos_i = np.clip(normal @ s, 0.0, None)[:, None]
    sky = (0.5 * (1.0 + normal[:, 2]))[:, None]
    bounce = (0.5 * (1.0 - normal[:, 2]))[:, None] * 0.12  # light reflected off the ground
    direct = np.asarray([illum.direct[i] for i in canvas.bands])[None, :]
    diffuse = np.asarray([illum.diffuse[i] for i in canvas.bands])[None, :]
    lit_k = direct * cos_i + diffuse * sky + bounce * direct
    shd_k = diffuse * sky + bounce * direct * 0.3
    f32 = np.float32
    return (
        (a * lit_k).astype(f32),
        (bb * lit_k).astype(f32),
        (a * shd_k).astype(f32),
        (bb * shd_k).astype(f32),
        kind.astype(np.int64),
    )


@njit(cache=True, nogil=True, fastmath=True)
def _hash2(a: int, b: int, seed: int) -> float:
    h = (a * 374761393 + b * 668265263 + seed * 1442695041) & 0xFFFFFFFF
    h = ((h ^ (h >> 13)) * 1274126177) & 0xFFFFFFFF
    h = h ^ (h >> 16)
    return (h & 0xFFFF) / 32767.5 - 1.0


@njit(cache=True, nogil=True, fastmath=True)
def compose_kernel(
    ids,
    gmat,
    ss,
    tex1,
    off1,
    tex2,
    off2,
    patw,
    patc,
    low,
    p_lit_a,
    p_lit_b,
    p_shd_a,
    p_shd_b,
    p_kind,
    g_lit,
    g_shd,
    g_amp,
    g_slab,
    slab,
    out,
):
    """Radiance per output pixel: the mean over its ss x ss sub-pixels of either the object
    palette colour (lit or self-shadowed, mixed with the paint pattern) or the ground material
    colour (lit or in cast shadow) modulated by texture, large-scale variation and concrete
    slabs with joints. ``ids`` carries the self-shadow bit (1 << 15), ``gmat`` the cast-shadow
    bit (1 << 7). Output pixels whose sub-pixels all show the same thing (most of them) are
    shaded once."""
    C, H, W = out.shape
    T1 = tex1.shape[0]
    T2 = tex2.shape[0]
    inv = 1.0 / (ss * ss)
    cos_a = slab[0]
    sin_a = slab[1]
    su = slab[2]
    sv = slab[3]
    joint = slab[4]
    ox = slab[5]
    oy = slab[6]
    tone_amp = slab[7]
    seed = int(slab[8])
    joint_dark = slab[9]
    half = 0.5 * (ss - 1) * (abs(cos_a) + abs(sin_a)) + 0.5
    acc = np.zeros(C, np.float32)
    for i in range(H):
        ti1 = (i + off1[0]) % T1
        ti2 = (i + off2[0]) % T2
        tj1 = off1[1] % T1
        tj2 = off2[1] % T2
        y0 = i * ss
        for j in range(W):
            x0 = j * ss
            v0 = ids[y0, x0]
            m0 = gmat[y0, x0]
            if ss == 2:
                uniform = (
                    ids[y0, x0 + 1] == v0
                    and ids[y0 + 1, x0] == v0
                    and ids[y0 + 1, x0 + 1] == v0
                    and gmat[y0, x0 + 1] == m0
                    and gmat[y0 + 1, x0] == m0
                    and gmat[y0 + 1, x0 + 1] == m0
                )
            else:
                uniform = True
                for di in range(ss):
                    for dj in range(ss):
                        if ids[y0 + di, x0 + dj] != v0 or gmat[y0 + di, x0 + dj] != m0:
                            uniform = False
            t = 0.5 * (tex1[ti1, tj1] + tex2[ti2, tj2])
            lv = low[i, j]
            k0 = v0 & 0x7FFF
            g0 = m0 & 0x7F
            slab_mult = 1.0
            if uniform and k0 == 0 and g_slab[g0]:
                # one slab tone for the pixel unless a joint runs through it
                cx = x0 + 0.5 * (ss - 1)
                cy = y0 + 0.5 * (ss - 1)
                u = (cx + ox) * cos_a + (cy + oy) * sin_a
                v = -(cx + ox) * sin_a + (cy + oy) * cos_a
                fu = u / su
                fv = v / sv
                iu = math.floor(fu)
                iv = math.floor(fv)
                du = (fu - iu) * su
                dv = (fv - iv) * sv
                if du - half < joint or dv - half < joint or su - du < half or sv - dv < half:
                    uniform = False
                else:
                    slab_mult = 1.0 + tone_amp * _hash2(iu, iv, seed)
            if uniform:
                if k0 > 0:
                    kd = p_kind[k0]
                    if kd == 0:
                        tt = patw[ti1, tj1]
                    else:
                        pc = patc[ti2, tj2]
                        if kd == 1:
                            tt = 1.0 if pc > 0.5 else 0.0
                        else:
                            tt = 0.0 if pc < 0.38 else (0.5 if pc < 0.62 else 1.0)
                    if v0 >> 15:
                        for c in range(C):
                            out[c, i, j] = p_shd_a[k0, c] + (p_shd_b[k0, c] - p_shd_a[k0, c]) * tt
                    else:
                        for c in range(C):
                            out[c, i, j] = p_lit_a[k0, c] + (p_lit_b[k0, c] - p_lit_a[k0, c]) * tt
                else:
                    mult = lv * (1.0 + g_amp[g0] * (t - 0.5) * 2.0) * slab_mult
                    if m0 >> 7:
                        for c in range(C):
                            out[c, i, j] = g_shd[g0, c] * mult
                    else:
                        for c in range(C):
                            out[c, i, j] = g_lit[g0, c] * mult
            else:
                pw = patw[ti1, tj1]
                pc = patc[ti2, tj2]
                pc2 = 1.0 if pc > 0.5 else 0.0
                pc3 = 0.0 if pc < 0.38 else (0.5 if pc < 0.62 else 1.0)
                for c in range(C):
                    acc[c] = 0.0
                for di in range(ss):
                    y = y0 + di
                    for dj in range(ss):
                        x = x0 + dj
                        vv = ids[y, x]
                        k = vv & 0x7FFF
                        if k > 0:
                            kd = p_kind[k]
                            tt = pw if kd == 0 else (pc2 if kd == 1 else pc3)
                            if vv >> 15:
                                for c in range(C):
                                    acc[c] += p_shd_a[k, c] + (p_shd_b[k, c] - p_shd_a[k, c]) * tt
                            else:
                                for c in range(C):
                                    acc[c] += p_lit_a[k, c] + (p_lit_b[k, c] - p_lit_a[k, c]) * tt
                        else:
                            mm = gmat[y, x]
                            g = mm & 0x7F
                            mult = lv * (1.0 + g_amp[g] * (t - 0.5) * 2.0)
                            if g_slab[g]:
                                u = (x + ox) * cos_a + (y + oy) * sin_a
                                v = -(x + ox) * sin_a + (y + oy) * cos_a
                                fu = u / su
                                fv = v / sv
                                iu = math.floor(fu)
                                iv = math.floor(fv)
                                mult *= 1.0 + tone_amp * _hash2(iu, iv, seed)
                                if (fu - iu) * su < joint or (fv - iv) * sv < joint:
                                    mult *= joint_dark
                            if mm >> 7:
                                for c in range(C):
                                    acc[c] += g_shd[g, c] * mult
                            else:
                                for c in range(C):
                                    acc[c] += g_lit[g, c] * mult
                for c in range(C):
                    out[c, i, j] = acc[c] * inv
            tj1 += 1
            if tj1 == T1:
                tj1 = 0
            tj2 += 1
            if tj2 == T2:
                tj2 = 0
