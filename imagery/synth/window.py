"""Render the radiance of one window of a world: ground + shadows + objects -> (bands, H, W).

This is the single entry point both the scene writer (tiles of a large image) and the chip
stream (one small window per chip) call, so the two can never drift apart.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from imagery.synth.ground import GroundLayout, LowField, TextureBank, paint_ground, texture_bank
from imagery.synth.render import (
    Canvas,
    Illumination,
    Placed,
    View,
    compose_kernel,
    draw_objects,
    draw_shadows,
    palette_radiance,
)


@dataclass
class World:
    """What is on the ground for one date: layout, material colours, objects."""

    layout: GroundLayout
    albedo: np.ndarray  # (n_materials, 4) after season tint
    texture: np.ndarray  # (n_materials,)
    slabs: np.ndarray  # (n_materials,) uint8
    lowfield: LowField
    objects: list[Placed] = field(default_factory=list)
    bank_seed: int = 0
    tex_offset: tuple[int, int] = (0, 0)  # extra offset into the texture banks (chips)


def _visible(objects: list[Placed], view: View, illum: Illumination) -> list[Placed]:
    x0, y0, x1, y1 = view.bounds()
    k = 1.0 / math.tan(math.radians(max(illum.sun_elevation, 1.0)))
    lean = math.tan(math.radians(view.view_zenith))
    out = []
    for o in objects:
        reach = o.model.radius + o.model.top * (k + lean) + 1.0
        if x0 - reach <= o.x <= x1 + reach and y0 - reach <= o.y <= y1 + reach:
            out.append(o)
    return out


def render_radiance(
    world: World,
    view: View,
    illum: Illumination,
    bands: tuple[int, ...] = (0, 1, 2, 3),
    bank: TextureBank | None = None,
) -> np.ndarray:
    """(len(bands), view.height, view.width) float32 at-sensor radiance (relative units)."""
    bank = bank or texture_bank(world.bank_seed)
    canvas = Canvas(view, bands)
    paint_ground(canvas, world.layout)
    objs = _visible(world.objects, view, illum)
    draw_shadows(canvas, objs, illum)
    draw_objects(canvas, objs, illum)
    p_lit_a, p_lit_b, p_shd_a, p_shd_b, p_kind = palette_radiance(canvas, illum)
    sel = list(bands)
    alb = world.albedo[:, sel]
    direct = np.asarray([illum.direct[i] for i in sel])[None, :]
    diffuse = np.asarray([illum.diffuse[i] for i in sel])[None, :]
    sin_el = math.sin(math.radians(illum.sun_elevation))
    g_lit = (alb * (direct * sin_el + diffuse)).astype(np.float32)
    g_shd = (alb * diffuse).astype(np.float32)
    # texture lookups anchored on absolute pixel positions: seamless across tiles and dates
    row0 = int(math.floor(-view.y0 / view.gsd + 0.5)) + world.tex_offset[0]
    col0 = int(math.floor(view.x0 / view.gsd + 0.5)) + world.tex_offset[1]
    off1 = np.array([row0 % bank.tex1.shape[0], col0 % bank.tex1.shape[0]], np.int64)
    off2 = np.array([row0 % bank.tex2.shape[0], col0 % bank.tex2.shape[0]], np.int64)
    s = view.scale
    lay = world.layout
    a = math.radians(lay.slab_angle)
    slab = np.array(
        [
            math.cos(a),
            math.sin(a),
            lay.slab_size[0] * s,
            lay.slab_size[1] * s,
            max(lay.joint_width * s, 0.6),
            view.x0 * s,
            -view.y0 * s,
            lay.slab_tone,
            float(lay.seed % 100000),
            lay.joint_dark,
        ],
        np.float64,
    )
    low = world.lowfield.sample(view)
    out = np.empty((len(bands), view.height, view.width), np.float32)
    cv2.bitwise_or(canvas.gmat, canvas.gshadow, dst=canvas.gmat)  # pack the cast-shadow bit
    compose_kernel(
        canvas.ids,
        canvas.gmat,
        view.ss,
        bank.tex1,
        off1,
        bank.tex2,
        off2,
        bank.patw,
        bank.patc,
        low,
        p_lit_a,
        p_lit_b,
        p_shd_a,
        p_shd_b,
        p_kind,
        g_lit,
        g_shd,
        world.texture.astype(np.float32),
        world.slabs.astype(np.uint8),
        slab,
        out,
    )
    return out
