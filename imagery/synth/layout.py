"""The synthetic layout of a site (``layout:`` in a site YAML), validated by pydantic, and its
conversion to map geometry: pavements and markings for the ground, stands for the objects.

Layout coordinates are metres in a local frame aligned with the runways, because that is how an
airfield is drawn: ``frame.origin`` (lon/lat) is local (0, 0), local +y points along
``frame.heading_true`` (degrees from true north, the runway direction) and +x to its right.
Headings of stands are local too (0 = along +y). Converting to the site's projected CRS applies
the grid convergence, so an object parked "along the runway" has the same heading as the runway
in a north-up image (grid north differs from true north by ~1.7 deg at Khmeimim, domain.md 3.1).

Zones are *not* part of the layout: they are the site's lon/lat ``zones`` (the change stage reads
them too); a stand row names the zone it belongs to, and the tests check the row lies inside it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

import numpy as np
from pydantic import Field, ValidationError, field_validator, model_validator
from pyproj import Transformer

from imagery.config import LonLat, SiteConfig, StrictModel
from imagery.errors import ConfigError
from imagery.synth.ground import MAT, GroundLayout

XY = tuple[float, float]

STAND_KINDS = (
    "heavy",
    "transport",
    "fighter",
    "helicopter",
    "airliner",
    "sam_launcher",
    "sam_radar",
    "sam_pantsir",
    "vehicle",
    "gse",
)


class FrameSpec(StrictModel):
    origin: LonLat
    heading_true: float = Field(ge=0, lt=360)


class RunwaySpec(StrictModel):
    name: str
    centre: XY
    length: float = Field(gt=100)
    width: float = Field(default=45.0, gt=10)
    surface: str = "asphalt"


class PavementSpec(StrictModel):
    """An apron, taxiway, road or pad: a polygon, or a polyline with a width."""

    kind: Literal["apron", "taxiway", "road", "pad", "pavement", "terrain"] = "apron"
    surface: str = "concrete"
    polygon: list[XY] | None = None
    line: list[XY] | None = None
    width: float | None = None
    markings: bool = True

    @field_validator("surface")
    @classmethod
    def _known_surface(cls, v: str) -> str:
        if v not in MAT:
            raise ValueError(f"unknown surface {v!r} (known: {', '.join(MAT)})")
        return v

    @model_validator(mode="after")
    def _shape(self) -> PavementSpec:
        if (self.polygon is None) == (self.line is None):
            raise ValueError("give exactly one of polygon or line")
        if self.line is not None and not self.width:
            raise ValueError("a line pavement needs a width")
        if self.polygon is not None and len(self.polygon) < 3:
            raise ValueError("a polygon needs at least 3 vertices")
        return self


class StandRowSpec(StrictModel):
    """``count`` stands from ``start`` every ``step`` metres, all with one heading."""

    zone: str
    kind: Literal[
        "heavy",
        "transport",
        "fighter",
        "helicopter",
        "airliner",
        "sam_launcher",
        "sam_radar",
        "sam_pantsir",
        "vehicle",
        "gse",
    ]
    start: XY
    step: XY = (0.0, 0.0)
    count: int = Field(default=1, ge=1, le=200)
    heading: float = 0.0
    revetment: bool = False
    jet_bridge: bool = False
    lead_in: bool = True
    fill: float = Field(default=0.85, ge=0, le=1)


class StructureSpec(StrictModel):
    type: str
    centre: XY
    size: tuple[float, float] | None = None
    heading: float = 0.0
    count: int = Field(default=1, ge=1, le=500)
    step: XY = (0.0, 0.0)


class ScatterSpec(StrictModel):
    """Random distractors (buildings, greenhouses, tents...) inside a local polygon."""

    types: list[str]
    polygon: list[XY]
    count: int = Field(ge=0, le=2000)
    aligned: bool = True


class GroveSpec(StrictModel):
    """Trees planted on a grid (olive and citrus groves) inside a local polygon."""

    polygon: list[XY]
    spacing: float = Field(default=7.0, gt=2.0)
    crown: tuple[float, float] = (3.0, 6.0)
    angle: float = 0.0
    fill: float = Field(default=0.9, ge=0, le=1)


class AcquisitionSpec(StrictModel):
    start_date: str = "2024-12-12"
    interval_days: int = Field(default=1, ge=1)
    hour_utc: tuple[float, float] = (7.8, 9.3)
    off_nadir: tuple[float, float] = (5.0, 28.0)
    satellites: list[str] = Field(default_factory=lambda: ["WV03", "WV02", "GE01", "LG01"])


class LayoutSpec(StrictModel):
    frame: FrameSpec
    terrain: str = "soil"
    runways: list[RunwaySpec] = Field(default_factory=list)
    pavements: list[PavementSpec] = Field(default_factory=list)
    stands: list[StandRowSpec] = Field(default_factory=list)
    structures: list[StructureSpec] = Field(default_factory=list)
    scatter: list[ScatterSpec] = Field(default_factory=list)
    groves: list[GroveSpec] = Field(default_factory=list)
    convoys: list[list[XY]] = Field(
        default_factory=list, description="routes (local polylines) where convoys form"
    )
    acquisition: AcquisitionSpec = AcquisitionSpec()

    @field_validator("terrain")
    @classmethod
    def _known_terrain(cls, v: str) -> str:
        if v not in MAT:
            raise ValueError(f"unknown terrain {v!r}")
        return v


def parse_layout(site: SiteConfig) -> LayoutSpec:
    """Validate ``site.layout``; a bad layout is a :class:`ConfigError` naming the field."""
    if not site.layout:
        raise ConfigError(f"site {site.name}: has no 'layout' section, so no synthetic scene can be made")
    try:
        spec = LayoutSpec.model_validate(site.layout)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(x) for x in err["loc"]) or "(top level)"
        raise ConfigError(f"site {site.name}: invalid layout at {loc}: {err['msg']}") from None
    zone_names = {z.name for z in site.zones}
    for i, row in enumerate(spec.stands):
        if row.zone not in zone_names:
            raise ConfigError(
                f"site {site.name}: layout.stands.{i} names zone {row.zone!r}, "
                f"which is not among the site's zones"
            )
    from imagery.synth.catalog import TYPES

    for i, s in enumerate(spec.structures):
        if s.type not in TYPES or TYPES[s.type].cls is not None:
            raise ConfigError(f"site {site.name}: layout.structures.{i}: unknown structure type {s.type!r}")
    for i, s in enumerate(spec.scatter):
        for t in s.types:
            if t not in TYPES or TYPES[t].cls is not None:
                raise ConfigError(f"site {site.name}: layout.scatter.{i}: unknown structure type {t!r}")
    return spec


@dataclass(frozen=True)
class Stand:
    zone: str
    kind: str
    x: float  # map (scene CRS)
    y: float
    heading: float  # grid heading, degrees
    revetment: bool
    jet_bridge: bool
    index: int  # stable index over all stands


class SiteFrame:
    """Local layout metres <-> the site's projected CRS."""

    def __init__(self, site: SiteConfig, spec: LayoutSpec) -> None:
        self.crs = site.crs
        fwd = Transformer.from_crs("EPSG:4326", site.crs, always_xy=True)
        lon, lat = spec.frame.origin
        self.ox, self.oy = fwd.transform(lon, lat)
        # grid bearing of true north at the origin: project a point 1 km north along the meridian
        nx, ny = fwd.transform(lon, lat + 1000.0 / 111_000.0)
        grid_of_true_north = math.degrees(math.atan2(nx - self.ox, ny - self.oy))
        self.convergence = -grid_of_true_north  # true = grid + convergence
        self.grid_heading = (spec.frame.heading_true - self.convergence) % 360.0
        a = math.radians(self.grid_heading)
        self.ey = np.array([math.sin(a), math.cos(a)])  # local +y in map
        self.ex = np.array([math.cos(a), -math.sin(a)])  # local +x in map
        self._fwd = fwd

    def to_map(self, pts: np.ndarray | list[XY]) -> np.ndarray:
        p = np.asarray(pts, dtype=np.float64).reshape(-1, 2)
        m = p[:, :1] * self.ex + p[:, 1:2] * self.ey
        return m + np.array([self.ox, self.oy])

    def heading(self, local_heading: float) -> float:
        return (local_heading + self.grid_heading) % 360.0

    @cached_property
    def lonlat_to_map(self) -> Transformer:
        return self._fwd


