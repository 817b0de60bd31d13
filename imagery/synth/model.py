"""2.5D object models: what the renderer needs to draw an object from above, light it and cast
its shadow, built from a handful of primitives.

An object lives in its own frame: ``x`` forward (towards the nose or the cab), ``y`` to its right
(starboard), ``z`` up, metres, origin at the centre of its truth box. A model is

* **facets**: planar 3-D polygons with an outward normal and a paint role. The renderer projects
  each vertex to the image with the off-nadir lean of *its own* height (so a tall fin leans more
  than a wing root), fills the facets in painter's order (facets are sorted by height here), and
  lights each with ``max(0, n . sun)`` plus skylight. Curved bodies (fuselages, nacelles, tanks)
  are split into strips across their width whose normals sweep over the cylinder, which is what
  gives a white fuselage its bright sunlit side and dark terminator at 0.3-0.5 m.
* **casters**: convex 3-D point sets. The shadow of a caster on a horizontal plane at height ``h``
  is the convex hull of its points moved along the sun-opposite azimuth by ``(z - h) /
  tan(sun elevation)``: on the ground (``h = 0``) that is the cast shadow; at the height of a lower
  part of the same object it is the shadow the fuselage throws on its own wing or the fin on its
  tailplane.

Keeping models as plain arrays lets one object be placed at any heading, GSD, sun and view angle
with a few matrix products and ``cv2.fillPoly`` calls, which is what makes the training-chip path
fast; the scene writer uses exactly the same models.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from itertools import pairwise

import numpy as np

# Paint roles: each object's paint scheme maps these to colours (see imagery.synth.paint).
ROLES: tuple[str, ...] = (
    "body",  # main painted surface (fuselage top, vehicle body)
    "wing",  # wings, stabilisers
    "engine",  # nacelles, intakes
    "tail",  # fin (airline tail colour)
    "canopy",  # cockpit glazing, windscreens
    "radome",  # nose cone, dielectric panels
    "dark",  # exhausts, intakes, shadows-in-paint, tyres, open holds
    "rotor",  # rotor blades, propellers
    "stripe",  # cheatline / livery band on top of the body
    "metal",  # bare metal, chassis, masts
    "cab",  # vehicle cabs
    "cargo",  # tarpaulins, loads, containers
    "canister",  # SAM canisters
    "array",  # radar antenna faces
    "roof",  # building roofs
    "wall",  # building walls
    "berm",  # earth revetments
    "accent",  # second livery colour, markings on vehicles
)
ROLE_INDEX = {name: i for i, name in enumerate(ROLES)}

UP = (0.0, 0.0, 1.0)


@dataclass
class Facet:
    verts: np.ndarray  # (n, 3) object frame
    normal: tuple[float, float, float]
    role: int
    level: float  # height at which this surface receives shadows from other parts
    two_sided: bool = False  # vertical plates: light the side that faces the satellite


@dataclass
class Model:
    """A compiled object model: facets in painter's order and shadow casters."""

    facets: list[Facet] = field(default_factory=list)
    casters: list[np.ndarray] = field(default_factory=list)

    def add(self, other: Model) -> Model:
        self.facets.extend(other.facets)
        self.casters.extend(other.casters)
        return self

    def facet(
        self,
        verts: np.ndarray,
        normal: tuple[float, float, float] = UP,
        role: str = "body",
        level: float | None = None,
        two_sided: bool = False,
    ) -> None:
        v = np.asarray(verts, dtype=np.float64)
        lvl = float(v[:, 2].max()) if level is None else level
        self.facets.append(Facet(v, normal, ROLE_INDEX[role], lvl, two_sided))

    def caster(self, points: np.ndarray) -> None:
        self.casters.append(np.asarray(points, dtype=np.float64))

    def compile(self) -> CompiledModel:
        return CompiledModel.from_model(self)


