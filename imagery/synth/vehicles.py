"""Ground vehicles, air-defence launchers and radars in plan view with heights.

S-400 elements have two looks that matter for posture (domain.md 2.1, 3.3): *deployed* (launcher
canisters raised vertical on outriggers, radar arrays up) and *packed* (canisters lowered
horizontal along the vehicle, outriggers stowed, arrays folded flat for the road). The truth box
of every vehicle, launcher or radar is its chassis (and trailer) footprint in both states; the
raised canisters and arrays stand inside it and show mainly through their long shadows.
Dimensions marked [U] in domain.md are estimates; they are parameters, not constants elsewhere.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from imagery.synth.model import Model, body, circle, plate, prism, rect


@dataclass(frozen=True)
class Truck:
    length: float
    width: float
    cab: float = 2.2  # cab length
    cab_h: float = 2.9
    load: str = "tarp"  # tarp | box | flat | tank | tipper | none | bus | car | gse_low | belt | stairs
    load_h: float = 3.1
    split_cab: bool = False  # MAZ-543 style: two small cabs either side of the engine
    trailer: float = 0.0  # semi-trailer length behind a tractor (lowboy / launcher trailer)


def build_truck(t: Truck, rng: np.random.Generator | None = None) -> Model:
    m = Model()
    L, W = t.length, t.width
    xn, xt = L / 2, -L / 2
    if t.load == "car":
        xs = np.linspace(xt, xn, 7)
        hw = np.full(7, W / 2)
        hw[0] *= 0.85
        hw[-1] *= 0.85
        body(m, xs, hw, 0.75, 0.55, role="body", strips=4)
        m.facet(
            np.array(
                [
                    [xn - 1.1, -W * 0.4, 1.35],
                    [xn - 1.7, -W * 0.42, 1.4],
                    [xn - 1.7, W * 0.42, 1.4],
                    [xn - 1.1, W * 0.4, 1.35],
                ]
            ),
            role="canopy",
            level=1.41,
        )
        if L > 4.6:  # pickups/vans: a rear window or load bed
            m.facet(
                np.array(
                    [
                        [xt + 1.6, -W * 0.4, 1.35],
                        [xt + 1.3, -W * 0.42, 1.35],
                        [xt + 1.3, W * 0.42, 1.35],
                        [xt + 1.6, W * 0.4, 1.35],
                    ]
                ),
                role="canopy",
                level=1.36,
            )
        return m
    if t.load == "bus":
        prism(m, rect(xt, xn, -W / 2, W / 2), 0.3, 3.0, role="body")
        m.facet(
            np.array(
                [
                    [xn - 0.1, -W * 0.45, 3.0],
                    [xn - 0.6, -W * 0.45, 3.0],
                    [xn - 0.6, W * 0.45, 3.0],
                    [xn - 0.1, W * 0.45, 3.0],
                ]
            ),
            role="canopy",
            level=3.01,
        )
        for k in range(2):
            x = xt + L * (0.3 + 0.35 * k)
            prism(m, rect(x - 0.6, x + 0.6, -0.6, 0.6), 3.0, 3.3, role="metal", walls=False)
        return m
    if t.load == "gse_low":  # baggage tractor / pushback tug: low, with a small cab or none
        prism(m, rect(xt, xn, -W / 2, W / 2), 0.3, 1.3, role="body")
        prism(m, rect(xt + 0.2, xt + 1.4, -W * 0.35, W * 0.35), 1.3, 2.1, role="cab", walls=False)
        return m
    # cab(s)
    if t.split_cab:
        for s in (-1, 1):
            prism(m, rect(xn - t.cab, xn, s * W * 0.18, s * W / 2), 0.8, t.cab_h, role="cab")
            m.facet(
                np.array(
                    [
                        [xn - 0.1, s * W * 0.2, t.cab_h],
                        [xn - 0.7, s * W * 0.2, t.cab_h],
                        [xn - 0.7, s * W * 0.48, t.cab_h],
                        [xn - 0.1, s * W * 0.48, t.cab_h],
                    ]
                ),
                role="canopy",
                level=t.cab_h + 0.01,
            )
        prism(m, rect(xn - t.cab, xn - 0.2, -W * 0.18, W * 0.18), 0.8, t.cab_h - 0.6, role="metal")
    else:
        prism(m, rect(xn - t.cab, xn, -W / 2, W / 2), 0.8, t.cab_h, role="cab")
        m.facet(
            np.array(
                [
                    [xn - 0.05, -W * 0.45, t.cab_h],
                    [xn - 0.5, -W * 0.45, t.cab_h],
                    [xn - 0.5, W * 0.45, t.cab_h],
                    [xn - 0.05, W * 0.45, t.cab_h],
                ]
            ),
            role="canopy",
            level=t.cab_h + 0.01,
        )
    rear_end = xt + (t.trailer if t.trailer else 0.0)
    bed0, bed1 = rear_end, xn - t.cab - 0.3
    if t.trailer:
        # tractor chassis behind the cab, then a gap and the trailer
        prism(m, rect(bed1 - 1.8, bed1, -W * 0.45, W * 0.45), 0.6, 1.4, role="metal")
        tr0, tr1 = xt, bed1 - 0.6
        prism(m, rect(tr0, tr1, -W / 2, W / 2), 0.5, 1.3, role="metal")
        bed0, bed1 = tr0 + 0.3, tr1 - 1.0
        if t.load == "flat":
            return m
    if t.load == "none":
        prism(m, rect(bed0, bed1, -W * 0.45, W * 0.45), 0.6, 1.3, role="metal")
        return m
    if t.load == "tank":
        xs = np.linspace(bed0, bed1, 6)
        body(m, xs, np.full(6, W * 0.46), 2.0, 0.95, role="cargo", strips=5)
        return m
    if t.load == "flat":
        prism(m, rect(bed0, bed1, -W / 2, W / 2), 0.6, 1.4, role="metal")
        return m
    if t.load == "belt":  # belt loader: an inclined conveyor
        prism(m, rect(bed0, bed1, -W * 0.45, W * 0.45), 0.4, 1.1, role="body")
        belt = np.array([[xn + 1.0, -0.4, 3.2], [bed0, -0.4, 0.8], [bed0, 0.4, 0.8], [xn + 1.0, 0.4, 3.2]])
        m.facet(belt, (0.4, 0.0, 0.9), "dark", level=1.0)
        m.caster(belt)
        return m
    if t.load == "stairs":
        prism(m, rect(bed0, bed1, -W * 0.45, W * 0.45), 0.4, 1.1, role="body")
        st = np.array(
            [[xn + 1.5, -0.6, 4.0], [bed0 + 1.0, -0.6, 1.1], [bed0 + 1.0, 0.6, 1.1], [xn + 1.5, 0.6, 4.0]]
        )
        m.facet(st, (0.6, 0.0, 0.8), "metal", level=1.2)
        m.caster(st)
        return m
    role = "cargo"
    if t.load in ("tarp", "box"):
        prism(m, rect(bed0, bed1, -W / 2, W / 2), 1.0, t.load_h, role=role)
        if t.load == "tarp":  # tarpaulin bows: faint ridges
            for k in range(1, 4):
                x = bed0 + (bed1 - bed0) * k / 4
                m.facet(
                    np.array(
                        [
                            [x + 0.08, -W / 2, t.load_h],
                            [x - 0.08, -W / 2, t.load_h],
                            [x - 0.08, W / 2, t.load_h],
                            [x + 0.08, W / 2, t.load_h],
                        ]
                    ),
                    role="dark",
                    level=t.load_h + 0.01,
                )
    elif t.load == "tipper":
        prism(m, rect(bed0, bed1, -W / 2, W / 2), 1.0, 2.2, role="body")
        m.facet(
            np.column_stack([rect(bed0 + 0.2, bed1 - 0.2, -W / 2 + 0.2, W / 2 - 0.2), np.full(4, 2.21)]),
            role="cargo",
            level=2.21,
        )
    return m


def build_launcher(
    *, packed: bool, towed: bool = False, stowed: bool = False, rng: np.random.Generator | None = None
) -> Model:
    """S-400 5P85SM2-01 on a MAZ-543M (or 5P85TE2 on a semi-trailer when ``towed``).

    Three looks: erected (canisters vertical at the rear, outriggers down), *stowed* (canisters
    lowered along the vehicle but outriggers still down: at readiness on its site) and packed for
    the road (canisters lowered, outriggers up). ``packed=True, stowed=True`` gives the stowed
    look; both lowered looks carry the taxonomy's one non-nominal SAM state, ``packed``.
    """
    if towed:
        L, W = 19.0, 3.1
        m = build_truck(Truck(L, 2.9, cab=2.6, cab_h=3.0, load="flat", trailer=13.5))
        x_rear, x_front = -L / 2 + 0.4, -L / 2 + 12.8
    else:
        L, W = 13.0, 3.05
        m = build_truck(Truck(L, W, cab=2.9, cab_h=2.95, load="none", split_cab=True))
        x_rear, x_front = -L / 2 + 0.3, L / 2 - 3.2
    n_tubes, tube_d = 2, 0.95
    pack_w = n_tubes * tube_d + 0.2
    outriggers = not packed or stowed
    if packed:
        # four canisters horizontal along the vehicle, two wide, two high
        length = min(x_front - x_rear, 8.4)
        xs = np.linspace(x_rear, x_rear + length, 4)
        for k in range(n_tubes):
            y0 = -pack_w / 2 + tube_d / 2 + 0.1 + k * tube_d
            body(m, xs, np.full(4, tube_d / 2), 3.2, tube_d / 2, role="canister", strips=4, y0=y0)
        prism(
            m,
            rect(x_rear + length * 0.2, x_rear + length * 0.3, -pack_w / 2, pack_w / 2),
            1.4,
            3.75,
            role="metal",
            walls=False,
        )
    else:
        # raised: the canister pack stands vertical at the rear; outrigger pads are down
        top = 11.2
        block = rect(x_rear - 0.2, x_rear + 2 * tube_d, -pack_w / 2, pack_w / 2)
        prism(m, block, 1.2, top, role="canister")
        for k in range(2):
            for j in range(2):
                c = circle(
                    x_rear + tube_d * (j + 0.5), -pack_w / 2 + 0.1 + tube_d * (k + 0.5), tube_d * 0.42, 8
                )
                m.facet(np.column_stack([c, np.full(len(c), top + 0.01)]), role="dark", level=top + 0.02)
        # erector beam down the bed
        prism(m, rect(x_rear + 2 * tube_d, x_front - 0.5, -0.35, 0.35), 1.3, 1.9, role="metal", walls=False)
    if outriggers:
        for sx in (x_rear + 0.8, x_front - 1.0):
            for s in (-1, 1):
                prism(
                    m,
                    rect(sx - 0.35, sx + 0.35, s * W / 2, s * (W / 2 + 1.1)),
                    0.0,
                    0.45,
                    role="metal",
                    walls=False,
                )
    return m


def build_radar(kind: str, *, packed: bool) -> Model:
    """92N6E fire-control radar (MZKT-7930), 91N6E acquisition radar (semi-trailer) or 96L6E."""
    if kind == "91N6E":
        L, W = 20.5, 3.1
        m = build_truck(Truck(L, 2.9, cab=2.6, cab_h=3.0, load="flat", trailer=14.5))
        x_mid = -L / 2 + 6.5
        aw, ah = 8.0, 3.0
    else:
        L, W = 13.5, 3.1
        m = build_truck(Truck(L, W, cab=2.9, cab_h=3.1, load="box", load_h=3.0))
        x_mid = -L / 2 + 2.6
        aw, ah = 4.6, 4.4
    if packed:
        arr = rect(x_mid - ah / 2, x_mid + ah / 2, -aw / 2 * 0.66, aw / 2 * 0.66)
        prism(m, arr, 3.0, 3.6, role="array", walls=False)
    else:
        # array up on its mast, tilted back ~15 deg, facing forward/up
        base_z, top_z = 4.5, 4.5 + ah * math.cos(math.radians(15))
        tilt = ah * math.sin(math.radians(15))
        face = np.array(
            [
                [x_mid + 0.3, -aw / 2, base_z],
                [x_mid + 0.3 - tilt, -aw / 2, top_z],
                [x_mid + 0.3 - tilt, aw / 2, top_z],
                [x_mid + 0.3, aw / 2, base_z],
            ]
        )
        m.facet(face, (0.96, 0.0, 0.26), "array", level=top_z)
        back = face.copy()
        back[:, 0] -= 0.4
        m.caster(np.concatenate([face, back]))
        prism(m, circle(x_mid - 0.6, 0.0, 0.5, 8), 3.0, base_z + 0.3, role="metal", walls=False)
    return m


def build_pantsir(*, packed: bool) -> Model:
    """Pantsir-S1 on KamAZ-6560: cab, equipment body, turret with guns/missiles and a search
    radar that stands up when deployed and folds for the march."""
    L, W = 10.5, 2.8
    m = build_truck(Truck(L, W, cab=2.6, cab_h=3.0, load="box", load_h=2.8))
    tx = -L / 2 + 2.6
    prism(m, rect(tx - 1.4, tx + 1.4, -1.2, 1.2), 2.8, 3.9, role="body")
    for s in (-1, 1):  # missile packs and guns
        prism(m, rect(tx - 1.0, tx + 2.6, s * 1.25, s * 1.85), 3.2, 3.9, role="canister", walls=False)
        prism(m, rect(tx + 1.2, tx + 4.2, s * 0.35, s * 0.55), 3.5, 3.7, role="dark", walls=False)
    if packed:
        prism(m, rect(tx - 1.2, tx + 0.4, -1.0, 1.0), 3.9, 4.2, role="array", walls=False)
    else:
        face = np.array(
            [[tx - 0.4, -1.1, 4.0], [tx - 0.6, -1.1, 5.6], [tx - 0.6, 1.1, 5.6], [tx - 0.4, 1.1, 4.0]]
        )
        m.facet(face, (-0.99, 0.0, 0.1), "array", level=5.6, two_sided=True)
        m.caster(face)
    return m


def build_armour(length: float, width: float, kind: str) -> Model:
    """Wheeled armour (BTR-82, Tigr): a sloped hull with a small turret or roof hatches."""
    m = Model()
    xs = np.linspace(-length / 2, length / 2, 7)
    hw = np.full(7, width / 2)
    hw[-1] *= 0.7
    hw[-2] *= 0.9
    body(m, xs, hw, 1.4, 0.8 if kind == "btr" else 0.6, role="body", strips=5)
    if kind == "btr":
        prism(m, circle(length * 0.1, 0.0, 0.8, 10), 2.1, 2.6, role="body", walls=False)
        prism(
            m, rect(length * 0.1 + 0.4, length * 0.1 + 2.3, -0.06, 0.06), 2.35, 2.45, role="dark", walls=False
        )
    else:
        m.facet(
            np.array(
                [
                    [length / 2 - 1.2, -width * 0.4, 2.05],
                    [length / 2 - 1.7, -width * 0.42, 2.05],
                    [length / 2 - 1.7, width * 0.42, 2.05],
                    [length / 2 - 1.2, width * 0.4, 2.05],
                ]
            ),
            role="canopy",
            level=2.06,
        )
    return m


def build_cart_train(n: int, rng: np.random.Generator) -> Model:
    """Baggage tractor towing ``n`` carts (the carts are clutter, not labelled vehicles)."""
    m = Model()
    x = 0.0
    for _ in range(n):
        L = rng.uniform(2.6, 3.2)
        prism(m, rect(x - L, x, -0.8, 0.8), 0.4, rng.uniform(1.3, 1.9), role="cargo")
        x -= L + 0.6
    return m


def plate_item(length: float, width: float, z: float, role: str = "metal") -> Model:
    m = Model()
    plate(m, rect(-length / 2, length / 2, -width / 2, width / 2), z, role=role)
    return m