def stands(spec: LayoutSpec, frame: SiteFrame) -> list[Stand]:
    out = []
    k = 0
    for row in spec.stands:
        for i in range(row.count):
            lx = row.start[0] + i * row.step[0]
            ly = row.start[1] + i * row.step[1]
            x, y = frame.to_map([(lx, ly)])[0]
            out.append(
                Stand(
                    row.zone,
                    row.kind,
                    float(x),
                    float(y),
                    frame.heading(row.heading),
                    row.revetment,
                    row.jet_bridge,
                    k,
                )
            )
            k += 1
    return out


def row_fill(spec: LayoutSpec) -> list[float]:
    return [row.fill for row in spec.stands for _ in range(row.count)]


def stand_leadin(spec: LayoutSpec) -> list[bool]:
    return [row.lead_in for row in spec.stands for _ in range(row.count)]


# --------------------------------------------------------------------------------------------
# Ground features from the layout
# --------------------------------------------------------------------------------------------


def _rect(cx: float, cy: float, length: float, width: float) -> np.ndarray:
    """Local rectangle centred at (cx, cy), length along y."""
    return np.array(
        [
            [cx - width / 2, cy - length / 2],
            [cx + width / 2, cy - length / 2],
            [cx + width / 2, cy + length / 2],
            [cx - width / 2, cy + length / 2],
        ]
    )


