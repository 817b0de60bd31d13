"""Random small worlds for training chips: an airfield-like patch of ground with objects.

Each chip draws a *theme* (civil apron, military apron, helicopter pads, SAM site, convoy on a
road, a random mix, or distractors only) and builds its ground (pavements, markings, grass and
soil patches, stains) and objects (rows of parked aircraft with ground equipment, revetments,
jet bridges, buildings, masts...) in a metre frame whose top-left corner is (0, extent). The
mixture is tuned so that every class and every non-nominal state is common, many chips hold
several aircraft, and some hold nothing labelled at all (hard negatives).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from imagery.synth.catalog import TYPES, cached_model, scheme_for
from imagery.synth.ground import MAT, GroundLayout
from imagery.synth.render import Placed

THEMES = {
    "civil_apron": 0.30,
    "military_apron": 0.26,
    "helipads": 0.10,
    "sam_site": 0.10,
    "convoy": 0.06,
    "mixed": 0.10,
    "negative": 0.08,
}
# Themes outside the detector's default mixture, asked for by name (ChipStream(themes=...)).
# "state_study": aprons and sites crowded with the state-bearing types, each object in its
# non-nominal state half of the time, the An-124 (the only type that raises a nose visor)
# favoured; the chip source of the second-stage state classifier (detect/state_train.py).
# "grove": olive and citrus groves (tree crowns on a grid, each with its sun shadow) on farm
# ground, in half the chips with helicopters (half of them dismantled) on a pad beside them.
# Airbases such as Khmeimim sit among groves, and a crown with its shadow is helicopter-sized:
# without them the detector read orchards outside the base as helicopters (MODEL_CARD.md).
# "rooftops": tall blocks with rows of roof plant, a street grid and a few trucks: launcher-
# sized boxes high up, whose lean differs between views (false launcher events on rooftops in
# the Khmeimim pairs; MODEL_CARD.md).
EXTRA_THEMES = ("state_study", "grove", "rooftops")
VARIANTS = 16

CIVIL = [(t.name, t.weight) for t in TYPES.values() if t.cls == "airliner"]
TRANSPORT = [(t.name, t.weight) for t in TYPES.values() if t.cls == "transport"]
FIGHTER = [(t.name, t.weight) for t in TYPES.values() if t.cls == "fighter"]
HELI = [(t.name, t.weight) for t in TYPES.values() if t.cls == "helicopter"]
SAM = [(t.name, t.weight) for t in TYPES.values() if t.cls == "sam"]
MIL_VEHICLES = [
    (n, TYPES[n].weight)
    for n in ("KamAZ truck", "Ural-4320", "fuel truck", "MAZ-537 lowboy", "BTR-82A", "Tigr", "UAZ")
]
GSE = [
    (n, TYPES[n].weight)
    for n in (
        "tug",
        "pushback tug",
        "belt loader",
        "catering truck",
        "stairs truck",
        "fuel truck",
        "apron bus",
        "car",
        "van",
        "fire truck",
    )
]
CIVIL_VEHICLES = [(n, TYPES[n].weight) for n in ("car", "van", "apron bus", "fuel truck", "KamAZ truck")]
DISTRACTORS = [
    ("building", 3.0),
    ("hangar", 1.0),
    ("fuel tank", 1.0),
    ("container", 1.5),
    ("mast", 1.5),
    ("tent", 0.7),
    ("greenhouse", 0.8),
    ("shelter", 0.4),
    ("revetment", 0.5),
    ("sun shade", 0.3),
    ("cart train", 1.0),
    ("jet bridge", 0.6),
]

# probability of the non-nominal state when a type has one
STATE_P = {"transport": 0.45, "helicopter": 0.35, "sam": 0.45}


@dataclass
class Label:
    type: str
    cls: str
    state: str | None
    x: float
    y: float
    heading: float
    length: float
    width: float
    ref_height: float
    variant: int = 0  # cached_model variant (a twin render rebuilds it in the other state)
    object_index: int = -1  # its entry in ChipWorld.objects


@dataclass
class ChipWorld:
    extent: float
    ground: GroundLayout
    objects: list[Placed] = field(default_factory=list)
    labels: list[Label] = field(default_factory=list)
    discs: list[tuple[float, float, float]] = field(default_factory=list)


def _pick(rng: np.random.Generator, options: list[tuple[str, float]]) -> str:
    """Weighted choice (rng.choice with p= is several times slower for short lists)."""
    total = 0.0
    for _, w in options:
        total += w
    u = rng.random() * total
    for name, w in options:
        u -= w
        if u < 0:
            return name
    return options[-1][0]


class Builder:
    def __init__(self, rng: np.random.Generator, extent: float) -> None:
        self.rng = rng
        self.extent = extent
        self.world = ChipWorld(extent, GroundLayout())

    # -- objects ------------------------------------------------------------------------------
    def free(self, x: float, y: float, r: float) -> bool:
        return all((x - ox) ** 2 + (y - oy) ** 2 >= (r + orad) ** 2 for ox, oy, orad in self.world.discs)

    def put(
        self,
        type_name: str,
        x: float,
        y: float,
        heading: float,
        state: str | bool | None = False,
        *,
        check: bool = True,
        pad: float = 0.0,
    ) -> bool:
        """Place an object; ``state=False`` draws the state at random. Returns False if it
        would overlap something already placed."""
        t = TYPES[type_name]
        rng = self.rng
        if state is False:
            state = None
            if t.states and rng.random() < STATE_P.get(t.cls or "", 0.0):
                state = t.states[0]
        elif state is not None and state not in t.states:
            state = None
        variant = int(rng.integers(VARIANTS))
        model, L, W = cached_model(type_name, state, variant)  # type: ignore[arg-type]
        r = 0.5 * max(L, W) * 0.85 + pad
        if t.kind == "heli":
            r = max(r, 0.5 * TYPES[type_name].params.rotor * 0.8)  # type: ignore[union-attr]
        if check and not self.free(x, y, r):
            return False
        self.world.discs.append((x, y, r))
        # unlabelled structures skip self-shadowing in chips (it is their most expensive and
        # least visible detail)
        self.world.objects.append(
            Placed(model, scheme_for(type_name, rng), x, y, heading % 360.0, self_shadow=t.cls is not None)
        )
        if t.cls is not None:
            self.world.labels.append(
                Label(
                    type_name,
                    t.cls,
                    state,
                    x,
                    y,
                    heading % 360.0,
                    L,
                    W,  # type: ignore[arg-type]
                    t.ref_height,
                    variant,
                    len(self.world.objects) - 1,
                )
            )
        return True

    def scatter(
        self,
        options: list[tuple[str, float]],
        n: int,
        *,
        margin: float = 0.0,
        aligned: float | None = None,
        tries: int = 6,
    ) -> int:
        placed = 0
        for _ in range(n):
            for _ in range(tries):
                x = self.rng.uniform(-margin, self.extent + margin)
                y = self.rng.uniform(-margin, self.extent + margin)
                hd = (
                    self.rng.uniform(0, 360)
                    if aligned is None
                    else aligned + self.rng.choice([0, 90, 180, 270])
                )
                if self.put(_pick(self.rng, options), x, y, hd):
                    placed += 1
                    break
        return placed

    def row(
        self,
        options: list[tuple[str, float]],
        start: np.ndarray,
        step: np.ndarray,
        n: int,
        heading: float,
        fill: float = 0.85,
        state: str | bool | None = False,
        gse: list[tuple[str, float]] | None = None,
        gse_p: float = 0.5,
    ) -> None:
        f = np.array([math.sin(math.radians(heading)), math.cos(math.radians(heading))])
        r = np.array([f[1], -f[0]])
        for i in range(n):
            if self.rng.random() > fill:
                continue
            p = start + i * step + self.rng.normal(0, 0.5, 2)
            name = _pick(self.rng, options)
            if not self.put(name, p[0], p[1], heading + self.rng.normal(0, 2.0), state):
                continue
            if gse and self.rng.random() < gse_p:
                L = TYPES[name].params.length if TYPES[name].kind == "fixed" else 15.0  # type: ignore[union-attr]
                for _ in range(int(self.rng.integers(1, 4))):
                    off = f * self.rng.uniform(-L * 0.45, L * 0.55) + r * self.rng.choice(
                        [-1, 1]
                    ) * self.rng.uniform(4, L * 0.45)
                    q = p + off
                    self.put(
                        _pick(self.rng, gse),
                        q[0],
                        q[1],
                        heading + self.rng.choice([0, 90, 180, 270]) + self.rng.normal(0, 10),
                    )

    # -- ground -------------------------------------------------------------------------------
    def base(self, material: str) -> None:
        self.world.ground.base = MAT[material]

    def band(
        self,
        material: str,
        p0: np.ndarray,
        p1: np.ndarray,
        width: float,
        edge: str | None = None,
        centre: str | None = None,
    ) -> None:
        g = self.world.ground
        if edge:
            g.line(edge, np.array([p0, p1]), width + 8.0)
        g.line(material, np.array([p0, p1]), width)
        if centre:
            g.line(centre, np.array([p0, p1]), 0.3)

    def patch(
        self, material: str, cx: float, cy: float, w: float, h: float, angle: float, irregular: bool = True
    ) -> None:
        n = 14 if irregular else 4
        if irregular:
            a = np.linspace(0, 2 * np.pi, n, endpoint=False) + self.rng.uniform(0, 0.3, n)
            rr = np.convolve(np.tile(self.rng.uniform(0.6, 1.0, n), 3), np.ones(3) / 3, "same")[n : 2 * n]
            px, py = rr * np.cos(a) * w / 2, rr * np.sin(a) * h / 2
        else:
            px = np.array([-w, w, w, -w]) / 2
            py = np.array([-h, -h, h, h]) / 2
        ca, sa = math.cos(angle), math.sin(angle)
        self.world.ground.polygon(material, np.column_stack([cx + px * ca - py * sa, cy + px * sa + py * ca]))

    def stains(self, n: int) -> None:
        """Oil and rubber stains: soft, irregular, moderately darker than the pavement."""
        for _ in range(n):
            self.patch(
                "stain",
                self.rng.uniform(0, self.extent),
                self.rng.uniform(0, self.extent),
                self.rng.uniform(2, 14),
                self.rng.uniform(1.5, 9),
                self.rng.uniform(0, np.pi),
            )

    def zones(self, n: int, angle: float, base: str) -> None:
        """Pavement laid at different times: large rectangles of a slightly different surface."""
        options = {
            "concrete": ["concrete_light", "concrete_plain", "asphalt_old"],
            "concrete_light": ["concrete", "concrete_plain"],
            "asphalt_old": ["asphalt", "concrete_plain", "concrete"],
        }.get(base, ["concrete", "concrete_plain"])
        for _ in range(n):
            self.patch(
                options[int(self.rng.integers(len(options)))],
                *self.rng.uniform(0, self.extent, 2),
                *self.rng.uniform(25, 160, 2),
                math.radians(90 - angle),
                irregular=False,
            )

    def tracks(self, n: int) -> None:
        """Tyre tracks: wide, slightly darker arcs where aircraft and tugs turn."""
        g = self.world.ground
        for _ in range(n):
            c = self.rng.uniform(0, self.extent, 2)
            r = self.rng.uniform(20, 90)
            a0 = self.rng.uniform(0, 2 * np.pi)
            arc = np.linspace(a0, a0 + self.rng.uniform(0.4, 1.6), 16)
            g.line(
                "tyre",
                np.column_stack([c[0] + r * np.cos(arc), c[1] + r * np.sin(arc)]),
                float(self.rng.uniform(1.0, 4.0)),
            )

    def markings(self, n: int, angle: float) -> None:
        """Taxi lines, stand lead-ins, safety lines: straight runs and arcs in paint."""
        g = self.world.ground
        for _ in range(n):
            c = self.rng.uniform(0, self.extent, 2)
            kind = self.rng.random()
            colour = (
                "paint_yellow"
                if self.rng.random() < 0.7
                else ("paint_white" if self.rng.random() < 0.6 else "paint_red")
            )
            if kind < 0.5:
                a = math.radians(angle + self.rng.choice([0, 90]) + self.rng.normal(0, 1))
                d = np.array([math.sin(a), math.cos(a)]) * self.rng.uniform(20, self.extent)
                g.line(colour, np.array([c - d / 2, c + d / 2]), self.rng.uniform(0.15, 0.5))
            else:
                r = self.rng.uniform(15, 80)
                a0 = self.rng.uniform(0, 2 * np.pi)
                arc = np.linspace(a0, a0 + self.rng.uniform(0.5, 2.0), 16)
                g.line(
                    colour,
                    np.column_stack([c[0] + r * np.cos(arc), c[1] + r * np.sin(arc)]),
                    self.rng.uniform(0.15, 0.4),
                )


def _dir(a: float) -> np.ndarray:
    return np.array([math.sin(math.radians(a)), math.cos(math.radians(a))])


STUDY_TRANSPORT = [("An-124", 6.0), *TRANSPORT]


def _groves(b: Builder, rng: np.random.Generator, angle: float) -> None:
    """One to three planted groves (rows of crowns, some gaps, a little jitter), lone trees,
    and in half the chips a pad with helicopters (and trucks about) placed first, so the trees
    keep clear of them."""
    E = b.extent
    pad, side = np.array([-1e9, -1e9]), 0.0
    if rng.random() < 0.5:
        pad = rng.uniform(0.2 * E, 0.8 * E, 2)
        side = float(rng.uniform(40, 80))
        b.patch("concrete_plain" if rng.random() < 0.6 else "asphalt_old", *pad, side, side,
                math.radians(angle), irregular=False)
        # helicopters, half of them dismantled (a fuselage without its rotors is a dark,
        # crown-sized blob too: the trees must not teach the detector to drop it), and trucks
        for _ in range(int(rng.integers(1, 4))):
            x, y = pad + rng.uniform(-0.4 * side, 0.4 * side, 2)
            b.put(_pick(rng, HELI), float(x), float(y), angle + float(rng.choice([0, 90, 180, 270])),
                  "dismantled" if rng.random() < 0.5 else None)
        b.scatter(MIL_VEHICLES, int(rng.integers(0, 4)), aligned=angle)
    labelled = list(b.world.discs)
    for _ in range(int(rng.integers(1, 4))):
        g_angle = angle + float(rng.normal(0, 5)) if rng.random() < 0.7 else float(rng.uniform(0, 180))
        f, r = _dir(g_angle), _dir(g_angle + 90)
        c = rng.uniform(0, E, 2)
        half = rng.uniform(25, 0.5 * E, 2)
        spacing = float(rng.uniform(5.0, 9.0))
        fill = float(rng.uniform(0.7, 0.97))
        for u in np.arange(-half[0], half[0], spacing):
            for v in np.arange(-half[1], half[1], spacing * float(rng.uniform(0.9, 1.2))):
                if rng.random() > fill:
                    continue
                p = c + f * u + r * v + rng.normal(0, spacing * 0.06, 2)
                if not (-10 <= p[0] <= E + 10 and -10 <= p[1] <= E + 10):
                    continue
                if np.abs(p - pad).max() < 0.75 * side:
                    continue  # no trees on the pad
                if any((p[0] - x) ** 2 + (p[1] - y) ** 2 < (rad + 3.0) ** 2 for x, y, rad in labelled):
                    continue
                b.put("tree", float(p[0]), float(p[1]), float(rng.uniform(0, 360)), None, check=False)
    for _ in range(int(rng.integers(0, 12))):
        x, y = rng.uniform(0, E, 2)
        if b.free(float(x), float(y), 5.0):
            b.put("tree", float(x), float(y), float(rng.uniform(0, 360)), None)


def _rooftops(b: Builder, rng: np.random.Generator, angle: float) -> None:
    """Blocks along a street grid: tall ones with rows of roof plant, low ones, a few trucks."""
    E = b.extent
    f, r = _dir(angle), _dir(angle + 90)
    pitch = float(rng.uniform(45, 80))
    for u in np.arange(-E, E, pitch):
        b.band("asphalt", np.array([E / 2, E / 2]) + r * u - f * E, np.array([E / 2, E / 2]) + r * u + f * E,
               float(rng.uniform(8, 14)))
    for _ in range(int(rng.integers(3, 9))):
        x, y = rng.uniform(0, E, 2)
        kind = "tower block" if rng.random() < 0.6 else "building"
        b.put(kind, float(x), float(y), angle + float(rng.choice([0, 90, 180, 270])), None)
    b.scatter(MIL_VEHICLES + CIVIL_VEHICLES, int(rng.integers(0, 6)), aligned=angle)


def _state_study(b: Builder, rng: np.random.Generator, centre: np.ndarray, f: np.ndarray,
                 r: np.ndarray, angle: float) -> None:
    E = b.extent
    family = rng.random()
    if family < 0.45:
        options, pitch = STUDY_TRANSPORT, float(rng.uniform(70, 95))
    elif family < 0.75:
        options, pitch = HELI, float(rng.uniform(26, 45))
    else:
        options, pitch = SAM, float(rng.uniform(16, 30))
    for k in range(int(rng.integers(1, 3))):
        n = int(E / pitch) + 2
        start = centre - r * (n / 2) * pitch + f * (k - 0.5) * rng.uniform(pitch * 0.8, pitch * 1.3)
        hd = angle + (rng.choice([0, 180]) if options is not STUDY_TRANSPORT else 0.0)
        for i in range(n):
            if rng.random() > 0.85:
                continue
            p = start + r * i * pitch + rng.normal(0, 0.5, 2)
            name = _pick(rng, options)
            states = TYPES[name].states
            st = states[0] if states and rng.random() < 0.5 else None  # half non-nominal
            if b.put(name, p[0], p[1], hd + rng.normal(0, 3.0), st) and \
                    options is STUDY_TRANSPORT and rng.random() < 0.5:
                q = p + f * rng.uniform(30, 45) + r * rng.normal(0, 4)  # loading vehicles at the nose
                b.put(_pick(rng, MIL_VEHICLES), q[0], q[1], hd + rng.choice([0, 90, 180, 270]))
    b.scatter(MIL_VEHICLES, int(rng.integers(1, 8)))
    b.scatter(DISTRACTORS, int(rng.integers(0, 3)), aligned=angle)


def build_chip_world(rng: np.random.Generator, extent: float, theme: str) -> ChipWorld:
    b = Builder(rng, extent)
    E = extent
    angle = float(rng.uniform(0, 360))  # layout orientation of this patch of airfield
    b.world.ground.slab_angle = angle
    b.world.ground.slab_size = (float(rng.uniform(4, 8)), float(rng.uniform(4, 8)))
    b.world.ground.slab_tone = float(rng.uniform(0.0, 0.05))
    b.world.ground.joint_dark = float(rng.uniform(0.8, 0.97))
    b.world.ground.seed = int(rng.integers(1 << 30))
    f, r = _dir(angle), _dir(angle + 90)
    centre = np.array([E / 2, E / 2])
    if theme in ("civil_apron", "military_apron", "helipads", "mixed", "negative", "state_study"):
        base = (
            "concrete" if rng.random() < 0.55 else ("concrete_light" if rng.random() < 0.5 else "asphalt_old")
        )
        b.base(base)
        b.zones(int(rng.integers(0, 4)), angle, base)
        b.tracks(int(rng.integers(0, 6)))
        if rng.random() < 0.5:
            # a taxiway or a grass strip crossing the patch
            off = r * rng.uniform(-E / 2, E / 2)
            mat = "asphalt" if rng.random() < 0.6 else "concrete_plain"
            b.band(
                mat,
                centre + off - f * E,
                centre + off + f * E,
                float(rng.uniform(18, 30)),
                edge="shoulder",
                centre="paint_yellow",
            )
        for _ in range(int(rng.integers(0, 3))):
            b.patch(
                "grass" if rng.random() < 0.5 else "scrub",
                *rng.uniform(0, E, 2),
                *rng.uniform(20, 120, 2),
                math.radians(angle),
                irregular=rng.random() < 0.4,
            )
        b.stains(int(rng.integers(0, 14)))
        b.markings(int(rng.integers(2, 14)), angle)
    else:
        b.base(str(rng.choice(["soil", "sand", "scrub", "gravel", "dark_soil"])))
        for _ in range(int(rng.integers(2, 7))):
            b.patch(
                str(rng.choice(["scrub", "grass", "soil", "sand", "gravel", "dark_soil"])),
                *rng.uniform(0, E, 2),
                *rng.uniform(30, 200, 2),
                rng.uniform(0, np.pi),
            )
    gsd_scale = E / 200.0

    if theme == "civil_apron":
        # a terminal edge with jet bridges, a row of nose-in airliners, more aircraft taxiing
        edge = centre + f * rng.uniform(E * 0.2, E * 0.6)
        if rng.random() < 0.6:
            b.put("building", *(edge + f * 45), angle + 90, None, check=False)
        pitch = float(rng.uniform(42, 75))
        n = int(E / pitch) + 2
        start = edge - f * rng.uniform(25, 40) - r * (n / 2) * pitch
        heading = angle
        for i in range(n):
            p = start + r * i * pitch
            if rng.random() < 0.15:
                continue
            name = _pick(rng, CIVIL)
            if b.put(name, p[0], p[1], heading + rng.normal(0, 1.5)):
                if rng.random() < 0.6:
                    rot = p + f * 34 - r * 9
                    v = (p + f * 13 - r * 2.5) - rot
                    b.put(
                        "jet bridge", rot[0], rot[1], math.degrees(math.atan2(v[0], v[1])), None, check=False
                    )
                for _ in range(int(rng.integers(0, 4))):
                    q = p + f * rng.uniform(-18, 18) + r * rng.choice([-1, 1]) * rng.uniform(5, 18)
                    b.put(
                        _pick(rng, GSE), q[0], q[1], angle + rng.choice([0, 90, 180, 270]) + rng.normal(0, 8)
                    )
        b.scatter(CIVIL, int(rng.integers(0, 3)))
        b.scatter([*GSE, ("cart train", 1.5)], int(rng.integers(3, 14)) + int(6 * gsd_scale))
        b.scatter(DISTRACTORS, int(rng.integers(0, 4)), aligned=angle)
    elif theme == "military_apron":
        pitch_t = float(rng.uniform(45, 80))
        n = int(E / pitch_t) + 2
        start = centre - r * (n / 2) * pitch_t + f * rng.uniform(-E / 4, E / 4)
        kind = rng.random()
        if kind < 0.4:
            b.row(TRANSPORT, start, r * pitch_t, n, angle, fill=0.85, gse=MIL_VEHICLES, gse_p=0.4)
        elif kind < 0.8:
            pitch = float(rng.uniform(25, 45))
            n2 = int(E / pitch) + 2
            s2 = centre - r * (n2 / 2) * pitch + f * rng.uniform(-E / 4, E / 4)
            rev = rng.random() < 0.4
            for i in range(n2):
                p = s2 + r * i * pitch
                if rev and rng.random() < 0.9:
                    b.put("revetment", p[0], p[1], angle, None, check=False)
                if rng.random() < 0.85:
                    b.put(_pick(rng, FIGHTER), p[0], p[1], angle + rng.normal(0, 2), check=False)
            if rng.random() < 0.5:
                b.row(FIGHTER, s2 - f * 40, r * pitch, n2, angle + 180, fill=0.7)
        else:
            b.row(TRANSPORT + FIGHTER, start, r * pitch_t, n, angle, fill=0.8)
        if rng.random() < 0.4:
            b.scatter(HELI, int(rng.integers(1, 4)))
        b.scatter(MIL_VEHICLES, int(rng.integers(1, 10)))
        b.scatter(DISTRACTORS, int(rng.integers(0, 4)), aligned=angle)
    elif theme == "helipads":
        pitch = float(rng.uniform(26, 45))
        for k in range(int(rng.integers(1, 4))):
            n = int(E / pitch) + 2
            start = centre - r * (n / 2) * pitch + f * (k - 1) * rng.uniform(40, 70)
            hd = angle + rng.choice([0, 180])
            b.row(HELI, start, r * pitch, n, hd, fill=0.8)
        b.scatter(MIL_VEHICLES, int(rng.integers(1, 8)))
        b.scatter(DISTRACTORS, int(rng.integers(0, 3)), aligned=angle)
    elif theme == "sam_site":
        c = centre + rng.uniform(-E / 4, E / 4, 2)
        radar = _pick(rng, [("92N6E", 1.0), ("91N6E", 0.6), ("Pantsir-S1", 0.5)])
        packed = rng.random() < 0.4
        b.put(
            radar,
            c[0],
            c[1],
            rng.uniform(0, 360),
            "packed" if packed and radar in ("92N6E", "91N6E", "Pantsir-S1") else None,
        )
        rad = float(rng.uniform(35, 110))
        n = int(rng.integers(3, 9))
        for k in range(n):
            a = 360.0 * k / n + rng.normal(0, 8)
            p = c + _dir(a) * rad * rng.uniform(0.8, 1.2)
            st = "packed" if (packed and rng.random() < 0.8) or rng.random() < 0.15 else None
            b.put(_pick(rng, SAM), p[0], p[1], a + 180 + rng.normal(0, 20), st)
        if rng.random() < 0.6:
            p0 = c + _dir(angle) * E
            b.band(
                "asphalt_old" if rng.random() < 0.5 else "gravel",
                p0,
                c - _dir(angle) * E,
                float(rng.uniform(6, 10)),
            )
        b.scatter(MIL_VEHICLES, int(rng.integers(2, 10)))
        b.scatter(
            [("tent", 1.0), ("container", 1.0), ("building", 0.5)], int(rng.integers(0, 5)), aligned=angle
        )
    elif theme == "convoy":
        a = angle
        p0 = centre + r * rng.uniform(-E / 4, E / 4)
        b.band(
            "asphalt_old" if rng.random() < 0.6 else "asphalt",
            p0 - _dir(a) * E,
            p0 + _dir(a) * E,
            float(rng.uniform(7, 12)),
            edge="gravel" if rng.random() < 0.5 else None,
        )
        spacing = float(rng.uniform(12, 22))
        n = int(1.5 * E / spacing)
        for k in range(n):
            p = p0 + _dir(a) * (k - n / 2) * spacing + r * rng.normal(0, 0.4)
            if rng.random() < 0.85:
                options = MIL_VEHICLES + ([("S-400 TEL", 0.4), ("92N6E", 0.2)] if rng.random() < 0.5 else [])
                b.put(
                    _pick(rng, options),
                    p[0],
                    p[1],
                    a + rng.normal(0, 2),
                    "packed" if rng.random() < 0.8 else None,
                )
        b.scatter(DISTRACTORS + CIVIL_VEHICLES, int(rng.integers(2, 10)), aligned=angle)
    elif theme == "mixed":
        pool = CIVIL + TRANSPORT + FIGHTER + HELI + SAM
        b.scatter(pool, int(rng.integers(3, 12)))
        b.scatter(MIL_VEHICLES + GSE, int(rng.integers(2, 12)))
        b.scatter(DISTRACTORS, int(rng.integers(1, 8)), aligned=angle)
    elif theme == "state_study":
        _state_study(b, rng, centre, f, r, angle)
    elif theme == "grove":
        _groves(b, rng, angle)
    elif theme == "rooftops":
        _rooftops(b, rng, angle)
    elif theme == "negative":
        b.scatter(DISTRACTORS, int(rng.integers(6, 25)), aligned=angle if rng.random() < 0.7 else None)
    else:
        raise ValueError(f"unknown theme {theme!r}")
    return b.world
