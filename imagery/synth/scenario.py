"""Scenarios: who is where, in which state, on each date, and the posture events between dates.

A scenario fills the site's stands (a seeded draw of types per stand kind) and then scripts
changes over the N-1 transitions. Events are never written by hand: they are *derived* by
comparing consecutive dates, so the event list and the truth boxes cannot disagree.

Event kinds (DESIGN.md section 5): ``departed``, ``arrived``, ``nose_raised``, ``nose_lowered``,
``dismantled``, ``reassembled``, ``packed``, ``deployed``. Only posture objects (transport,
fighter, helicopter, airliner, sam) make events. Vehicles (trucks, convoys, ground support
equipment) do appear, move and leave between dates in ``withdrawal`` and ``reinforcement`` and
are in the truth boxes and the change mask (they are real pixel change), but they are listed
separately as ``vehicle_changes``, not as posture events: a truck driving off says little on its
own, and the change stage's event scoring should not hinge on counting trucks.

``steady`` changes nothing at all between dates: same objects, same stands, same states; only the
acquisition differs (sun, season tint, off-nadir lean, misregistration, radiometry).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from imagery.synth.catalog import TYPES
from imagery.synth.layout import Stand

POSTURE_CLASSES = ("transport", "fighter", "helicopter", "airliner", "sam")

# types drawn for each stand kind (name, weight)
STAND_TYPES: dict[str, list[tuple[str, float]]] = {
    "heavy": [("An-124", 1.0), ("Il-76MD", 1.2)],
    "transport": [
        ("Il-76MD", 1.5),
        ("An-26", 1.0),
        ("An-72", 0.7),
        ("An-148", 0.4),
        ("An-12", 0.4),
        ("Tu-154M", 0.4),
        ("Il-20M", 0.4),
    ],
    "fighter": [("Su-24M", 1.2), ("Su-34", 1.2), ("Su-35S", 1.0), ("Su-30SM", 0.8), ("Su-25", 0.8)],
    "helicopter": [("Ka-52", 1.0), ("Mi-8", 1.5), ("Mi-24", 1.0), ("Mi-28N", 0.6)],
    "airliner": [
        ("A320", 2.0),
        ("B737-800", 2.0),
        ("A321", 1.0),
        ("B737-700", 0.8),
        ("A319", 0.8),
        ("E190", 0.6),
        ("CRJ900", 0.4),
        ("ATR72", 0.5),
        ("SSJ-100", 0.3),
        ("A330-300", 0.4),
        ("B787-9", 0.2),
        ("Il-96", 0.1),
        ("Tu-204", 0.2),
        ("G650", 0.2),
    ],
    "sam_launcher": [("S-400 TEL", 4.0), ("S-400 TEL towed", 1.0)],
    "sam_radar": [("92N6E", 1.0), ("91N6E", 1.0)],
    "sam_pantsir": [("Pantsir-S1", 1.0)],
    "vehicle": [
        ("KamAZ truck", 2.0),
        ("Ural-4320", 1.5),
        ("fuel truck", 0.6),
        ("Tigr", 0.6),
        ("UAZ", 0.6),
        ("BTR-82A", 0.4),
    ],
}
CONVOY_TYPES = [
    ("KamAZ truck", 3.0),
    ("Ural-4320", 2.0),
    ("MAZ-537 lowboy", 0.6),
    ("fuel truck", 0.5),
    ("Tigr", 0.5),
    ("UAZ", 0.4),
]


@dataclass
class Pose:
    x: float
    y: float
    heading: float
    state: str | None = None
    stand: int | None = None


@dataclass
class Track:
    """One object over all dates: ``poses[d]`` is None when it is not there on date ``d``."""

    object_id: str
    type: str
    cls: str
    seed: int
    poses: list[Pose | None]
    zone: str | None = None


@dataclass
class Timeline:
    n_dates: int
    tracks: list[Track] = field(default_factory=list)
    counters: dict[str, int] = field(default_factory=dict)

    def new(self, type_name: str, seed: int, zone: str | None = None) -> Track:
        cls = TYPES[type_name].cls
        assert cls is not None
        n = self.counters.get(cls, 0) + 1
        self.counters[cls] = n
        t = Track(f"{cls}-{n:03d}", type_name, cls, seed, [None] * self.n_dates, zone)
        self.tracks.append(t)
        return t

    def at(self, d: int) -> list[tuple[Track, Pose]]:
        return [(t, t.poses[d]) for t in self.tracks if t.poses[d] is not None]  # type: ignore[misc]


def _pick(rng: np.random.Generator, options: list[tuple[str, float]]) -> str:
    names = [n for n, _ in options]
    w = np.array([w for _, w in options], dtype=np.float64)
    return names[int(rng.choice(len(names), p=w / w.sum()))]


def _shuffled(rng: np.random.Generator, items: list) -> list:  # type: ignore[type-arg]
    return [items[i] for i in rng.permutation(len(items))]


def _forward(heading: float) -> np.ndarray:
    h = math.radians(heading)
    return np.array([math.sin(h), math.cos(h)])


def _right(heading: float) -> np.ndarray:
    h = math.radians(heading)
    return np.array([math.cos(h), -math.sin(h)])


# --------------------------------------------------------------------------------------------
# Baseline population
# --------------------------------------------------------------------------------------------


def populate(
    tl: Timeline,
    stand_list: list[Stand],
    fills: list[float],
    rng: np.random.Generator,
    *,
    force: dict[int, str] | None = None,
    exclude: frozenset[str] = frozenset(),
) -> dict[int, Track]:
    """Fill stands on every date (a static baseline); ``force`` sets a stand's type, ``exclude``
    keeps types out of the random draws (the scripted scenarios want exactly two An-124s)."""
    force = force or {}
    by_stand: dict[int, Track] = {}
    radar_seen = 0
    for st, fill in zip(stand_list, fills, strict=True):
        if st.index in force:
            type_name = force[st.index]
        else:
            if rng.random() > fill:
                continue
            if st.kind == "sam_radar":
                type_name = ("92N6E", "91N6E")[radar_seen % 2]
                radar_seen += 1
            elif st.kind == "gse":
                continue
            else:
                options = [(n, w) for n, w in STAND_TYPES[st.kind] if n not in exclude]
                type_name = _pick(rng, options or STAND_TYPES[st.kind])
        tr = tl.new(type_name, int(rng.integers(1 << 31)), st.zone)
        jitter = rng.normal(0.0, 0.6, size=2) if st.kind not in ("sam_launcher", "sam_radar") else np.zeros(2)
        hd = (st.heading + rng.normal(0.0, 1.5)) % 360.0
        for d in range(tl.n_dates):
            tr.poses[d] = Pose(st.x + jitter[0], st.y + jitter[1], hd, None, st.index)
        by_stand[st.index] = tr
    return by_stand


def add_ground_support(tl: Timeline, rng: np.random.Generator) -> None:
    """Tugs, belt loaders, catering trucks, buses around airliners and a few fuel trucks and tugs
    at military stands: static clutter present on every date its aircraft is."""
    for tr in list(tl.tracks):
        if tr.cls not in ("airliner", "transport", "fighter"):
            continue
        p0 = next((p for p in tr.poses if p is not None), None)
        if p0 is None or any(p is not None and (p.x, p.y) != (p0.x, p0.y) for p in tr.poses):
            continue
        L = TYPES[tr.type].params.length if TYPES[tr.type].kind == "fixed" else 20.0  # type: ignore[union-attr]
        f, r = _forward(p0.heading), _right(p0.heading)
        c = np.array([p0.x, p0.y])
        picks: list[tuple[str, np.ndarray, float]] = []
        if tr.cls == "airliner":
            if rng.random() < 0.6:
                picks.append(("pushback tug", c + f * (L / 2 + 4.5), p0.heading + 180))
            if rng.random() < 0.6:
                picks.append(
                    ("belt loader", c + f * (L * 0.25) + r * 4.0, p0.heading + 90 + rng.normal(0, 8))
                )
            if rng.random() < 0.5:
                picks.append(("catering truck", c - f * (L * 0.3) + r * 5.0, p0.heading + 90))
            if rng.random() < 0.4:
                picks.append(("fuel truck", c + r * (L * 0.35) - f * 3.0, p0.heading + rng.choice([0, 180])))
            if rng.random() < 0.3:
                picks.append(("apron bus", c - r * (L * 0.45) + f * 3.0, p0.heading + 90))
            if rng.random() < 0.5:
                picks.append(("tug", c - f * (L * 0.15) + r * 9.0, p0.heading + rng.uniform(0, 360)))
        else:
            if rng.random() < 0.25:
                picks.append(("fuel truck", c + r * (L * 0.4 + 3) + f * rng.uniform(-5, 5), p0.heading + 180))
            if rng.random() < 0.2:
                picks.append(("tug", c + f * (L / 2 + 3.5), p0.heading))
            if rng.random() < 0.2:
                picks.append(("UAZ", c - r * (L * 0.4 + 4) + f * rng.uniform(-5, 5), p0.heading + 90))
        for type_name, pos, hd in picks:
            v = tl.new(type_name, int(rng.integers(1 << 31)), tr.zone)
            for d in range(tl.n_dates):
                if tr.poses[d] is not None:
                    v.poses[d] = Pose(float(pos[0]), float(pos[1]), float(hd) % 360.0)


# --------------------------------------------------------------------------------------------
# Scripted changes
# --------------------------------------------------------------------------------------------


def _set_from(tr: Track, d: int, **changes: object) -> None:
    """Apply a change to dates d.. (the change persists)."""
    for k in range(d, len(tr.poses)):
        p = tr.poses[k]
        if p is None:
            continue
        tr.poses[k] = Pose(**{**p.__dict__, **changes})  # type: ignore[arg-type]


def _remove_from(tr: Track, d: int) -> None:
    for k in range(d, len(tr.poses)):
        tr.poses[k] = None


def _absent_before(tr: Track, d: int) -> None:
    for k in range(0, d):
        tr.poses[k] = None


def _present(
    tl: Timeline,
    d: int,
    cls: str | None = None,
    type_name: str | None = None,
    state: str | bool | None = False,
) -> list[Track]:
    out = []
    for t in tl.tracks:
        p = t.poses[d]
        if p is None:
            continue
        if cls is not None and t.cls != cls:
            continue
        if type_name is not None and t.type != type_name:
            continue
        if state is not False and p.state != state:
            continue
        out.append(t)
    return out


def _loading_trucks(tl: Timeline, aircraft: Track, d_from: int, d_to: int, rng: np.random.Generator) -> None:
    """Trucks queued at the open nose of a transport from date d_from to d_to (exclusive)."""
    p = aircraft.poses[d_from]
    if p is None:
        return
    L = TYPES[aircraft.type].params.length  # type: ignore[union-attr]
    f, r = _forward(p.heading), _right(p.heading)
    c = np.array([p.x, p.y]) + f * (L / 2 + 11.0)
    for k in range(int(rng.integers(2, 5))):
        pos = c + f * (k * 10.5) + r * rng.normal(0, 1.2)
        v = tl.new(_pick(rng, CONVOY_TYPES[:2]), int(rng.integers(1 << 31)), aircraft.zone)
        for d in range(d_from, d_to):
            v.poses[d] = Pose(float(pos[0]), float(pos[1]), (p.heading + 180 + rng.normal(0, 4)) % 360.0)


def _convoy(
    tl: Timeline,
    route: np.ndarray,
    d_from: int,
    d_to: int,
    n: int,
    rng: np.random.Generator,
    zone: str | None,
) -> None:
    """A column of vehicles along a route polyline (map metres), 14-18 m apart."""
    seg = np.diff(route, axis=0)
    seglen = np.hypot(seg[:, 0], seg[:, 1])
    total = float(seglen.sum())
    start = rng.uniform(0.05, 0.4) * total
    spacing = rng.uniform(14.0, 19.0)
    for k in range(n):
        s = start + k * spacing
        if s >= total:
            break
        i = int(np.searchsorted(np.cumsum(seglen), s))
        i = min(i, len(seglen) - 1)
        s0 = float(np.cumsum(seglen)[i] - seglen[i])
        t = (s - s0) / seglen[i]
        pos = route[i] + t * seg[i]
        hd = math.degrees(math.atan2(seg[i][0], seg[i][1])) + 180.0  # driving back along the route
        v = tl.new(_pick(rng, CONVOY_TYPES), int(rng.integers(1 << 31)), zone)
        for d in range(d_from, d_to):
            v.poses[d] = Pose(
                float(pos[0] + rng.normal(0, 0.3)), float(pos[1]), (hd + rng.normal(0, 2)) % 360.0
            )


def _phases(n_transitions: int, names: list[str]) -> list[list[str]]:
    """Spread the scenario's phases over the transitions; a pair merges them into one."""
    if n_transitions == 1:
        return [names[1:2] if len(names) > 1 else names]
    out: list[list[str]] = [[] for _ in range(n_transitions)]
    for i, name in enumerate(names):
        out[min(i, n_transitions - 1)].append(name)
    return out