def ground_layout(
    spec: LayoutSpec, frame: SiteFrame, rng: np.random.Generator, extent: tuple[float, float, float, float]
) -> GroundLayout:
    """Paintable ground for the whole scene: terrain patches, pavements, markings.

    ``extent`` (xmin, ymin, xmax, ymax in map metres) bounds the random terrain patches.
    """
    g = GroundLayout(
        base=MAT[spec.terrain],
        slab_angle=frame.grid_heading,
        slab_size=(float(rng.uniform(5.0, 7.5)), float(rng.uniform(5.0, 7.5))),
        seed=int(rng.integers(1 << 30)),
    )
    _terrain_patches(g, rng, extent)
    L = frame.to_map
    # pavements in order: terrain/roads first, then taxiways, aprons, pads
    order = {"terrain": 0, "road": 1, "pavement": 2, "taxiway": 3, "apron": 4, "pad": 5}
    for pv in sorted(spec.pavements, key=lambda p: order[p.kind]):
        if pv.polygon is not None:
            poly = L(pv.polygon)
            if pv.kind in ("apron", "pad") and pv.surface.startswith("concrete"):
                g.polygon("shoulder", _grow(poly, 2.5))
            g.polygon(pv.surface, poly)
            if pv.kind == "apron" and pv.markings:
                _apron_stains(g, rng, poly)
        else:
            line = L(pv.line)  # type: ignore[arg-type]
            w = float(pv.width)  # type: ignore[arg-type]
            if pv.kind == "taxiway":
                g.line("shoulder", line, w + 10.0)
            g.line(pv.surface, line, w)
            if pv.kind == "taxiway" and pv.markings:
                g.line("paint_yellow", line, 0.3)
                for side in (-1, 1):
                    g.line("paint_yellow", _offset(line, side * (w / 2 - 0.6)), 0.25)
    for rw in spec.runways:
        _runway(g, rw, frame, rng)
    return g


