"""Buildings and airfield structures: the things a detector must *not* call aircraft.

Terminals and hangars with flat or arched roofs, hardened shelters, earth revetments, fuel
tanks, jet bridges, light masts (thin and tall: long thin shadows), containers and tents. None
of these carry truth boxes; they are distractors and context (DESIGN.md section 7).
"""

from __future__ import annotations

import math

import numpy as np

from imagery.synth.model import Model, body, circle, prism, rect


def building(length: float, width: float, height: float, rng: np.random.Generator) -> Model:
    m = Model()
    prism(m, rect(-length / 2, length / 2, -width / 2, width / 2), 0.0, height, role="roof", wall_role="wall")
    # roof furniture: AC units, hatches, a parapet band
    for _ in range(rng.integers(0, 6)):
        w, l_ = rng.uniform(1.0, 3.0), rng.uniform(1.0, 4.0)
        cx = rng.uniform(-length / 2 + l_, length / 2 - l_) if length > 2 * l_ + 1 else 0.0
        cy = rng.uniform(-width / 2 + w, width / 2 - w) if width > 2 * w + 1 else 0.0
        prism(
            m,
            rect(cx - l_ / 2, cx + l_ / 2, cy - w / 2, cy + w / 2),
            height,
            height + rng.uniform(0.6, 1.8),
            role="metal",
        )
    return m


def tower_block(length: float, width: float, height: float, rng: np.random.Generator) -> Model:
    """A tall block whose roof carries rows of plant (AC units, vents, water tanks): seen
    obliquely, a row of 1.5 x 3 m boxes 15-30 m up is launcher-sized, and its lean moves it by
    metres between two views."""
    m = Model()
    prism(m, rect(-length / 2, length / 2, -width / 2, width / 2), 0.0, height, role="roof", wall_role="wall")
    for _ in range(int(rng.integers(1, 4))):
        along = rng.random() < 0.5
        n = int(rng.integers(3, 9))
        w, l_ = rng.uniform(1.0, 2.0), rng.uniform(1.5, 3.5)
        pitch = l_ + rng.uniform(0.3, 1.5)
        span = (length if along else width) / 2 - l_
        off = rng.uniform(-1, 1) * ((width if along else length) / 2 - w)
        start = rng.uniform(-span, max(-span, span - n * pitch)) if span > 0 else 0.0
        top = height + rng.uniform(0.8, 2.2)
        for i in range(n):
            c = start + i * pitch
            if abs(c) > span:
                break
            cx, cy = (c, off) if along else (off, c)
            hx, hy = (l_ / 2, w / 2) if along else (w / 2, l_ / 2)
            prism(m, rect(cx - hx, cx + hx, cy - hy, cy + hy), height, top, role="metal")
    return m


def hangar(length: float, width: float, height: float) -> Model:
    """Arched roof across the width (the span), doors at the front."""
    m = Model()
    xs = np.array([-length / 2, length / 2])
    # the arch runs along x; body() bends across y: a half cylinder with vertical half-axis height
    body(m, xs, np.full(2, width / 2), height * 0.35, height * 0.65, role="roof", strips=9)
    return m


def shelter(length: float = 30.0, width: float = 22.0, height: float = 9.0) -> Model:
    """Hardened aircraft shelter: concrete arch, blast door at the front."""
    m = Model()
    xs = np.array([-length / 2, length / 2])
    body(m, xs, np.full(2, width / 2), 0.0, height, role="wall", strips=7)
    prism(
        m,
        rect(length / 2 - 0.5, length / 2 + 1.2, -width * 0.45, width * 0.45),
        0.0,
        height * 0.8,
        role="metal",
    )
    return m


