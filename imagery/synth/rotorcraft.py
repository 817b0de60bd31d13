"""Helicopters in plan view with heights: fuselage, tail boom, stub wings, fins, main rotor(s)
at rest, tail rotor; and the *dismantled* state (rotor blades removed and laid on the ground
beside the airframe, parts and crates around it), which Maxar reported for a Ka-52 at Khmeimim on
13 Dec 2024 (domain.md 3.3).

The truth box of a helicopter is its fuselage: nose to tail end (tail rotor included) by the
wider of the stub-wing span and the fuselage width, in both states. Rotor blades (turning freely
at rest, at any angle) and parts laid on the ground are outside it, so the box and its heading do
not change when a helicopter is dismantled, and an object matched across dates keeps its box.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from imagery.synth.model import Model, body, circle, plate, prism, rect, rotate2d, vertical_plate


@dataclass(frozen=True)
class Heli:
    length: float  # fuselage, nose to tail end
    width: float  # fuselage width
    rotor: float  # main rotor diameter
    blades: int = 5
    coaxial: bool = False
    hub: float = 4.4  # rotor hub height
    cabin: float = 0.55  # fraction of length that is cabin (the rest is boom)
    stub_span: float = 0.0
    tail_rotor: float = 0.0  # diameter (0: none)
    chord: float = 0.5  # blade chord
    tanks: bool = False  # external fuel tanks (Mi-8)
    tandem: bool = False  # stepped tandem cockpits (Mi-24, Mi-28)
    tail_planes: float = 2.8  # horizontal stabiliser span


def box_width(h: Heli) -> float:
    w = max(h.width, h.stub_span)
    if h.tanks:
        w = max(w, h.width + 1.6)
    return w


def build_helicopter(h: Heli, *, dismantled: bool = False, rng: np.random.Generator | None = None) -> Model:
    rng = rng or np.random.default_rng(0)
    m = Model()
    L, W = h.length, h.width
    xn, xt = L / 2, -L / 2
    cab_len = h.cabin * L
    x_cab_tail = xn - cab_len
    cab_h = 2.6 if not h.tandem else 2.3
    # cabin: a rounded body; the nose tapers more for gunships
    xs = np.linspace(x_cab_tail - 0.8, xn, 9)
    t = np.linspace(0, 1, 9)
    nose_p = 0.35 if not h.tandem else 0.6
    hw = (W / 2) * np.where(
        t < 0.15, 0.75 + t / 0.15 * 0.25, np.clip((1 - t) / 0.85, 0, 1) ** nose_p * 0.9 + 0.1
    )
    hw[-1] = W * 0.12
    body(m, xs, hw, 0.8 + cab_h / 2, cab_h / 2, role="body", strips=7)
    # engine deck / gearbox fairing on top
    deck = np.linspace(x_cab_tail + 0.2, x_cab_tail + cab_len * 0.6, 6)
    body(m, deck, np.full(6, W * 0.33), 0.8 + cab_h + 0.2, 0.5, role="engine", strips=4)
    # canopy
    if h.tandem:
        for k, (x0, x1) in enumerate(((xn - 1.2, xn - 2.6), (xn - 2.9, xn - 4.2))):
            z = 0.8 + cab_h * (0.75 + 0.12 * k)
            m.facet(
                np.array([[x0, -0.5, z], [x1, -0.6, z], [x1, 0.6, z], [x0, 0.5, z]]),
                role="canopy",
                level=z + 0.3,
            )
    else:
        z = 0.8 + cab_h * 0.8
        m.facet(
            np.array(
                [
                    [xn - 0.6, -W * 0.3, z],
                    [xn - 2.2, -W * 0.42, z],
                    [xn - 2.2, W * 0.42, z],
                    [xn - 0.6, W * 0.3, z],
                ]
            ),
            role="canopy",
            level=z + 0.2,
        )
    # tail boom, fin, stabiliser
    bx = np.array([xt, x_cab_tail])
    body(m, bx, np.array([0.3, 0.55]), 2.0, 0.45, role="body", strips=4)
    if h.coaxial:  # Ka-52/Ka-50: stabiliser with twin end-plate fins
        plate(m, rect(xt + 0.3, xt + 1.5, -h.tail_planes / 2, h.tail_planes / 2), 2.4, role="wing")
        for s in (-1, 1):
            vertical_plate(
                m,
                np.array([[xt + 1.6, 1.6], [xt + 0.2, 1.6], [xt + 0.2, 3.6], [xt + 1.2, 3.6]]),
                s * h.tail_planes / 2,
                role="tail",
                thickness=0.2,
            )
    else:
        plate(m, rect(xt + 2.0, xt + 3.0, -h.tail_planes / 2, h.tail_planes / 2), 2.2, role="wing")
        vertical_plate(
            m,
            np.array([[xt + 1.4, 2.2], [xt, 2.2], [xt + 0.1, 4.6], [xt + 0.9, 4.6]]),
            0.0,
            role="tail",
            thickness=0.3,
        )
        if h.tail_rotor > 0:
            tr = h.tail_rotor / 2
            y = 0.45 if not h.tandem else -0.45
            for k in range(3 if not dismantled else 0):
                a = math.radians(25 + k * 120)
                bl = np.array(
                    [
                        [xt + 0.5, y, 3.8],
                        [xt + 0.5 + tr * math.cos(a), y, 3.8 + tr * math.sin(a)],
                        [xt + 0.5 + tr * math.cos(a) + 0.15, y, 3.8 + tr * math.sin(a)],
                        [xt + 0.65, y, 3.8],
                    ]
                )
                m.facet(bl, (0.0, 1.0, 0.0), "rotor", level=3.8 + max(0, tr * math.sin(a)), two_sided=True)
                m.caster(bl)
    if h.stub_span > 0:
        sx = x_cab_tail + cab_len * 0.25
        for s in (-1, 1):
            stub = np.array(
                [
                    [sx + 0.7, s * W * 0.4],
                    [sx - 0.5, s * h.stub_span / 2],
                    [sx - 1.4, s * h.stub_span / 2],
                    [sx - 1.3, s * W * 0.4],
                ]
            )
            plate(m, stub, 1.9, role="wing", thickness=0.3)
            for k in (0.55, 0.85):  # weapon pylons / pods
                py = s * (W * 0.4 + k * (h.stub_span / 2 - W * 0.4))
                body(
                    m,
                    np.array([sx - 2.0, sx + 0.8]),
                    np.array([0.22, 0.22]),
                    1.5,
                    0.25,
                    role="dark",
                    strips=3,
                    y0=py,
                )
    if h.tanks:
        for s in (-1, 1):
            tx = np.linspace(x_cab_tail + 0.3, x_cab_tail + 3.5, 5)
            body(
                m,
                tx,
                np.full(5, 0.55) * np.sin(np.linspace(0.4, math.pi - 0.4, 5)) ** 0.3,
                1.4,
                0.6,
                role="body",
                strips=4,
                y0=s * (W / 2 + 0.5),
            )
    # rotor
    hub_x = x_cab_tail + cab_len * 0.45
    hubs = (h.hub, h.hub + 0.9) if h.coaxial else (h.hub,)
    for k, hz in enumerate(hubs):
        hub = circle(hub_x, 0.0, 0.45 if not dismantled else 0.4, 10)
        prism(m, hub, hz - 0.6, hz, role="metal", walls=False)
        if dismantled:
            continue
        phase = rng.uniform(0, 360)
        nb = h.blades if not h.coaxial else 3
        for b in range(nb):
            ang = phase + b * 360.0 / nb + (k * 60.0)
            r = h.rotor / 2
            blade = rect(0.0, h.chord, 0.4, r)  # along +y before rotation
            blade = rotate2d(blade, ang) + np.array([hub_x, 0.0])
            droop = 0.9 if not h.coaxial else 0.3
            z_in, z_out = hz - 0.05, hz - droop
            # inner half and outer half at their heights (droop), each a thin plate
            mid = 0.5
            inner = np.array(
                [
                    blade[1],
                    blade[2] * mid + blade[1] * (1 - mid),
                    blade[3] * mid + blade[0] * (1 - mid),
                    blade[0],
                ]
            )
            outer = np.array([inner[1], blade[2], blade[3], inner[2]])
            for part, zz in ((inner, z_in), (outer, (z_in + z_out) / 2)):
                plate(m, part, zz, role="rotor", thickness=0.12)
    if dismantled:
        _laid_out_parts(m, h, rng)
    return m


def _laid_out_parts(m: Model, h: Heli, rng: np.random.Generator) -> None:
    """Blades on the ground beside the airframe (side by side, on trestles), the tail rotor and a
    few crates: what a helicopter being prepared for air transport looks like from above."""
    side = 1 if rng.random() < 0.5 else -1
    r = h.rotor / 2 - 0.4
    n = h.blades * (2 if h.coaxial else 1) if not h.coaxial else 6
    off = side * (box_width(h) / 2 + rng.uniform(1.5, 3.5))
    x0 = rng.uniform(-h.length * 0.35, h.length * 0.05)
    along = rng.random() < 0.7
    gap = h.chord + rng.uniform(0.15, 0.4)
    for b in range(n):
        if along:
            y = off + side * b * gap
            blade = rect(x0 - r / 2, x0 + r / 2, y - h.chord / 2, y + h.chord / 2)
        else:
            x = x0 + b * gap
            blade = rect(x - h.chord / 2, x + h.chord / 2, off, off + side * r)
        plate(m, blade, 0.35, role="rotor", thickness=0.25)
    # crates and a parts pallet
    for _ in range(rng.integers(2, 5)):
        cx = rng.uniform(-h.length / 2, h.length / 2)
        cy = -side * (box_width(h) / 2 + rng.uniform(1.0, 4.0))
        w, l_, z = rng.uniform(0.8, 1.6), rng.uniform(1.0, 2.5), rng.uniform(0.6, 1.4)
        prism(m, rect(cx - l_ / 2, cx + l_ / 2, cy - w / 2, cy + w / 2), 0.0, z, role="cargo")