def stand_markings(
    g: GroundLayout, stand_list: list[Stand], lead: list[bool], rng: np.random.Generator
) -> None:
    """Yellow lead-in lines and stop bars for stands that have them."""
    for st, has in zip(stand_list, lead, strict=True):
        if not has or st.kind in ("sam_launcher", "sam_radar", "sam_pantsir", "vehicle", "gse"):
            continue
        h = math.radians(st.heading)
        f = np.array([math.sin(h), math.cos(h)])
        r = np.array([math.cos(h), -math.sin(h)])
        c = np.array([st.x, st.y])
        reach = {"heavy": 45.0, "transport": 32.0, "airliner": 32.0, "fighter": 14.0, "helicopter": 10.0}[
            st.kind
        ]
        if st.kind == "helicopter":
            ring = np.array(
                [c + 9.0 * (math.cos(a) * f + math.sin(a) * r) for a in np.linspace(0, 2 * np.pi, 33)]
            )
            g.line("paint_white" if rng.random() < 0.6 else "paint_yellow", ring, 0.4)
            g.line("paint_white", np.array([c - 2.5 * f - 2 * r, c + 2.5 * f - 2 * r]), 0.6)
            g.line("paint_white", np.array([c - 2.5 * f + 2 * r, c + 2.5 * f + 2 * r]), 0.6)
            g.line("paint_white", np.array([c - 2 * r, c + 2 * r]), 0.6)
            continue
        line = np.array([c - reach * f, c + reach * 0.55 * f])
        g.line("paint_yellow", line, 0.2)
        stop = c + reach * 0.45 * f
        g.line("paint_yellow", np.array([stop - 2.0 * r, stop + 2.0 * r]), 0.4)


def _grow(poly: np.ndarray, d: float) -> np.ndarray:
    c = poly.mean(axis=0)
    v = poly - c
    n = np.linalg.norm(v, axis=1, keepdims=True)
    return c + v * (1 + d / np.maximum(n, 1e-6))


def _offset(line: np.ndarray, d: float) -> np.ndarray:
    """Offset a polyline sideways by ``d`` (positive to the right)."""
    out = []
    for i in range(len(line)):
        a = line[max(i - 1, 0)]
        b = line[min(i + 1, len(line) - 1)]
        t = b - a
        t = t / max(np.hypot(*t), 1e-9)
        out.append(line[i] + d * np.array([t[1], -t[0]]))
    return np.array(out)


def _apron_stains(g: GroundLayout, rng: np.random.Generator, poly: np.ndarray) -> None:
    """Oil and rubber stains on an apron (dark blotches where aircraft stand and taxi), and
    tyre tracks (wide, slightly darker arcs)."""
    xmin, ymin = poly.min(axis=0)
    xmax, ymax = poly.max(axis=0)
    area = (xmax - xmin) * (ymax - ymin)
    for _ in range(int(area / 15000)):
        c = rng.uniform((xmin, ymin), (xmax, ymax))
        r = rng.uniform(20, 90)
        a0 = rng.uniform(0, 2 * np.pi)
        arc = np.linspace(a0, a0 + rng.uniform(0.4, 1.6), 16)
        g.line(
            "tyre",
            np.column_stack([c[0] + r * np.cos(arc), c[1] + r * np.sin(arc)]),
            float(rng.uniform(1, 4)),
        )
    for _ in range(int(area / 12000)):
        cx, cy = rng.uniform(xmin, xmax), rng.uniform(ymin, ymax)
        r = rng.uniform(0.8, 4.0)
        n = 9
        a = np.linspace(0, 2 * np.pi, n, endpoint=False)
        rr = r * rng.uniform(0.5, 1.3, size=n)
        g.polygon(
            "stain", np.column_stack([cx + rr * np.cos(a), cy + rr * np.sin(a) * rng.uniform(0.5, 1.5)])
        )


