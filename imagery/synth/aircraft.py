"""Parametric fixed-wing aircraft in plan view with heights.

One parameter set describes an airliner, a military transport or a business jet: fuselage
(length, width, nose and tail taper), wing (root position, chords, sweep, high or low), engines
(under-wing pods, rear-fuselage pods, over-wing, turboprops), tailplane (low or T-tail) and fin.
Instances jitter the proportions around a type's real dimensions, so a detector sees a family of
shapes rather than a handful of sprites. Fast jets have a separate builder
(:func:`build_fighter`) because their blended planforms do not fit that template.

Frame: x forward, y right, z up, metres, origin at the centre of the (length x span) truth box.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from imagery.synth.model import (
    Model,
    body,
    circle,
    plate,
    profile,
    rect,
    rotate2d,
    trapezoid_wing,
    vertical_plate,
)


@dataclass(frozen=True)
class Engine:
    kind: str  # "pod" (under wing), "rear" (aft fuselage), "top" (over wing), "prop"
    y: float  # lateral position, metres (positive; mirrored to both sides)
    length: float
    diameter: float
    x: float | None = None  # front of the nacelle for rear/top mounts (metres from centre)
    blades: int = 4  # propellers


@dataclass(frozen=True)
class FixedWing:
    length: float
    span: float
    height: float
    fus_width: float
    fus_height: float = 0.0  # 0 -> 1.05 x width
    belly: float = 1.2  # ground clearance of the fuselage bottom
    nose: float = 0.09  # nose taper length / length
    tail: float = 0.22  # tail taper length / length
    nose_power: float = 0.45
    tail_width: float = 0.12
    wing_x: float = 0.40  # root leading edge, fraction of length aft of the nose
    root_chord: float = 0.0  # 0 -> 0.17 x span
    tip_chord: float = 0.0  # 0 -> 0.28 x root chord
    sweep: float = 28.0  # leading-edge sweep, degrees
    high_wing: bool = False
    engines: tuple[Engine, ...] = ()
    htail_span: float = 0.0  # 0 -> 0.35 x span
    htail_sweep: float = 32.0
    htail_chord: float = 0.11  # root chord / length
    htail_x: float = 0.21  # root leading edge, fraction of length ahead of the tail end
    t_tail: bool = False
    fin_chord: float = 0.16  # fin root chord / length
    fin_sweep: float = 40.0
    winglets: bool = False
    glazed_nose: bool = False
    cockpit: bool = True
    centre_engine: bool = False  # trijets: a third engine in the tail (Tu-154, Falcon 7X, Yak-42)
    hump: float = 0.0  # B747 upper deck: length fraction of the hump
    gear_pods: bool = False  # Tu-154 style pods trailing the wing
    visor: bool = False  # An-124: upward-hinging nose visor and front ramp
    rear_ramp: bool = False  # transports with a rear loading ramp
    wing_pods: bool = False  # fuel tanks / tip pods
    extras: dict = field(default_factory=dict)


def _resolved(p: FixedWing) -> FixedWing:
    return replace(
        p,
        fus_height=p.fus_height or p.fus_width * 1.05,
        root_chord=p.root_chord or 0.17 * p.span,
        tip_chord=p.tip_chord or 0.28 * (p.root_chord or 0.17 * p.span),
        htail_span=p.htail_span or 0.35 * p.span,
    )


def jitter(p: FixedWing, rng: np.random.Generator, amount: float = 0.03) -> FixedWing:
    """Vary proportions a little around the type (real fleets differ by variant, and the
    detector must not learn exact ratios)."""

    def j(v: float, a: float = amount) -> float:
        return float(v * (1.0 + rng.normal(0.0, a)))

    p = _resolved(p)
    return replace(
        p,
        length=j(p.length, amount / 2),
        span=j(p.span, amount / 2),
        height=j(p.height),
        fus_width=j(p.fus_width),
        nose=j(p.nose, 0.1),
        tail=j(p.tail, 0.08),
        nose_power=float(np.clip(j(p.nose_power, 0.15), 0.3, 0.95)),
        wing_x=j(p.wing_x, 0.04),
        root_chord=j(p.root_chord, 0.06),
        tip_chord=j(p.tip_chord, 0.1),
        sweep=j(p.sweep, 0.06),
        htail_span=j(p.htail_span, 0.05),
        fin_chord=j(p.fin_chord, 0.06),
    )


def build_fixed_wing(p: FixedWing, *, nose_raised: bool = False, ramp_down: bool = False) -> Model:
    """Plan-view 2.5D model of a conventional aircraft."""
    p = _resolved(p)
    m = Model()
    L, S = p.length, p.span
    fh = p.fus_height
    zc = p.belly + fh / 2
    ztop = p.belly + fh
    x_nose, x_tail = L / 2, -L / 2

    # --- fuselage -------------------------------------------------------------------------
    visor_len = min(0.09 * L, 6.5)
    fus_len = L
    fus_front = x_nose
    if p.visor and nose_raised:
        fus_len = L - visor_len
        fus_front = x_nose - visor_len
    xs, hw = profile(
        fus_len,
        p.fus_width,
        nose=0.0 if (p.visor and nose_raised) else p.nose * L,
        tail=p.tail * L,
        nose_power=p.nose_power,
        tail_width=p.tail_width,
        nose_width=0.88 if (p.visor and nose_raised) else 0.0,
    )
    xs = xs + (fus_front - fus_len / 2)
    # the tail cone sweeps up on most aircraft: the section centre rises towards the tail
    rv = np.full(xs.shape, fh / 2)
    m_stripe = ("stripe", 0.35)
    body(m, xs, hw, zc, rv, role="body", strips=9, stripe=m_stripe, cap=0.3)
    if p.hump > 0:
        hx = np.linspace(x_nose - p.nose * L * 0.6, x_nose - p.hump * L, 8)
        hhw = p.fus_width * 0.36 * np.sin(np.linspace(0.15, math.pi - 0.6, 8)) ** 0.4
        body(m, hx[::-1], hhw[::-1], ztop - 0.2, 0.8, role="body", strips=5, cast=True)
    if p.cockpit and not (p.visor and nose_raised):
        cx = x_nose - p.nose * L * 0.55
        w = p.fus_width * (0.30 if not p.glazed_nose else 0.22)
        cz = zc + fh * 0.42
        m.facet(
            np.array(
                [
                    [cx + 0.35 * p.nose * L * 0.5, -w, cz],
                    [cx, -w * 1.15, cz],
                    [cx, w * 1.15, cz],
                    [cx + 0.35 * p.nose * L * 0.5, w, cz],
                ]
            ),
            role="canopy",
            level=ztop + 0.01,
        )
    if p.glazed_nose and not (p.visor and nose_raised):
        g = np.array([[x_nose - 0.2, 0.0], [x_nose - 1.8, -0.9], [x_nose - 1.8, 0.9]])
        m.facet(np.column_stack([g, np.full(3, zc + 0.3)]), role="canopy", level=ztop + 0.02)

    # --- wing -----------------------------------------------------------------------------
    x_root_le = x_nose - p.wing_x * L
    if p.high_wing:
        wz = ztop + 0.15
        y_root = 0.0
    else:
        wz = p.belly + 0.3 * fh
        y_root = p.fus_width * 0.35
    semi = S / 2 - y_root
    root_c = p.root_chord
    wz_plate = wz + (0.6 if not p.high_wing else 0.0)
    for side in (-1, 1):
        if p.high_wing:
            panel = trapezoid_wing(0.0, x_root_le, root_c, S / 2, p.tip_chord, p.sweep, side)
        else:
            panel = trapezoid_wing(y_root, x_root_le, root_c, semi, p.tip_chord, p.sweep, side)
        plate(m, panel, wz_plate, role="wing", thickness=0.5)
        if p.winglets:
            tip = panel[1]
            wl = np.array(
                [
                    [tip[0] - 0.2 * p.tip_chord, tip[1], wz + 0.6],
                    [tip[0] - p.tip_chord * 0.9, tip[1], wz + 0.6],
                    [tip[0] - p.tip_chord * 1.1, tip[1], wz + 2.3],
                    [tip[0] - p.tip_chord * 0.7, tip[1], wz + 2.3],
                ]
            )
            m.facet(wl, (0.0, float(side), 0.0), "wing", level=wz + 2.3, two_sided=True)
            m.caster(wl)
        if p.wing_pods:
            tip = panel[1]
            body(
                m,
                np.array([tip[0] - 3.0, tip[0] + 0.5]),
                np.array([0.45, 0.45]),
                wz + 0.2,
                0.45,
                role="wing",
                strips=3,
                y0=float(tip[1]),
            )
    if p.gear_pods:
        for side in (-1, 1):
            y = side * (y_root + semi * 0.35)
            x_le = x_root_le - semi * 0.35 * math.tan(math.radians(p.sweep))
            gx = np.linspace(x_le - root_c * 1.05, x_le - root_c * 0.3, 5)
            ghw = 0.55 * np.sin(np.linspace(0.3, math.pi - 0.3, 5)) ** 0.5
            body(m, gx, ghw, wz + 0.9, 0.5, role="wing", strips=3, y0=y)

    # --- engines --------------------------------------------------------------------------
    for e in p.engines:
        for side in (-1, 1):
            _engine(m, p, e, side, x_root_le, y_root, root_c, wz_plate, zc, ztop)
    if p.centre_engine:
        ex = x_tail + p.tail * L * 0.55
        body(
            m, np.array([ex - 2.0, ex + 2.5]), np.array([0.75, 0.9]), ztop + 0.1, 0.7, role="engine", strips=4
        )

    # --- tail -----------------------------------------------------------------------------
    # fin: swept back, placed so that its rearmost point (root or tip trailing edge) sits at
    # the end of the tail cone
    fin_root = p.fin_chord * L
    fin_h = max(p.height - ztop, 1.0)
    dx_top = fin_h * math.tan(math.radians(p.fin_sweep))
    fin_tip = fin_root * 0.45
    fin_le = x_tail + 0.4 + max(fin_root, dx_top + fin_tip)
    fin_te = fin_le - fin_root
    tip_le = fin_le - dx_top
    zb = ztop - fh * 0.15
    fin_pts = np.array([[fin_le, zb], [fin_te, zb], [tip_le - fin_tip, p.height], [tip_le, p.height]])
    vertical_plate(m, fin_pts, 0.0, role="tail", thickness=max(0.3, fin_root * 0.06))
    h_span = p.htail_span
    h_root = p.htail_chord * L
    h_tip = h_root * 0.4
    if p.t_tail:
        hz = p.height - 0.2
        hx = tip_le
        for side in (-1, 1):
            plate(
                m,
                trapezoid_wing(0.0, hx, h_root * 0.8, h_span / 2, h_tip, p.htail_sweep, side),
                hz,
                role="wing",
                thickness=0.3,
            )
    else:
        hz = zc + fh * 0.15
        hx = x_tail + p.htail_x * L
        y0 = 0.0
        for side in (-1, 1):
            plate(
                m,
                trapezoid_wing(y0, hx, h_root, h_span / 2, h_tip, p.htail_sweep, side),
                hz,
                role="wing",
                thickness=0.3,
            )

    # --- loading states -------------------------------------------------------------------
    if p.visor and nose_raised:
        _raised_visor(m, p, fus_front, visor_len, ztop, zc)
    if p.rear_ramp and ramp_down:
        rw = p.fus_width * 0.55
        rx0 = x_tail + p.tail * L * 0.85
        rl = min(7.0, 0.1 * L)
        ramp = np.array(
            [
                [rx0, -rw / 2, p.belly + 0.4],
                [rx0 - rl, -rw / 2, 0.05],
                [rx0 - rl, rw / 2, 0.05],
                [rx0, rw / 2, p.belly + 0.4],
            ]
        )
        m.facet(ramp, (-0.2, 0.0, 0.98), "metal", level=0.2)
        m.caster(ramp)
    return m


def _engine(
    m: Model,
    p: FixedWing,
    e: Engine,
    side: int,
    x_root_le: float,
    y_root: float,
    root_c: float,
    wz: float,
    zc: float,
    ztop: float,
) -> None:
    y = side * e.y
    r = e.diameter / 2
    if e.kind in ("pod", "prop", "top"):
        frac = (e.y - y_root) / max(p.span / 2 - y_root, 1e-3)
        frac = min(max(frac, 0.0), 1.0)
        chord = root_c + (p.tip_chord - root_c) * frac
        x_le = x_root_le - (e.y - y_root) * math.tan(math.radians(p.sweep))
        if e.kind == "pod":
            front = x_le + 0.45 * e.length
            zc_e = wz - r - 0.25
        elif e.kind == "top":
            front = x_le + 0.35 * e.length
            zc_e = wz + r * 1.0 + 0.2
        else:
            front = x_le + 0.55 * e.length
            zc_e = wz - r * 0.5
        xs = np.linspace(front - e.length, front, 6)
        t = np.linspace(0, 1, 6)
        hw = r * np.where(t > 0.75, 1.0 - 0.25 * (t - 0.75) / 0.25, 0.75 + 0.25 * t / 0.75)
        if e.kind == "prop":
            hw = r * np.sin(np.linspace(0.35, math.pi / 2 + 0.35, 6)).clip(0.3)
        body(m, xs, hw, zc_e, r, role="engine", strips=5, y0=y)
        del chord
        if e.kind == "prop":
            _propeller(
                m, front + 0.15, y, zc_e, e.diameter * 1.9, e.blades, seed=int(abs(e.y) * 7 + (side + 1) * 13)
            )
    else:  # rear-mounted: beside the aft fuselage
        front = e.x if e.x is not None else -p.length / 2 + p.tail * p.length * 1.1
        xs = np.linspace(front - e.length, front, 6)
        t = np.linspace(0, 1, 6)
        hw = r * (0.8 + 0.2 * np.sin(t * math.pi))
        zc_e = zc + p.fus_height * 0.25
        body(m, xs, hw, zc_e, r, role="engine", strips=5, y0=y)
        pylon = rect(
            front - e.length * 0.7, front - e.length * 0.25, min(abs(y), p.fus_width * 0.3), abs(y) - r * 0.8
        )
        pylon[:, 1] *= side
        plate(m, pylon, zc_e, role="wing", thickness=0.3, cast=False)


def _propeller(m: Model, x: float, y: float, z: float, diameter: float, blades: int, seed: int) -> None:
    """Propeller at rest: thin blades radiating from the spinner in the (y, z) plane; from above
    only the blades pointing sideways show, as a short line across the nacelle."""
    phase = (seed * 37) % 90
    for k in range(blades):
        a = math.radians(phase + k * 360.0 / blades)
        dy, dz = math.cos(a) * diameter / 2, math.sin(a) * diameter / 2
        blade = np.array(
            [[x + 0.15, y, z], [x - 0.15, y, z], [x - 0.1, y + dy, z + dz], [x + 0.1, y + dy, z + dz]]
        )
        m.facet(blade, (1.0, 0.0, 0.0), "rotor", level=max(z, z + dz), two_sided=True)
        m.caster(blade)


def _raised_visor(m: Model, p: FixedWing, fus_front: float, visor_len: float, ztop: float, zc: float) -> None:
    """An-124 loading configuration (domain.md 2, 'An-124 nose-up appearance'): the nose cone
    is hinged at its top and swung up ~80 deg, so from above it is a cone standing on the front of
    the fuselage with its apex ~6 m above the roof (radial shading, a tall spike in the shadow,
    more off-nadir lean than the fuselage), and the front ramp runs down to the ground ahead of
    the open hold."""
    hinge_x = fus_front
    base_r_y = p.fus_width * 0.47  # the cone's base (formerly the vertical nose section)
    base_r_x = min(visor_len, p.fus_height) * 0.45
    bc = np.array([hinge_x + base_r_x, 0.0, ztop + 0.4])
    apex = np.array([hinge_x + base_r_x + 0.8, 0.0, ztop + visor_len * 0.95])
    n = 14
    ang = np.linspace(0, 2 * math.pi, n, endpoint=False)
    ring = np.column_stack([bc[0] + base_r_x * np.cos(ang), base_r_y * np.sin(ang), np.full(n, bc[2])])
    for k in range(n):
        a, b = ring[k], ring[(k + 1) % n]
        nrm = np.cross(a - apex, b - apex)
        if nrm[2] < 0:
            nrm = -nrm
        nrm = nrm / max(float(np.linalg.norm(nrm)), 1e-9)
        m.facet(
            np.array([apex, a, b]),
            (float(nrm[0]), float(nrm[1]), float(nrm[2])),
            "body",
            level=float(apex[2]),
        )
    tip = circle(float(apex[0]), 0.0, 0.9, 8)
    m.facet(
        np.column_stack([tip, np.full(8, apex[2] + 0.05)]),
        (0.0, 0.0, 1.0),
        "radome",
        level=float(apex[2]) + 0.1,
    )
    m.caster(np.concatenate([ring, apex[None, :]]))
    # the front ramp down to the ground, treads darker, and the dark hold floor at its top
    ramp_len = 9.0
    rw = p.fus_width * 0.62
    x0 = hinge_x + 2 * base_r_x
    ramp = np.array(
        [
            [x0 + ramp_len, -rw / 2, 0.05],
            [hinge_x, -rw / 2, 1.6],
            [hinge_x, rw / 2, 1.6],
            [x0 + ramp_len, rw / 2, 0.05],
        ]
    )
    m.facet(ramp, (0.17, 0.0, 0.98), "metal", level=0.3)
    m.caster(ramp)
    for k in range(3):
        xk = x0 + ramp_len * (0.2 + 0.3 * k)
        zk = 1.6 * (1 - (xk - hinge_x) / (x0 + ramp_len - hinge_x)) + 0.05
        m.facet(
            np.array(
                [
                    [xk + 0.25, -rw / 2, zk],
                    [xk - 0.25, -rw / 2, zk],
                    [xk - 0.25, rw / 2, zk],
                    [xk + 0.25, rw / 2, zk],
                ]
            ),
            (0.17, 0.0, 0.98),
            "dark",
            level=0.31,
        )


# ---------------------------------------------------------------------------------------------
# Fast jets
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fighter:
    kind: str  # "flanker", "swing", "straight", "delta"
    length: float
    span: float
    height: float
    canards: bool = False
    duckbill: bool = False  # Su-34 side-by-side cockpit nose
    sweep: float = 42.0  # wing LE sweep; for "swing" the current outer-panel sweep
    twin_fin: bool = True


def build_fighter(f: Fighter, rng: np.random.Generator | None = None) -> Model:
    m = Model()
    L, S, H = f.length, f.span, f.height
    xn, xt = L / 2, -L / 2
    if f.kind == "flanker":
        zb = 2.6  # top of the centre body
        # nose / forward fuselage
        nose_w = 2.3 if f.duckbill else 1.6
        xs = np.array([xt + 0.50 * L, xt + 0.62 * L, xt + 0.80 * L, xn - 2.5, xn - 0.8, xn])
        hw = np.array([1.0, 1.0, 0.95, nose_w / 2 * 0.9, nose_w / 2 * 0.55, 0.12 if not f.duckbill else 0.5])
        body(m, xs, hw, zb - 0.6, 0.9, strips=5)
        # flat centre body between the engines
        cb = np.array(
            [[xt + 0.62 * L, -1.3], [xt + 0.12 * L, -1.9], [xt + 0.12 * L, 1.9], [xt + 0.62 * L, 1.3]]
        )
        plate(m, cb, zb - 0.2, role="body", thickness=1.2)
        # engine nacelles
        for side in (-1, 1):
            nx = np.array([xt + 0.05 * L, xt + 0.2 * L, xt + 0.55 * L, xt + 0.62 * L])
            nhw = np.array([0.55, 0.72, 0.72, 0.6])
            body(m, nx, nhw, zb - 0.9, 0.8, role="body", strips=4, y0=side * 1.45)
            nozzle = circle(xt + 0.05 * L, side * 1.45, 0.5, 8)
            m.facet(np.column_stack([nozzle, np.full(8, zb - 0.4)]), role="dark", level=zb - 0.35)
        # tail sting
        body(m, np.array([xt, xt + 0.14 * L]), np.array([0.35, 0.55]), zb - 0.6, 0.5, strips=3)
        # LERX + wing
        x_root_le = xt + 0.50 * L
        root_c = 0.34 * L
        semi = S / 2 - 1.8
        for side in (-1, 1):
            lerx = np.array(
                [[xt + 0.80 * L, side * 0.75], [x_root_le, side * 1.9], [x_root_le - 1.0, side * 1.9]]
            )
            plate(m, lerx, zb - 0.15, role="body", thickness=0.3)
            wing = trapezoid_wing(1.8, x_root_le, root_c, semi, 1.3, f.sweep, side)
            plate(m, wing, zb - 0.3, role="wing", thickness=0.3)
            tail = trapezoid_wing(1.9, xt + 0.25 * L, 3.2, 2.9, 1.0, 42.0, side)
            plate(m, tail, zb - 0.7, role="wing", thickness=0.25)
            fin = np.array([[xt + 0.36 * L, zb], [xt + 0.12 * L, zb], [xt + 0.10 * L, H], [xt + 0.18 * L, H]])
            vertical_plate(m, fin, side * 2.1, role="tail", thickness=0.25)
            if f.canards:
                can = trapezoid_wing(0.9, xt + 0.80 * L, 1.6, 2.2, 0.6, 45.0, side)
                plate(m, can, zb + 0.1, role="wing", thickness=0.2)
        canopy_x = xn - (4.5 if not f.duckbill else 3.6)
        cw = 0.55 if not f.duckbill else 0.95
        can = np.array(
            [
                [canopy_x + 1.5, 0.0],
                [canopy_x + 0.7, -cw],
                [canopy_x - 1.0, -cw * 0.8],
                [canopy_x - 1.6, 0.0],
                [canopy_x - 1.0, cw * 0.8],
                [canopy_x + 0.7, cw],
            ]
        )
        m.facet(np.column_stack([can, np.full(len(can), zb + 0.45)]), role="canopy", level=zb + 0.5)
        if f.duckbill:
            cone = np.array([[xn, -0.6], [xn - 1.5, -1.05], [xn - 1.5, 1.05], [xn, 0.6]])
            m.facet(np.column_stack([cone, np.full(4, zb - 0.1)]), role="radome", level=zb)
    elif f.kind == "swing":  # Su-24
        zb = 3.0
        xs = np.array([xt + 0.05 * L, xt + 0.3 * L, xt + 0.75 * L, xn - 2.0, xn])
        hw = np.array([0.6, 1.1, 1.15, 0.9, 0.15])
        body(m, xs, hw, zb - 0.8, 1.0, strips=5)
        for side in (-1, 1):
            intake = np.array(
                [
                    [xt + 0.70 * L, side * 1.0],
                    [xt + 0.15 * L, side * 1.0],
                    [xt + 0.15 * L, side * 1.85],
                    [xt + 0.66 * L, side * 1.75],
                ]
            )
            plate(m, intake, zb - 0.5, role="body", thickness=1.4)
            glove = np.array(
                [
                    [xt + 0.66 * L, side * 1.7],
                    [xt + 0.42 * L, side * 2.9],
                    [xt + 0.33 * L, side * 2.9],
                    [xt + 0.33 * L, side * 1.8],
                ]
            )
            plate(m, glove, zb - 0.3, role="body", thickness=0.3)
            # outer panel pivots at the glove
            pivot = (xt + 0.40 * L, side * 2.8)
            outer_len = (S / 2 - 2.8) / max(math.cos(math.radians(f.sweep)), 0.2)
            panel = np.array(
                [
                    [0.0, 0.0],
                    [-outer_len * 0.12, outer_len],
                    [-outer_len * 0.12 - 1.3, outer_len],
                    [-2.9, 0.0],
                ]
            )
            panel[:, 1] *= 1.0
            ang = f.sweep - 16.0
            panel = rotate2d(panel, -ang if side > 0 else ang)
            panel[:, 1] *= side
            panel += pivot
            plate(m, panel, zb - 0.35, role="wing", thickness=0.25)
            tail = trapezoid_wing(0.9, xt + 0.22 * L, 3.0, 3.0, 1.0, 45.0, side)
            plate(m, tail, zb - 0.9, role="wing", thickness=0.25)
        fin = np.array([[xt + 0.40 * L, zb], [xt + 0.06 * L, zb], [xt + 0.04 * L, H], [xt + 0.14 * L, H]])
        vertical_plate(m, fin, 0.0, role="tail", thickness=0.3)
        can = np.array([[xn - 3.3, -0.9], [xn - 5.8, -0.9], [xn - 5.8, 0.9], [xn - 3.3, 0.9]])
        m.facet(np.column_stack([can, np.full(4, zb + 0.25)]), role="canopy", level=zb + 0.3)
    elif f.kind == "straight":  # Su-25
        zb = 2.7
        xs = np.array([xt + 0.1 * L, xt + 0.45 * L, xn - 3.0, xn - 0.6, xn])
        hw = np.array([0.4, 0.75, 0.75, 0.35, 0.1])
        body(m, xs, hw, zb - 0.6, 0.8, strips=5)
        for side in (-1, 1):
            body(
                m,
                np.array([xt + 0.12 * L, xt + 0.35 * L, xt + 0.62 * L]),
                np.array([0.5, 0.65, 0.55]),
                zb - 0.7,
                0.65,
                role="engine",
                strips=4,
                y0=side * 1.15,
            )
            wing = trapezoid_wing(0.6, xt + 0.60 * L, 3.6, S / 2 - 0.6, 1.6, 22.0, side)
            plate(m, wing, zb - 0.2, role="wing", thickness=0.3)
            tip = wing[1]
            body(
                m,
                np.array([tip[0] - 2.4, tip[0] + 0.6]),
                np.array([0.3, 0.3]),
                zb - 0.2,
                0.3,
                role="wing",
                strips=3,
                y0=float(tip[1]),
            )
            tail = trapezoid_wing(0.3, xt + 0.20 * L, 2.0, 2.4, 1.0, 30.0, side)
            plate(m, tail, zb + 0.6, role="wing", thickness=0.25)
        fin = np.array([[xt + 0.30 * L, zb], [xt + 0.04 * L, zb], [xt + 0.02 * L, H], [xt + 0.12 * L, H]])
        vertical_plate(m, fin, 0.0, role="tail", thickness=0.3)
        can = np.array([[xn - 2.9, -0.45], [xn - 4.4, -0.45], [xn - 4.4, 0.45], [xn - 2.9, 0.45]])
        m.facet(np.column_stack([can, np.full(4, zb + 0.3)]), role="canopy", level=zb + 0.3)
    else:
        raise ValueError(f"unknown fighter kind {f.kind!r}")
    return m