def revetment(length: float = 28.0, width: float = 24.0, height: float = 4.0, thick: float = 5.0) -> Model:
    """U-shaped earth berm open towards +x (the taxiway side)."""
    m = Model()
    t = thick
    top_t = t * 0.35
    for poly in (
        rect(-length / 2, -length / 2 + t, -width / 2, width / 2),
        rect(-length / 2, length / 2, -width / 2 - t, -width / 2),
        rect(-length / 2, length / 2, width / 2, width / 2 + t),
    ):
        prism(m, poly, 0.0, height * 0.5, role="berm", walls=False)
        cx, cy = poly[:, 0].mean(), poly[:, 1].mean()
        lx = (poly[:, 0].max() - poly[:, 0].min()) / 2
        ly = (poly[:, 1].max() - poly[:, 1].min()) / 2
        if lx < ly:
            inner = rect(cx - top_t / 2, cx + top_t / 2, cy - ly + 0.5, cy + ly - 0.5)
        else:
            inner = rect(cx - lx + 0.5, cx + lx - 0.5, cy - top_t / 2, cy + top_t / 2)
        prism(m, inner, height * 0.5, height, role="berm", walls=False)
    return m


def fuel_tank(radius: float, height: float) -> Model:
    m = Model()
    ring = circle(0.0, 0.0, radius, 24)
    prism(m, ring, 0.0, height, role="body", wall_role="body")
    m.facet(
        np.column_stack([circle(0.0, 0.0, radius * 0.15, 8), np.full(8, height + 0.01)]),
        role="metal",
        level=height + 0.02,
    )
    return m


def jet_bridge(length: float, rng: np.random.Generator) -> Model:
    """Rotunda at the origin, a tunnel along +x and the cab at the end (points to the aircraft)."""
    m = Model()
    prism(m, circle(0.0, 0.0, 2.2, 12), 0.0, 5.5, role="roof", wall_role="wall")
    prism(m, rect(0.0, length, -1.4, 1.4), 3.8, 6.2, role="roof", wall_role="wall")
    prism(m, rect(length - 0.5, length + 3.0, -1.9, 1.9), 3.6, 6.4, role="roof", wall_role="wall")
    for x in (length * 0.55,):  # drive column
        prism(m, rect(x - 0.6, x + 0.6, -1.8, 1.8), 0.0, 3.8, role="metal")
    return m


def mast(height: float) -> Model:
    m = Model()
    prism(m, circle(0.0, 0.0, 0.3, 6), 0.0, height, role="metal", walls=False)
    prism(m, rect(-0.6, 0.6, -1.2, 1.2), height - 0.5, height, role="metal", walls=False)
    return m


def container(length: float, width: float = 2.44, height: float = 2.6) -> Model:
    m = Model()
    prism(m, rect(-length / 2, length / 2, -width / 2, width / 2), 0.0, height, role="cargo")
    return m


def tent(length: float, width: float) -> Model:
    """Military tent: ridge along x."""
    m = Model()
    h = min(3.2, width * 0.5)
    for s in (-1, 1):
        slope = np.array(
            [
                [length / 2, 0.0, h],
                [-length / 2, 0.0, h],
                [-length / 2, s * width / 2, 1.0],
                [length / 2, s * width / 2, 1.0],
            ]
        )
        n = math.hypot(h - 1.0, width / 2)
        m.facet(slope, (0.0, s * (h - 1.0) / n, (width / 2) / n), "cargo", level=h)
    m.caster(
        np.array(
            [
                [length / 2, -width / 2, 0],
                [length / 2, width / 2, 0],
                [-length / 2, -width / 2, 0],
                [-length / 2, width / 2, 0],
                [length / 2, 0, h],
                [-length / 2, 0, h],
            ],
            dtype=np.float64,
        )
    )
    return m


def canopy_shade(length: float, width: float, height: float = 8.0) -> Model:
    """Sun shade over an aircraft stand (flat roof on posts), common on Gulf/Levant bases."""
    m = Model()
    prism(
        m,
        rect(-length / 2, length / 2, -width / 2, width / 2),
        height - 0.6,
        height,
        role="roof",
        walls=False,
    )
    return m


def tree(crown: float, height: float) -> Model:
    """A tree crown (olive, pine, cypress) as a dome on a trunk: a dark, rough, round object
    with a round shadow; groves and windbreaks of them are common around Levantine airfields."""
    m = Model()
    xs = np.linspace(-crown / 2, crown / 2, 7)
    hw = (crown / 2) * np.sin(np.linspace(0.25, math.pi - 0.25, 7)) ** 0.6
    body(m, xs, hw, height - crown * 0.35, crown * 0.35, role="body", strips=5, cap=0.0)
    return m