@dataclass(frozen=True)
class CompiledModel:
    """Flat arrays of a :class:`Model`, ready for vectorised placement."""

    fverts: np.ndarray  # (V, 3) all facet vertices
    fstart: np.ndarray  # (F + 1,) offsets into fverts
    fnormal: np.ndarray  # (F, 3)
    frole: np.ndarray  # (F,) int
    flevel: np.ndarray  # (F,) float
    ftwo: np.ndarray  # (F,) bool
    cverts: np.ndarray  # (W, 3) all caster points
    cstart: np.ndarray  # (C + 1,)
    ctop: np.ndarray  # (C,) highest z of each caster
    levels: np.ndarray  # distinct receiving heights, ascending
    radius: float  # max horizontal distance of any point from the origin
    top: float  # highest point
    fslices: tuple[tuple[int, int], ...] = ()  # (start, end) of each facet in fverts

    @staticmethod
    def from_model(m: Model) -> CompiledModel:
        # Painter's order: lower surfaces first; a stable sort keeps the builder's order within
        # one height (a stripe drawn after the body it sits on).
        order = sorted(range(len(m.facets)), key=lambda i: m.facets[i].level)
        facets = [m.facets[i] for i in order]
        fverts = np.concatenate([f.verts for f in facets]) if facets else np.zeros((0, 3))
        fstart = np.cumsum([0] + [len(f.verts) for f in facets])
        cverts = np.concatenate(m.casters) if m.casters else np.zeros((0, 3))
        cstart = np.cumsum([0] + [len(c) for c in m.casters])
        ctop = np.array([c[:, 2].max() for c in m.casters]) if m.casters else np.zeros(0)
        # receiving levels are rounded *up* to 0.25 m: fewer self-shadow passes, and a part can
        # never fall in its own shadow (its caster is never higher than its rounded level)
        flevel = np.ceil(np.array([f.level for f in facets]) * 4.0 - 1e-6) / 4.0 if facets else np.zeros(0)
        levels = np.unique(flevel)
        pts = np.concatenate([fverts, cverts]) if len(cverts) else fverts
        radius = float(np.hypot(pts[:, 0], pts[:, 1]).max()) if len(pts) else 0.0
        top = float(pts[:, 2].max()) if len(pts) else 0.0
        return CompiledModel(
            fverts=fverts,
            fstart=fstart.astype(np.int64),
            fnormal=np.array([f.normal for f in facets], dtype=np.float64).reshape(-1, 3),
            frole=np.array([f.role for f in facets], dtype=np.int64),
            flevel=flevel.astype(np.float64),
            ftwo=np.array([f.two_sided for f in facets], dtype=bool),
            cverts=cverts,
            cstart=cstart.astype(np.int64),
            ctop=ctop,
            levels=levels,
            radius=radius,
            top=top,
            fslices=tuple((int(a), int(b)) for a, b in pairwise(fstart)),
        )


# --------------------------------------------------------------------------------------------
# Primitives
# --------------------------------------------------------------------------------------------


def _with_z(poly2d: np.ndarray, z: float | np.ndarray) -> np.ndarray:
    p = np.asarray(poly2d, dtype=np.float64)
    zz = np.broadcast_to(np.asarray(z, dtype=np.float64), (len(p),))
    return np.column_stack([p, zz])


def prism(
    m: Model,
    poly2d: np.ndarray,
    z0: float,
    z1: float,
    role: str = "body",
    walls: bool = True,
    wall_role: str | None = None,
    cast: bool = True,
) -> None:
    """A vertical extrusion of a convex polygon: top face, side walls (seen off-nadir) and its
    shadow. Walls are emitted as two-sided vertical quads, lit by their own orientation."""
    p = np.asarray(poly2d, dtype=np.float64)
    if walls and z1 - z0 > 0.4:
        n = len(p)
        for i in range(n):
            a, b = p[i], p[(i + 1) % n]
            d = b - a
            length = math.hypot(*d)
            if length < 1e-6:
                continue
            # outward normal for a counter-clockwise-in-(x, y) ring is (dy, -dx); orientation
            # is resolved at render time anyway (two-sided), so sign does not matter here.
            nx, ny = d[1] / length, -d[0] / length
            quad = np.array([[*a, z0], [*b, z0], [*b, z1], [*a, z1]])
            m.facet(quad, (nx, ny, 0.0), wall_role or role, level=z1 - 1e-3, two_sided=True)
    m.facet(_with_z(p, z1), UP, role, level=z1)
    if cast:
        m.caster(np.concatenate([_with_z(p, z0), _with_z(p, z1)]))