def script(
    scenario: str,
    tl: Timeline,
    by_stand: dict[int, Track],
    stand_list: list[Stand],
    routes: list[np.ndarray],
    rng: np.random.Generator,
) -> None:
    """Apply the scenario's changes to a populated timeline (in place)."""
    T = tl.n_dates - 1
    if scenario == "steady" or T == 0:
        return
    route = routes[0] if routes else None
    if scenario == "withdrawal":
        an124 = [t for t in tl.tracks if t.type == "An-124"]
        plan = _phases(T, ["arrive", "prepare", "depart", "load_out"])
        for k, phases in enumerate(plan):
            d = k + 1  # the first date showing the change
            for ph in phases:
                if ph == "arrive":
                    for t in an124:
                        _absent_before(t, d)
                    for t in _shuffled(rng, _present(tl, d, "transport"))[:1]:
                        if t.type != "An-124":
                            _absent_before(t, d)
                if ph == "prepare":
                    for t in an124:
                        _set_from(t, d, state="nose_raised")
                        _loading_trucks(tl, t, d, tl.n_dates, rng)
                    kas = _present(tl, d, "helicopter", "Ka-52", None)
                    others = [t for t in _present(tl, d, "helicopter", state=None) if t.type != "Ka-52"]
                    for t in kas[:1] + _shuffled(rng, others)[: int(rng.integers(0, 2))]:
                        _set_from(t, d, state="dismantled")
                    for t in _present(tl, d, "sam", state=None):
                        if t.type != "Pantsir-S1" or rng.random() < 0.5:
                            _set_from(t, d, state="packed")
                    fighters = _present(tl, d, "fighter")
                    for t in _shuffled(rng, fighters)[: int(rng.integers(2, 5))]:
                        _remove_from(t, d)
                    if route is not None:
                        _convoy(tl, route, d, tl.n_dates, int(rng.integers(8, 16)), rng, "west_road")
                if ph == "depart":
                    for t in _present(tl, d, "helicopter", state="dismantled"):
                        _remove_from(t, d)
                    pool = _present(tl, d, "fighter") + _present(tl, d, "helicopter", state=None)
                    for t in _shuffled(rng, pool)[: max(2, len(pool) // 3)]:
                        _remove_from(t, d)
                    for t in _present(tl, d, "sam", state="packed")[:3]:
                        _remove_from(t, d)
                    if an124:
                        _remove_from(an124[0], d)
                if ph == "load_out":
                    for t in _present(tl, d, "sam", state="packed"):
                        _remove_from(t, d)
                    for t in an124[1:]:
                        _remove_from(t, d)
                    pool = _present(tl, d, "fighter") + _present(tl, d, "transport")
                    for t in _shuffled(rng, pool)[: max(1, len(pool) // 3)]:
                        _remove_from(t, d)
    elif scenario == "reinforcement":
        an124 = [t for t in tl.tracks if t.type == "An-124"]
        empty_fighter = [s for s in stand_list if s.kind == "fighter" and s.index not in by_stand]
        empty_heli = [s for s in stand_list if s.kind == "helicopter" and s.index not in by_stand]
        plan = _phases(T, ["arrive", "unload", "deploy", "depart"])
        if T == 1:
            plan = [["unload", "deploy"]]
        # before the reinforcement: SAM still packed, some helicopters delivered dismantled,
        # the An-124s unloading (nose raised)
        for t in _present(tl, 0, "sam"):
            _set_from(t, 0, state="packed")
        helis = _present(tl, 0, "helicopter")
        delivered = _shuffled(rng, helis)[: min(2, len(helis))]
        for t in delivered:
            _set_from(t, 0, state="dismantled")
        for t in an124:
            _set_from(t, 0, state="nose_raised")
        for k, phases in enumerate(plan):
            d = k + 1
            for ph in phases:
                if ph == "arrive":
                    for t in an124:
                        _absent_before(t, d)
                    for t in delivered:
                        _absent_before(t, d)
                    for t in _present(tl, d, "sam"):
                        _absent_before(t, d)
                if ph == "unload":
                    n = int(rng.integers(3, 7))
                    for st in _shuffled(rng, empty_fighter)[:n]:
                        _arrive(tl, st, d, "fighter", rng)
                    for st in _shuffled(rng, empty_heli)[: int(rng.integers(1, 4))]:
                        _arrive(tl, st, d, "helicopter", rng)
                    for t in an124:
                        _set_from(t, d, state=None)
                    for t in delivered:
                        _set_from(t, d, state=None)
                if ph == "deploy":
                    for t in _present(tl, d, "sam", state="packed"):
                        _set_from(t, d, state=None)
                    if route is not None:
                        _convoy(tl, route, d, tl.n_dates, int(rng.integers(6, 12)), rng, "west_road")
                if ph == "depart":
                    for t in an124:
                        _remove_from(t, d)
    else:
        raise ValueError(scenario)


def _arrive(tl: Timeline, st: Stand, d: int, kind: str, rng: np.random.Generator) -> None:
    type_name = _pick(rng, STAND_TYPES[kind])
    t = tl.new(type_name, int(rng.integers(1 << 31)), st.zone)
    jitter = rng.normal(0.0, 0.6, size=2)
    heading = (st.heading + rng.normal(0, 1.5)) % 360.0
    for k in range(d, tl.n_dates):
        t.poses[k] = Pose(st.x + jitter[0], st.y + jitter[1], heading, None, st.index)


# --------------------------------------------------------------------------------------------
# Events
# --------------------------------------------------------------------------------------------

STATE_EVENTS = {
    (None, "nose_raised"): "nose_raised",
    ("nose_raised", None): "nose_lowered",
    (None, "dismantled"): "dismantled",
    ("dismantled", None): "reassembled",
    (None, "packed"): "packed",
    ("packed", None): "deployed",
}


@dataclass(frozen=True)
class Change:
    kind: str
    track: Track
    before: Pose | None
    after: Pose | None


def changes(tl: Timeline, d: int) -> tuple[list[Change], list[Change]]:
    """(posture events, vehicle changes) between date d and d + 1."""
    events: list[Change] = []
    vehicles: list[Change] = []
    for t in tl.tracks:
        a, b = t.poses[d], t.poses[d + 1]
        if a is None and b is None:
            continue
        out = events if t.cls in POSTURE_CLASSES else vehicles
        if a is not None and b is None:
            out.append(Change("departed", t, a, b))
        elif a is None and b is not None:
            out.append(Change("arrived", t, a, b))
        else:
            assert a is not None and b is not None
            if a.state != b.state:
                out.append(Change(STATE_EVENTS[(a.state, b.state)], t, a, b))
            elif (
                math.hypot(a.x - b.x, a.y - b.y) > 0.5 or abs(((a.heading - b.heading) + 180) % 360 - 180) > 2
            ):
                if out is events:  # scenarios move aircraft and SAM only by departing/arriving
                    raise AssertionError(f"{t.object_id} moved between dates {d} and {d + 1}")
                out.append(Change("moved", t, a, b))
    return events, vehicles