def _terrain_patches(
    g: GroundLayout, rng: np.random.Generator, extent: tuple[float, float, float, float]
) -> None:
    """Farmland around the airfield: blocks of rectangular parcels on a field grid (green winter
    crops, ploughed and bare soil, stubble) with tracks between them, and irregular scrub and
    bare patches. Pavements painted later cover the airfield itself."""
    xmin, ymin, xmax, ymax = extent
    area = (xmax - xmin) * (ymax - ymin)
    crops = ["grass", "dark_soil", "soil", "scrub", "grass", "sand", "dark_soil"]
    for _ in range(max(1, int(area / 600_000))):
        # a block of parcels sharing one orientation
        ang = rng.uniform(0, np.pi)
        ca, sa = math.cos(ang), math.sin(ang)
        bx, by = rng.uniform(xmin, xmax), rng.uniform(ymin, ymax)
        bw, bh = rng.uniform(300, 900), rng.uniform(300, 900)
        depth = rng.uniform(60, 180)
        u = -bw / 2
        while u < bw / 2:
            wdt = rng.uniform(15, 70)
            v = -bh / 2
            while v < bh / 2:
                d = depth * rng.uniform(0.6, 1.4)
                if rng.random() < 0.85:
                    pu = np.array([u, u + wdt - 1.5, u + wdt - 1.5, u])
                    pv = np.array([v, v, v + d - 1.5, v + d - 1.5])
                    x = bx + pu * ca - pv * sa
                    y = by + pu * sa + pv * ca
                    g.polygon(crops[int(rng.integers(len(crops)))], np.column_stack([x, y]))
                v += d
            u += wdt
    for _ in range(int(area / 120_000) + 2):
        cx, cy = rng.uniform(xmin, xmax), rng.uniform(ymin, ymax)
        w, h = rng.uniform(40, 260), rng.uniform(40, 260)
        ang = rng.uniform(0, np.pi)
        n = 16
        a = np.linspace(0, 2 * np.pi, n, endpoint=False) + rng.uniform(0, 0.3, n)
        r = np.convolve(np.tile(rng.uniform(0.55, 1.0, n), 3), np.ones(3) / 3, "same")[n : 2 * n]
        px = r * np.cos(a) * w / 2
        py = r * np.sin(a) * h / 2
        x = cx + px * math.cos(ang) - py * math.sin(ang)
        y = cy + px * math.sin(ang) + py * math.cos(ang)
        g.polygon(["scrub", "soil", "gravel", "sand"][int(rng.integers(4))], np.column_stack([x, y]))


def _runway(g: GroundLayout, rw: RunwaySpec, frame: SiteFrame, rng: np.random.Generator) -> None:
    L = frame.to_map
    cx, cy = rw.centre
    half = rw.length / 2
    g.polygon("shoulder", L(_rect(cx, cy, rw.length + 60, rw.width + 16)))
    g.polygon(rw.surface, L(_rect(cx, cy, rw.length, rw.width)))
    # rubber deposits in the touchdown zones
    for end in (-1, 1):
        y0 = cy + end * (half - 450)
        g.polygon("rubber", L(_rect(cx, y0, 600, rw.width * 0.35)))
        g.polygon("asphalt", L(_rect(cx, cy + end * (half - 150), 60, rw.width * 0.3)))
    # edge lines, centreline dashes, threshold bars, aiming points
    for side in (-1, 1):
        x = cx + side * (rw.width / 2 - 1.0)
        g.line("paint_white", L([(x, cy - half), (x, cy + half)]), 0.9)
    y = cy - half + 80
    while y < cy + half - 80:
        g.line("paint_white", L([(cx, y), (cx, y + 30)]), 0.9)
        y += 50
    for end in (-1, 1):
        ye = cy + end * (half - 6)
        n = 8 if rw.width >= 45 else 6
        span = rw.width - 6
        for k in range(n):
            x = cx - span / 2 + (k + 0.5) * span / n
            if abs(x - cx) < 2.5:
                continue
            g.polygon("paint_white", L(_rect(x, ye - end * 15, 30, 1.8)))
        for side in (-1, 1):
            g.polygon("paint_white", L(_rect(cx + side * 9.0, cy + end * (half - 400), 45, 9)))
            for k in range(3):
                g.polygon("paint_white", L(_rect(cx + side * 9.0, cy + end * (half - 200 - k * 150), 22, 3)))
        # designator: a block of white bars standing in for painted numerals
        for k in range(2):
            g.polygon("paint_white", L(_rect(cx + (k - 0.5) * 7, cy + end * (half - 50), 18, 4)))