def plate(
    m: Model,
    poly2d: np.ndarray,
    z: float,
    role: str = "wing",
    thickness: float = 0.3,
    cast: bool = True,
    normal: tuple[float, float, float] = UP,
) -> None:
    """A thin horizontal surface (wing, stabiliser, blade, ramp)."""
    p = np.asarray(poly2d, dtype=np.float64)
    m.facet(_with_z(p, z), normal, role, level=z)
    if cast:
        m.caster(np.concatenate([_with_z(p, max(z - thickness, 0.0)), _with_z(p, z)]))


def vertical_plate(
    m: Model, pts_xz: np.ndarray, y: float, role: str = "tail", thickness: float = 0.35, cast: bool = True
) -> None:
    """A vertical surface in the x-z plane at lateral offset ``y`` (a fin): its side, leaned
    off-nadir, is what shows; its shadow is long and tells the aircraft's height."""
    pts = np.asarray(pts_xz, dtype=np.float64)
    verts = np.column_stack([pts[:, 0], np.full(len(pts), y), pts[:, 1]])
    m.facet(verts, (0.0, 1.0, 0.0), role, level=float(pts[:, 1].max()), two_sided=True)
    # a thin cap so that the fin still shows at nadir
    x0, x1 = pts[:, 0].min(), pts[:, 0].max()
    ztop = float(pts[:, 1].max())
    top_pts = pts[pts[:, 1] >= ztop - 1e-6]
    tx0, tx1 = top_pts[:, 0].min(), top_pts[:, 0].max()
    if tx1 - tx0 < 0.2:
        tx1 = tx0 + 0.2
    h = thickness / 2
    m.facet(
        np.array([[tx1, y - h, ztop], [tx0, y - h, ztop], [tx0, y + h, ztop], [tx1, y + h, ztop]]),
        UP,
        role,
        level=ztop,
    )
    if cast:
        c = np.concatenate(
            [
                np.column_stack([pts[:, 0], np.full(len(pts), y - h), pts[:, 1]]),
                np.column_stack([pts[:, 0], np.full(len(pts), y + h), pts[:, 1]]),
            ]
        )
        m.caster(c)
    del x0, x1


def body(
    m: Model,
    xs: np.ndarray,
    half_w: np.ndarray,
    z_c: float,
    r_v: float | np.ndarray,
    role: str = "body",
    strips: int = 7,
    cast: bool = True,
    cap: float = 0.0,
    stripe: tuple[str, float] | None = None,
    y0: float = 0.0,
) -> None:
    """A body of revolution (fuselage, nacelle, boom, tank) along x.

    ``xs`` (ascending, tail to nose) and ``half_w`` give the plan profile; the cross-section is an
    ellipse with horizontal half-axis ``half_w`` and vertical half-axis ``r_v`` (scalar or per
    x) centred at height ``z_c``. The top is split into ``strips`` bands across the width with
    normals sweeping over the section. ``stripe=(role, frac)`` paints a centre band of relative
    width ``frac`` (a livery crown stripe). ``cap`` rounds the section by lifting the bottom of
    the shadow caster (a fuselage does not shadow the ground right under its belly).
    """
    xs = np.asarray(xs, dtype=np.float64)
    hw = np.maximum(np.asarray(half_w, dtype=np.float64), 1e-3)
    rv = np.broadcast_to(np.asarray(r_v, dtype=np.float64), xs.shape)
    edges = np.sin(np.linspace(-math.pi / 2, math.pi / 2, strips + 1))  # denser near the rim
    for k in range(strips):
        u0, u1 = edges[k], edges[k + 1]
        um = 0.5 * (u0 + u1)
        nz = math.sqrt(max(0.0, 1 - um * um))
        z0 = z_c + rv * math.sqrt(max(0.0, 1 - u0 * u0))
        z1 = z_c + rv * math.sqrt(max(0.0, 1 - u1 * u1))
        side0 = np.column_stack([xs, y0 + u0 * hw, z0])
        side1 = np.column_stack([xs, y0 + u1 * hw, z1])
        verts = np.concatenate([side0, side1[::-1]])
        normal = (0.0, um, nz)
        role_k = role
        if stripe is not None and abs(um) < stripe[1]:
            role_k = stripe[0]
        m.facet(verts, normal, role_k, level=float(z_c + rv.max()))
    if cast:
        ring = np.concatenate([np.column_stack([xs, y0 + hw]), np.column_stack([xs[::-1], y0 - hw[::-1]])])
        zb = max(z_c - float(rv.max()) * (1.0 - cap), 0.0)
        zt = z_c + float(rv.max())
        m.caster(np.concatenate([_with_z(ring, zb), _with_z(ring, zt)]))


def profile(
    length: float,
    width: float,
    nose: float,
    tail: float,
    *,
    nose_power: float = 0.5,
    tail_power: float = 0.8,
    tail_width: float = 0.15,
    nose_width: float = 0.0,
    n: int = 9,
) -> tuple[np.ndarray, np.ndarray]:
    """Plan profile of a fuselage centred on x = 0: tail cone, constant section, nose.

    ``nose``/``tail`` are the taper lengths; ``nose_power`` < 1 gives a rounded nose (airliner),
    close to 1 a pointed one (fighter); ``tail_width`` is the end width as a fraction of ``width``.
    Returns xs ascending (tail first) and half-widths.
    """
    half = width / 2
    x_tail = -length / 2
    x_nose = length / 2
    tail = min(tail, length * 0.6)
    nose = min(nose, length * 0.5)
    t = np.linspace(0.0, 1.0, n)
    xs_t = x_tail + t * tail
    hw_t = half * (tail_width + (1 - tail_width) * (1 - (1 - t) ** (1 / tail_power)) ** 0.5)
    xs_n = x_nose - nose + t * nose
    hw_n = half * (nose_width + (1 - nose_width) * np.clip(1 - t, 0, 1) ** nose_power)
    hw_n[-1] = max(hw_n[-1], half * 0.02)
    xs = np.concatenate([xs_t, xs_n])
    hw = np.concatenate([hw_t, hw_n])
    keep = np.concatenate([[True], np.diff(xs) > 1e-6])
    return xs[keep], hw[keep]


def trapezoid_wing(
    y_root: float,
    x_root_le: float,
    root_chord: float,
    semi_span: float,
    tip_chord: float,
    sweep_le_deg: float,
    side: int,
) -> np.ndarray:
    """One wing panel in plan: root at lateral offset ``y_root``, tip ``semi_span`` further out
    (``side`` +1 right, -1 left). x of the leading edge decreases aft with the sweep."""
    dx = semi_span * math.tan(math.radians(sweep_le_deg))
    yr, yt = side * y_root, side * (y_root + semi_span)
    pts = np.array(
        [
            [x_root_le, yr],
            [x_root_le - dx, yt],
            [x_root_le - dx - tip_chord, yt],
            [x_root_le - root_chord, yr],
        ]
    )
    return pts


def rect(x0: float, x1: float, y0: float, y1: float) -> np.ndarray:
    return np.array([[x1, y0], [x0, y0], [x0, y1], [x1, y1]], dtype=np.float64)


def circle(cx: float, cy: float, r: float, n: int = 16) -> np.ndarray:
    a = np.linspace(0, 2 * math.pi, n, endpoint=False)
    return np.column_stack([cx + r * np.cos(a), cy + r * np.sin(a)])


def rotate2d(pts: np.ndarray, angle_deg: float, about: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """Rotate plan points in the (x fwd, y right) frame; a positive angle turns the forward axis
    towards the right (clockwise seen from above, like a heading)."""
    a = math.radians(angle_deg)
    c, s = math.cos(a), math.sin(a)
    p = np.asarray(pts, dtype=np.float64) - about
    return np.column_stack([c * p[:, 0] - s * p[:, 1], s * p[:, 0] + c * p[:, 1]]) + about
